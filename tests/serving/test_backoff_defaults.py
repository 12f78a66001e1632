"""The model cache's back-off with the defaults the functions use (docs/SERVING.md): after a
failed cold load the next attempt waits 1 s, doubling to 30 s; after n failed refreshes in a
row the next check waits min(300 s, max(MODEL_REFRESH_SECONDS, 1 s) x 2^(n-1)); with no
failure, nothing waits. Read through `seconds_until_retry`, and held on the wire: no
registry call before the wait is over, one when it is."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelops.errors import ModelUnavailableError
from modelops.registry import CHAMPION, ModelRegistry
from tests.models import publish_trained
from tests.serving.test_model_cache import CountingRegistry, Events, FakeClock, make_cache


@pytest.fixture
def counting_registry(s3: Any, bucket: str) -> CountingRegistry:
    return CountingRegistry(bucket, s3)


def unreadable_alias(s3: Any, bucket: str) -> bytes:
    """The champion alias made unreadable (not JSON); returns what it held."""
    key = ModelRegistry.alias_key("churn", CHAMPION)
    held: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=b"{")
    return held


def test_cold_start_retries_wait_1_s_doubling_to_30_s(
    counting_registry: CountingRegistry, s3: Any, bucket: str
) -> None:
    publish_trained(counting_registry, "binary")
    unreadable_alias(s3, bucket)
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events)  # the default cap
    assert cache.seconds_until_retry == 0.0
    for failures, wait in enumerate((1, 2, 4, 8, 16, 30, 30), start=1):
        with pytest.raises(ModelUnavailableError, match=f"next attempt in {wait} s"):
            cache.get()
        assert (cache.consecutive_failures, cache.seconds_until_retry) == (failures, wait)
        reads = counting_registry.alias_reads
        clock.now += wait - 0.001
        with pytest.raises(ModelUnavailableError):
            cache.get()
        assert counting_registry.alias_reads == reads  # still waiting: no registry call
        clock.now += 0.001
    assert cache.seconds_until_retry == 0.0  # due


@pytest.mark.parametrize(
    ("refresh_seconds", "waits"),
    [
        (60, (60, 120, 240, 300, 300)),  # capped at 300 s
        (0.5, (1, 2, 4, 8)),  # never less than 1 s at first
        (0, (1, 2, 4)),
    ],
)
def test_failed_refreshes_wait_min_300_s_and_the_doubled_refresh_interval(
    counting_registry: CountingRegistry,
    s3: Any,
    bucket: str,
    refresh_seconds: float,
    waits: tuple[float, ...],
) -> None:
    version = publish_trained(counting_registry, "binary")["version"]
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events, refresh_seconds=refresh_seconds)
    assert cache.get().version == version
    assert cache.seconds_until_retry == 0.0  # serving, no failure
    held = unreadable_alias(s3, bucket)
    clock.now += refresh_seconds
    for failures, wait in enumerate(waits, start=1):
        assert cache.get().version == version  # the failed check keeps the model serving
        assert (cache.consecutive_failures, cache.seconds_until_retry) == (failures, wait)
        reads = counting_registry.alias_reads
        clock.now += wait - 0.001
        assert cache.get().version == version
        assert counting_registry.alias_reads == reads
        clock.now += 0.001
    s3.put_object(Bucket=bucket, Key=ModelRegistry.alias_key("churn", CHAMPION), Body=held)
    assert cache.get().version == version
    assert (cache.consecutive_failures, cache.seconds_until_retry) == (0, 0.0)
    assert json.loads(held)["version"] == version
