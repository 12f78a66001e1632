"""Bounded time under failing dependencies: the invocation's deadline and retry schedules.

- `deadline_of(context)`: the handler states how long this invocation may still run (the
  Lambda context's remaining time); `has_time_for(calls)` tells slow work (a model load, a
  dead-letter write) whether `calls` AWS calls can finish before it, at their worst
  (modelops.aws.call_budget_seconds). Outside a handler there is no deadline.
- `RetrySchedule`: when a dependency may next be called: every `interval` seconds while it
  works, and after each consecutive failure exponentially later (capped), so an outage costs
  one timeout per step instead of one per request.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from modelops import aws
from modelops.errors import ModelOpsError

# What an unreachable, hanging or refusing AWS service raises (timeouts, refused or reset
# connections, 5xx after the client's retries, throttling).
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)

_deadline: ContextVar[float | None] = ContextVar("modelops_deadline", default=None)
# Kept in hand for the response itself (serialization, the handler's own log and metrics).
RESPONSE_RESERVE_SECONDS = 0.5


class RemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class DeadlineError(ModelOpsError):
    """Not enough time left in this invocation to start a dependency call."""


@contextmanager
def deadline_of(context: RemainingTime | Any) -> Iterator[None]:
    """Within the block, `remaining_seconds()` counts down to the invocation's timeout."""
    token = _deadline.set(_deadline_from(context))
    try:
        yield
    finally:
        _deadline.reset(token)


def _deadline_from(context: RemainingTime | Any) -> float:
    try:
        remaining_ms = float(context.get_remaining_time_in_millis())
    except (AttributeError, TypeError, ValueError):
        remaining_ms = math.inf  # a context without a deadline (a test's stand-in)
    return time.monotonic() + remaining_ms / 1000


def remaining_seconds() -> float:
    deadline = _deadline.get()
    return math.inf if deadline is None else deadline - time.monotonic()


def has_time_for(calls: int = 1) -> bool:
    """Whether `calls` sequential AWS calls, each at its worst, end before the deadline."""
    return remaining_seconds() - RESPONSE_RESERVE_SECONDS >= calls * aws.call_budget_seconds()


def ensure_time_for(what: str, calls: int = 1) -> None:
    if not has_time_for(calls):
        raise DeadlineError(
            f"{remaining_seconds():.1f} s left in this invocation: not enough to {what} "
            f"({calls} call(s) of up to {aws.call_budget_seconds():.1f} s each)"
        )


class RetrySchedule:
    """When a dependency may next be called.

    While it works: every `interval` seconds. After n consecutive failures: after
    min(cap, base * 2**(n-1)) seconds. `succeeded()`/`failed()` record each attempt.
    """

    def __init__(
        self,
        *,
        interval: float,
        base: float,
        cap: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if base <= 0 or cap < base or interval < 0:
            raise ValueError("need interval >= 0 and 0 < base <= cap")
        self.interval = interval
        self.base = base
        self.cap = cap
        self._clock = clock
        self._next = -math.inf
        self.failures = 0

    def due(self) -> bool:
        return self._clock() >= self._next

    def seconds_until_due(self) -> float:
        return max(0.0, self._next - self._clock())

    def delay(self, failures: int) -> float:
        """The wait after `failures` consecutive failures."""
        return min(self.cap, self.base * 2.0 ** min(failures - 1, 62))

    def succeeded(self) -> None:
        self.failures = 0
        self._next = self._clock() + self.interval

    def failed(self) -> None:
        self.failures += 1
        self._next = self._clock() + self.delay(self.failures)


def within_deadline[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """Decorates a Lambda handler(event, context): its dependency calls see the deadline."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # deadline_of without a context manager's frames: this runs on every request.
        context = args[1] if len(args) > 1 else kwargs.get("context")
        token = _deadline.set(_deadline_from(context))
        try:
            return handler(*args, **kwargs)
        finally:
            _deadline.reset(token)

    return wrapper
