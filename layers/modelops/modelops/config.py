"""Typed configuration read from the environment once, at cold start.

A missing or malformed variable raises ConfigurationError naming the variable, so a
misconfigured stack fails loudly on its first invocation instead of guessing. Only values
whose default is part of the public contract (docs/API.md) have one here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from modelops.errors import ConfigurationError

MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def env_str(name: str, env: Mapping[str, str] | None = None, *, default: str | None = None) -> str:
    source = os.environ if env is None else env
    value = source.get(name, "").strip()
    if value:
        return value
    if default is not None:
        return default
    raise ConfigurationError(f"environment variable {name} is required but not set")


def env_int(
    name: str,
    env: Mapping[str, str] | None = None,
    *,
    default: int | None = None,
    minimum: int | None = None,
) -> int:
    raw = env_str(name, env, default=None if default is None else str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {name} must be an integer, got {raw!r}"
        ) from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"environment variable {name} must be >= {minimum}, got {value}")
    return value


def env_float(
    name: str,
    env: Mapping[str, str] | None = None,
    *,
    default: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    raw = env_str(name, env, default=None if default is None else repr(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {name} must be a number, got {raw!r}"
        ) from None
    if (
        value != value
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise ConfigurationError(
            f"environment variable {name} must be between {minimum} and {maximum}, got {raw!r}"
        )
    return value


def env_choice(
    name: str,
    choices: tuple[str, ...],
    env: Mapping[str, str] | None = None,
    *,
    default: str | None = None,
) -> str:
    value = env_str(name, env, default=default)
    if value not in choices:
        raise ConfigurationError(
            f"environment variable {name} must be one of {', '.join(choices)}, got {value!r}"
        )
    return value


def validate_model_name(name: str) -> str:
    if not MODEL_NAME_PATTERN.match(name):
        raise ConfigurationError(
            f"model name {name!r} is invalid: use 1-63 lowercase letters, digits and '-', starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class StackSettings:
    """What every function of the stack needs: where the registry is and which model it serves."""

    bucket: str
    model_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackSettings:
        return cls(
            bucket=env_str("MODELOPS_BUCKET", env),
            model_name=validate_model_name(env_str("MODEL_NAME", env)),
        )
