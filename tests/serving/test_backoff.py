"""Bounded time under failing dependencies, on moto: client timeouts and retry budgets that
fit the template's function timeouts, the invocation deadline, refresh back-off, and an
unreadable alias that keeps the old model serving."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from embedded_aws.template import function_environment, load_template, resolve
from modelops import aws, resilience
from modelops.errors import ModelUnavailableError
from modelops.registry import CHAMPION, ModelRegistry
from modelops.resilience import RetrySchedule, deadline_of, has_time_for
from tests.models import publish_trained
from tests.serving.conftest import FakeLambdaContext, api_event, handler_of
from tests.serving.test_model_cache import CountingRegistry, Events, FakeClock, make_cache


@pytest.fixture
def counting_registry(s3: Any, bucket: str) -> CountingRegistry:
    return CountingRegistry(bucket, s3)


class Remaining:
    """A Lambda context with a fixed remaining time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def set_client_env(monkeypatch: pytest.MonkeyPatch, connect: str, read: str, attempts: str) -> None:
    monkeypatch.setenv("MODELOPS_AWS_CONNECT_TIMEOUT", connect)
    monkeypatch.setenv("MODELOPS_AWS_READ_TIMEOUT", read)
    monkeypatch.setenv("MODELOPS_AWS_MAX_ATTEMPTS", attempts)
    aws.reset_clients()


# ---- clients, budgets, deadline -----------------------------------------------------------


def test_clients_take_timeouts_and_attempts_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_client_env(monkeypatch, "0.7", "1.3", "3")
    config = aws.client("s3").meta.config
    assert (config.connect_timeout, config.read_timeout) == (0.7, 1.3)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    probe = aws.client("s3", attempts=1).meta.config
    assert probe.retries["total_max_attempts"] == 1
    # 3 attempts of 0.7 + 1.3 s, and botocore's longest sleeps before retries 1 and 2.
    assert aws.call_budget_seconds() == pytest.approx(3 * 2.0 + 1 + 2)
    assert aws.call_budget_seconds(attempts=1) == pytest.approx(2.0)


def test_functions_sharing_a_process_each_get_their_own_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Local runs load every function in one process: settings follow the environment of
    the moment, and clients are shared only between identical settings."""
    set_client_env(monkeypatch, "1", "1", "2")
    request_client = aws.client("s3")
    assert aws.call_budget_seconds() == 5.0
    monkeypatch.setenv("MODELOPS_AWS_READ_TIMEOUT", "10")  # no reset in between
    monitor_client = aws.client("s3")
    assert monitor_client is not request_client
    assert monitor_client.meta.config.read_timeout == 10.0
    assert aws.call_budget_seconds() == 23.0
    monkeypatch.setenv("MODELOPS_AWS_READ_TIMEOUT", "1")
    assert aws.client("s3") is request_client


def test_a_malformed_timeout_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    set_client_env(monkeypatch, "soon", "1", "2")
    with pytest.raises(Exception, match="MODELOPS_AWS_CONNECT_TIMEOUT"):
        aws.client("s3")


def _timeouts(logical_id: str, doc: dict[str, Any]) -> list[int]:
    """The function's Timeout: its value, or the parameter's default and minimum."""
    props = doc["Resources"][logical_id]["Properties"]
    raw = props.get("Timeout", doc["Globals"]["Function"]["Timeout"])
    if hasattr(raw, "tag"):
        parameter = doc["Parameters"][raw.value]
        return [int(parameter["Default"]), int(parameter["MinValue"])]
    return [int(raw)]


def test_every_function_fits_two_worst_case_calls_in_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cold start against a hanging S3 must fail one call and still answer 503 in time:
    two calls at their worst fit every possible Timeout of every function."""
    doc = load_template()
    functions = [
        name for name, res in doc["Resources"].items() if res["Type"] == "AWS::Serverless::Function"
    ]
    assert {"PredictFunction", "FeedbackFunction", "MonitorFunction"} <= set(functions)
    for name in functions:
        env = {
            key: resolve(value, {})
            for key, value in function_environment(name).items()
            if key.startswith("MODELOPS_AWS_")
        }
        for key in ("MODELOPS_AWS_CONNECT_TIMEOUT", "MODELOPS_AWS_READ_TIMEOUT"):
            assert key in env, f"{name} sets no {key}"
        monkeypatch.setenv("MODELOPS_AWS_CONNECT_TIMEOUT", str(env["MODELOPS_AWS_CONNECT_TIMEOUT"]))
        monkeypatch.setenv("MODELOPS_AWS_READ_TIMEOUT", str(env["MODELOPS_AWS_READ_TIMEOUT"]))
        monkeypatch.setenv("MODELOPS_AWS_MAX_ATTEMPTS", str(env["MODELOPS_AWS_MAX_ATTEMPTS"]))
        budget = aws.ClientSettings.from_env().budget_seconds()
        for timeout in _timeouts(name, doc):
            assert 2 * budget <= timeout, f"{name}: 2 x {budget} s > Timeout {timeout} s"


def test_has_time_for_compares_the_deadline_with_the_call_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_client_env(monkeypatch, "1", "1", "1")  # one call: at most 2 s
    assert has_time_for(100)  # no deadline outside a handler
    needed = 2 + resilience.RESPONSE_RESERVE_SECONDS
    with deadline_of(Remaining(needed + 0.05)):
        assert has_time_for(1)
        assert not has_time_for(2)
    with deadline_of(Remaining(needed - 0.05)):
        assert not has_time_for(1)
    with deadline_of(object()):  # a context without a deadline
        assert math.isinf(resilience.remaining_seconds())


def test_retry_schedule_doubles_then_caps_and_resets_on_success() -> None:
    clock = FakeClock()
    schedule = RetrySchedule(interval=5, base=1, cap=4, clock=clock)
    assert schedule.due()
    for expected in (1, 2, 4, 4):
        schedule.failed()
        clock.now += expected - 0.001
        assert not schedule.due()
        clock.now += 0.001
        assert schedule.due()
    schedule.succeeded()
    assert schedule.failures == 0
    clock.now += 4.999
    assert not schedule.due()
    clock.now += 0.001
    assert schedule.due()
    assert schedule.delay(10_000) == 4  # no overflow after a long outage


# ---- the model cache -----------------------------------------------------------------------


def _break_alias(s3: Any, bucket: str, body: bytes) -> bytes:
    """Overwrite the alias with `body`; returns what it held (to repair it later)."""
    key = ModelRegistry.alias_key("churn", CHAMPION)
    held: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return held


@pytest.mark.parametrize("body", [b"not json", json.dumps({"sequence": 1}).encode(), b"[1]"])
def test_unreadable_alias_is_a_counted_503_at_cold_start_and_keeps_a_warm_model(
    counting_registry: CountingRegistry, s3: Any, bucket: str, body: bytes
) -> None:
    v1 = publish_trained(counting_registry, "binary")["version"]
    clock, events = FakeClock(), Events()
    warm = make_cache(counting_registry, clock, events, refresh_seconds=0)
    assert warm.get().version == v1
    _break_alias(s3, bucket, body)

    cold_events = Events()
    cold = make_cache(counting_registry, clock, cold_events)
    with pytest.raises(ModelUnavailableError, match="alias 'champion' is unreadable"):
        cold.get()
    assert [exc for _, exc in cold_events.failures] == [ValueError]

    clock.now += 1
    assert warm.get().version == v1
    assert [exc for _, exc in events.failures] == [ValueError]


def test_failed_refreshes_back_off_instead_of_running_on_every_request(
    counting_registry: CountingRegistry, s3: Any, bucket: str
) -> None:
    v1 = publish_trained(counting_registry, "binary")["version"]
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events, refresh_seconds=0, retry_cap_seconds=4)
    assert cache.get().version == v1
    held = _break_alias(s3, bucket, b"{")
    reads = counting_registry.alias_reads
    for delay in (1, 2, 4, 4):  # base 1 s (the interval is 0), doubling, capped at 4 s
        clock.now += 0.5  # requests in between: no registry call
        for _ in range(3):
            assert cache.get().version == v1
        clock.now += delay - 0.5
        assert cache.get().version == v1
        reads += 1
        assert counting_registry.alias_reads == reads
    assert len(events.failures) == 4
    assert cache.consecutive_failures == 4

    _break_alias(s3, bucket, held)  # repaired, and a new version promoted
    v2 = publish_trained(counting_registry, "binary")["version"]
    clock.now += 4
    assert cache.get().version == v2
    assert cache.consecutive_failures == 0


def test_cold_start_failures_answer_503_at_once_until_the_back_off_ends(
    counting_registry: CountingRegistry, s3: Any, bucket: str
) -> None:
    publish_trained(counting_registry, "binary")
    held = _break_alias(s3, bucket, b"{")
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events, cold_retry_cap_seconds=2)
    with pytest.raises(ModelUnavailableError, match="next attempt in 1 s"):
        cache.get()
    clock.now += 0.999
    with pytest.raises(ModelUnavailableError, match="unreadable"):
        cache.get()
    assert counting_registry.alias_reads == 1  # answered without a registry call
    clock.now += 0.001
    with pytest.raises(ModelUnavailableError, match="next attempt in 2 s"):
        cache.get()
    assert counting_registry.alias_reads == 2
    _break_alias(s3, bucket, held)
    v2 = publish_trained(counting_registry, "binary")["version"]
    clock.now += 2
    assert cache.get().version == v2


def test_no_load_starts_without_time_for_its_calls(
    counting_registry: CountingRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_trained(counting_registry, "binary")
    set_client_env(monkeypatch, "1", "1", "1")
    clock, events = FakeClock(), Events()
    cache = make_cache(counting_registry, clock, events)
    with deadline_of(Remaining(2.4)), pytest.raises(ModelUnavailableError, match="time left"):
        cache.get()
    assert counting_registry.alias_reads == 0
    assert events.failures == []  # not a registry failure: the next request loads it
    with deadline_of(Remaining(10)):
        assert cache.get().version == 1


def test_handler_gives_the_lambda_deadline_to_the_model_load(
    predict_handler: Any, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No champion at initialisation; the first request has 1 s left: 503 without a call."""
    app = predict_handler()
    publish_trained(registry, "binary")

    class ShortContext(FakeLambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 1000

    response = handler_of(app)(api_event({"instances": [{}]}), ShortContext())
    assert response["statusCode"] == 503
    assert "time left" in json.loads(response["body"])["error"]["message"]
