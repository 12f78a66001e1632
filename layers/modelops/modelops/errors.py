"""Domain exceptions. Handlers map these to HTTP or Lambda errors in one place each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# An error response lists at most this many problems and counts the rest: a bad 6 MiB body
# can hold a million problems, and echoing them all costs the service far more than the
# client (an amplification a caller could use against it).
MAX_PROBLEM_DETAILS = 20
# Client text echoed in a problem (an unknown key, a bad value) is cut to this many characters.
MAX_ECHO_CHARS = 120


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
    # Where the value sits in the request as sent, when row and field do not say it alone
    # (MLflow's formats: "dataframe_split.data[3][1]").
    path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.row is not None:
            out["row"] = self.row
        if self.field is not None:
            out["field"] = echo(self.field)
        if self.path is not None:
            out["path"] = echo(self.path)
        out["problem"] = echo(self.problem, MAX_ECHO_CHARS * 2)
        return out


def echo(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """Client text fit to be echoed: at most `limit` characters, and lone UTF-16 surrogates
    (which no UTF-8 encoder accepts) written as their escapes."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class Problems:
    """A validator's problems: the first MAX_PROBLEM_DETAILS kept, every one counted, so
    memory stays bounded however many a request holds."""

    def __init__(self, problems: Iterable[Problem] = (), *, keep: int = MAX_PROBLEM_DETAILS):
        self.kept: list[Problem] = []
        self.total = 0
        self._keep = keep
        self.extend(problems)

    def append(self, problem: Problem) -> None:
        self.total += 1
        if len(self.kept) < self._keep:
            self.kept.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.append(problem)

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.kept)


@dataclass
class InvalidInput(ModelOpsError):  # noqa: N818 - the name is the public errorType of the contract
    """Client input failed validation; `problems` lists every problem found."""

    message: str
    problems: list[Problem] | Problems = field(default_factory=list)
    status_code: int = 400

    def __post_init__(self) -> None:
        collected = (
            self.problems if isinstance(self.problems, Problems) else Problems(self.problems)
        )
        # Only the listed problems are kept; problem_count says how many there were.
        self.problems = collected.kept
        self.problem_count = collected.total
        self.message = echo(self.message, MAX_ECHO_CHARS * 2)
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        listed = "; ".join(_describe(p) for p in self.problems)
        unlisted = self.problem_count - len(self.problems)
        more = f"; and {unlisted} more" if unlisted > 0 else ""
        return f"{self.message}: {listed}{more}"

    def details(self) -> list[dict[str, Any]]:
        """The first MAX_PROBLEM_DETAILS problems, ready to echo (problem_count has them all)."""
        return [p.as_dict() for p in self.problems]


def _describe(p: Problem) -> str:
    shown = p.as_dict()
    where = []
    if p.row is not None:
        where.append(f"row {p.row}")
    if p.field is not None:
        where.append(f"field {shown['field']!r}")
    if p.path is not None:
        where.append(f"at {shown['path']}")
    return f"{', '.join(where)}: {shown['problem']}" if where else shown["problem"]


class ModelNotFoundError(ModelOpsError):
    """The requested model, version or alias does not exist in the registry."""


class UnknownModelError(ModelNotFoundError):
    """The model has no published version at all (a misspelt or never-trained MODEL_NAME):
    there is nothing to monitor or serve, and no report is written for it."""


class NoChampionError(ModelNotFoundError):
    """No version of the model has been promoted to champion yet."""


class ModelUnavailableError(ModelOpsError):
    """The model exists but cannot be served now (it failed to load or verify); callers get 503."""


class DependencyUnavailableError(ModelUnavailableError):
    """An AWS dependency is unreachable or too slow and nothing was done; callers get 503 and
    may send the same request again."""


class CorruptObjectError(ModelOpsError):
    """An S3 object that cannot be read as what it is (a gzip stream that does not inflate);
    the message names it."""


class IntegrityError(ModelOpsError):
    """A registry object does not match its recorded sha256 (corrupted or tampered)."""


class StaleAliasError(ModelOpsError):
    """A compare-and-swap on an alias lost: someone changed it since it was read."""


class PromotionRejectedError(ModelOpsError):
    """The promotion gate refused to make a version champion."""


class RolloutError(ModelOpsError):
    """A challenger cannot be started or changed as asked (bad rule, wrong state)."""
