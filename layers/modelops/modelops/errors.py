"""Domain exceptions. Handlers map these to HTTP or Lambda errors in one place each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ModelOpsError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(ModelOpsError):
    """Required configuration (environment variables, parameters) is missing or invalid."""


@dataclass(frozen=True)
class Problem:
    """One problem with client input: where it is and what is wrong."""

    problem: str
    row: int | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.row is not None:
            out["row"] = self.row
        if self.field is not None:
            out["field"] = self.field
        out["problem"] = self.problem
        return out


@dataclass
class InvalidInput(ModelOpsError):  # noqa: N818 - the name is the public errorType of the contract
    """Client input failed validation; `problems` lists every problem found."""

    message: str
    problems: list[Problem] = field(default_factory=list)
    status_code: int = 400

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        listed = "; ".join(_describe(p) for p in self.problems[:20])
        more = f"; and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        return f"{self.message}: {listed}{more}"

    def details(self) -> list[dict[str, Any]]:
        return [p.as_dict() for p in self.problems]


def _describe(p: Problem) -> str:
    where = []
    if p.row is not None:
        where.append(f"row {p.row}")
    if p.field is not None:
        where.append(f"field {p.field!r}")
    return f"{', '.join(where)}: {p.problem}" if where else p.problem


class ModelNotFoundError(ModelOpsError):
    """The requested model, version or alias does not exist in the registry."""


class NoChampionError(ModelNotFoundError):
    """No version of the model has been promoted to champion yet."""


class ModelUnavailableError(ModelOpsError):
    """The model exists but cannot be served now (it failed to load or verify); callers get 503."""


class DependencyUnavailableError(ModelUnavailableError):
    """An AWS dependency is unreachable or too slow and nothing was done; callers get 503 and
    may send the same request again."""


class IntegrityError(ModelOpsError):
    """A registry object does not match its recorded sha256 (corrupted or tampered)."""


class StaleAliasError(ModelOpsError):
    """A compare-and-swap on an alias lost: someone changed it since it was read."""


class PromotionRejectedError(ModelOpsError):
    """The promotion gate refused to make a version champion."""
