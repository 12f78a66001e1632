"""A model load, cold or a warm refresh, starts only if the invocation's remaining time still
holds ONE worst-case call (docs/SERVING.md; docs/RELIABILITY.md "Failing dependencies"):
with time for one call it starts, with a little less it does not start at all (no registry
call, no failure counted, the warm model keeps serving). Client budget: 1 attempt of 10 s
+ 10 s = 20 s a call, beside the 0.5 s the response keeps: "enough" leaves the load itself
19 s of a real clock, and is still 1 s short of two calls."""

from __future__ import annotations

import time
from typing import Any

import pytest

from modelops import aws
from modelops.errors import ModelUnavailableError
from modelops.resilience import RESPONSE_RESERVE_SECONDS, deadline_of
from tests.models import publish_trained
from tests.serving.test_model_cache import CountingRegistry, Events, FakeClock, make_cache

ONE_CALL = 20.0


class Remaining:
    """A Lambda context with a fixed remaining time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


@pytest.fixture
def counting_registry(s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> CountingRegistry:
    monkeypatch.setenv("MODELOPS_AWS_CONNECT_TIMEOUT", "10")
    monkeypatch.setenv("MODELOPS_AWS_READ_TIMEOUT", "10")
    monkeypatch.setenv("MODELOPS_AWS_MAX_ATTEMPTS", "1")
    aws.reset_clients()
    assert aws.call_budget_seconds() == ONE_CALL
    return CountingRegistry(bucket, s3)


ENOUGH = RESPONSE_RESERVE_SECONDS + ONE_CALL + 19.0
TOO_LITTLE = RESPONSE_RESERVE_SECONDS + ONE_CALL - 0.3


def test_a_cold_load_starts_with_time_for_one_call_and_not_with_less(
    counting_registry: CountingRegistry,
) -> None:
    version = publish_trained(counting_registry, "binary")["version"]
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events)
    with deadline_of(Remaining(TOO_LITTLE)), pytest.raises(ModelUnavailableError, match="time"):
        cache.get()
    assert (counting_registry.alias_reads, events.failures) == (0, [])
    with deadline_of(Remaining(ENOUGH)):
        assert cache.get().version == version
    assert counting_registry.alias_reads == 1


def test_a_warm_refresh_starts_with_time_for_one_call_and_not_with_less(
    counting_registry: CountingRegistry,
) -> None:
    version = publish_trained(counting_registry, "binary")["version"]
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events, refresh_seconds=60)
    assert cache.get().version == version
    reads = counting_registry.alias_reads
    clock.now += 60  # the refresh is due
    with deadline_of(Remaining(TOO_LITTLE)):
        assert cache.get().version == version
    assert (counting_registry.alias_reads, events.failures) == (reads, [])
    with deadline_of(Remaining(ENOUGH)):
        assert cache.get().version == version
    assert (counting_registry.alias_reads, events.failures) == (reads + 1, [])


def test_the_load_time_is_the_time_the_load_took(counting_registry: CountingRegistry) -> None:
    """ModelLoadTime (docs/METRICS.md): metadata and model download, check, session build."""
    publish_trained(counting_registry, "binary")
    cache = make_cache(counting_registry, FakeClock(), Events())
    started = time.perf_counter()
    loaded = cache.get()
    took = time.perf_counter() - started
    assert 0.0 < loaded.load_seconds <= took
