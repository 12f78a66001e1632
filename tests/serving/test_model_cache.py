"""The served model: cold-start load, cheap refresh to a newly promoted version without a
restart, and a corrupted new version refused while the old one keeps serving."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from modelops.errors import IntegrityError, ModelUnavailableError, NoChampionError
from modelops.registry import CHAMPION, AliasState, ModelRegistry
from modelops.serving.model_cache import LoadedModel, ModelCache
from tests.models import publish_trained
from tests.serving.conftest import FakeLambdaContext, handler_of, load_event

Loader = Callable[..., ModuleType]


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingRegistry(ModelRegistry):
    """The real registry, counting alias reads and model downloads."""

    def __init__(self, bucket: str, s3_client: Any) -> None:
        super().__init__(bucket, s3_client=s3_client)
        self.alias_reads = 0
        self.model_downloads = 0

    def get_alias_if_changed(self, name: str, alias: str, etag: str | None) -> AliasState | None:
        self.alias_reads += 1
        return super().get_alias_if_changed(name, alias, etag)

    def get_model_bytes(self, name: str, version: int, *, expected_sha256: str) -> bytes:
        self.model_downloads += 1
        return super().get_model_bytes(name, version, expected_sha256=expected_sha256)


class Events:
    def __init__(self) -> None:
        self.loads: list[int] = []
        self.failures: list[tuple[int | None, type[BaseException]]] = []

    def on_load(self, loaded: LoadedModel) -> None:
        self.loads.append(loaded.version)

    def on_load_failure(self, version: int | None, exc: BaseException) -> None:
        self.failures.append((version, type(exc)))


@pytest.fixture
def counting_registry(s3: Any, bucket: str) -> CountingRegistry:
    return CountingRegistry(bucket, s3)


def make_cache(
    registry: ModelRegistry, clock: FakeClock, events: Events, **kwargs: Any
) -> ModelCache:
    options: dict[str, Any] = {"alias": CHAMPION, "pinned_version": None, "refresh_seconds": 60}
    options.update(kwargs)
    return ModelCache(
        registry,
        "churn",
        clock=clock,
        on_load=events.on_load,
        on_load_failure=events.on_load_failure,
        **options,
    )


def promote(registry: ModelRegistry, version: int) -> None:
    registry.set_alias(
        "churn", CHAMPION, version, expected=registry.get_alias("churn"), reason="test promotion"
    )


def corrupt_model(s3: Any, bucket: str, version: int) -> None:
    """Overwrite model.onnx behind the registry's back (bit rot, tampering)."""
    key = ModelRegistry.model_key("churn", version)
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))


def test_alias_is_checked_at_most_every_refresh_interval(
    counting_registry: CountingRegistry,
) -> None:
    v1 = publish_trained(counting_registry, "binary")["version"]
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events)
    assert cache.get().version == v1
    assert (counting_registry.alias_reads, events.loads) == (1, [v1])

    v2 = publish_trained(counting_registry, "binary")["version"]  # promoted to champion
    clock.now += 59
    assert cache.get().version == v1  # within the interval: no registry call at all
    assert counting_registry.alias_reads == 1

    clock.now += 1
    assert cache.get().version == v2  # refreshed without a restart
    assert (counting_registry.alias_reads, events.loads) == (2, [v1, v2])


def test_unchanged_alias_costs_one_conditional_get_and_no_download(
    counting_registry: CountingRegistry,
) -> None:
    publish_trained(counting_registry, "binary")
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events, refresh_seconds=0)
    first = cache.get()
    for _ in range(3):
        clock.now += 1
        assert cache.get() is first
    assert counting_registry.alias_reads == 4
    assert counting_registry.model_downloads == 1
    assert events.loads == [first.version]


def test_corrupted_new_version_is_refused_and_the_old_one_keeps_serving(
    counting_registry: CountingRegistry, s3: Any, bucket: str
) -> None:
    v1 = publish_trained(counting_registry, "binary")["version"]
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events, refresh_seconds=10)
    assert cache.get().version == v1

    v2 = publish_trained(counting_registry, "binary", promote=False)["version"]
    corrupt_model(s3, bucket, v2)
    promote(counting_registry, v2)
    clock.now += 10
    assert cache.get().version == v1
    assert events.failures == [(v2, IntegrityError)]
    clock.now += 10  # the change is seen again and retried, and refused again
    assert cache.get().version == v1
    assert events.failures == [(v2, IntegrityError), (v2, IntegrityError)]

    v3 = publish_trained(counting_registry, "binary")["version"]  # a good one is promoted
    clock.now += 10  # two failures in a row: the next check waits twice the interval
    assert cache.get().version == v1
    clock.now += 10
    assert cache.get().version == v3
    assert events.loads == [v1, v3]


def test_pinned_version_is_served_and_the_alias_never_read(
    counting_registry: CountingRegistry,
) -> None:
    v1 = publish_trained(counting_registry, "binary")["version"]
    publish_trained(counting_registry, "binary")
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events, pinned_version=v1, refresh_seconds=0)
    for _ in range(3):
        clock.now += 100
        assert cache.get().version == v1
    assert counting_registry.alias_reads == 0


def test_no_champion_and_unloadable_champion(
    counting_registry: CountingRegistry, s3: Any, bucket: str
) -> None:
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events)
    with pytest.raises(NoChampionError):
        cache.get()
    v1 = publish_trained(counting_registry, "binary", promote=False)["version"]
    corrupt_model(s3, bucket, v1)
    promote(counting_registry, v1)
    with pytest.raises(ModelUnavailableError, match=f"version {v1} could not be loaded"):
        cache.get()
    assert events.failures == [(v1, IntegrityError)]


def test_alias_read_failure_keeps_serving(
    counting_registry: CountingRegistry, s3: Any, bucket: str
) -> None:
    v1 = publish_trained(counting_registry, "binary")["version"]
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events, refresh_seconds=0)
    assert cache.get().version == v1
    s3.delete_object(Bucket=bucket, Key=ModelRegistry.alias_key("churn", CHAMPION))
    clock.now += 1
    assert cache.get().version == v1
    assert events.failures == [(None, NoChampionError)]


# ---- through the handler: no restart between versions ------------------------------------


def test_handler_serves_a_newly_promoted_version_without_a_restart(
    predict_handler: Loader, registry: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = publish_trained(registry, "binary")["version"]
    app = predict_handler(MODEL_REFRESH_SECONDS="0")
    handler = handler_of(app)
    event = load_event("predict_direct.json")
    assert handler(event, FakeLambdaContext())["model"]["version"] == v1
    v2 = publish_trained(registry, "binary")["version"]
    assert handler(event, FakeLambdaContext())["model"]["version"] == v2


def test_handler_counts_a_failed_refresh_and_keeps_serving(
    predict_handler: Loader,
    registry: ModelRegistry,
    s3: Any,
    bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    v1 = publish_trained(registry, "binary")["version"]
    app = predict_handler(MODEL_REFRESH_SECONDS="0")
    handler = handler_of(app)
    event = load_event("predict_api.json")
    assert json.loads(handler(event, FakeLambdaContext())["body"])["model"]["version"] == v1
    v2 = publish_trained(registry, "binary", promote=False)["version"]
    corrupt_model(s3, bucket, v2)
    promote(registry, v2)
    capsys.readouterr()
    response = handler(event, FakeLambdaContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["model"]["version"] == v1
    emf = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"_aws"')
    ]
    (failure,) = [m for m in emf if "ModelLoadFailures" in m]
    assert failure["ModelLoadFailures"] == [1.0]
    assert failure["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["ModelName"]]
