"""boto3 clients, built once per process and shared.

Every client honours the standard AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>)
variables natively, which is how local runs point the whole system at moto's server.
Callers that need another client (tests, other regions) pass their own instead.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30
)


@functools.cache
def client(service: str) -> Any:
    """A shared client for `service`, created on first use (at cold start, not per request)."""
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (after the environment's endpoint or credentials change)."""
    client.cache_clear()
