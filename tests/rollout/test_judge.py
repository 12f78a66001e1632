"""The monitor's side: a window's captures and labels decide the running challenger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from modelops.capture import encode_record, feedback_record, prediction_record
from modelops.monitoring.window import Window
from modelops.registry import CHAMPION, ChallengerStage, ModelRegistry, RolloutRule
from modelops.rollout.apply import RolloutApplier
from modelops.rollout.evidence import RolloutJudge, retraining_hold
from modelops.rollout.routing import rollout_salt, routes_to_challenger
from modelops.rollout.serving import ChallengerServer, RolloutServing
from modelops.serving.model_cache import ModelCache
from modelops.serving.request import parse_predict_request
from modelops.serving.response import prediction_outputs
from tests.models import publish_trained, sample_rows

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=1))


@pytest.fixture
def events(mocked_aws: None) -> tuple[Any, str]:
    sqs, client = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="rollout")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client.put_rule(Name="r", EventPattern=json.dumps({"source": ["modelops.rollout"]}))
    client.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": arn}])
    return client, url


def judge(
    registry: ModelRegistry, events: tuple[Any, str], now: datetime | None = None
) -> RolloutJudge:
    return RolloutJudge(
        registry,
        RolloutApplier(registry, events_client=events[0]),
        s3_client=registry.s3,
        model_name="churn",
        capture_lateness=timedelta(minutes=15),
        clock=lambda: now or START + timedelta(hours=1),
    )


def serve_and_capture(
    registry: ModelRegistry, n: int, labeled: int, *, corrupt: bool = False
) -> None:
    """Serve n rows through the rollout as PredictFunction does, capture them, label some."""
    champion = ModelCache(
        registry, "churn", alias=CHAMPION, pinned_version=None, refresh_seconds=60
    ).get()
    rollout = RolloutServing(
        ChallengerServer(registry, "churn", refresh_seconds=60), on_failure=print
    )
    instances, truths = sample_rows("binary", n)
    ids = [f"order-{i}" for i in range(n)]
    parsed = parse_predict_request(
        {"instances": instances, "inference_ids": ids}, champion.schema, max_rows=n
    )
    outputs = prediction_outputs(champion.schema, champion.model.predict_columns(parsed.columns))
    served = rollout.serve(champion, parsed.columns, ids, outputs, champion_ms=1.5)
    assert served is not None
    lines = []
    for i in range(n):
        record = prediction_record(
            inference_id=ids[i], inference_time="2026-11-30T12:30:00.000Z", request_id="r",
            source="api", model_name="churn", model_version=served.versions[i],
            features=instances[i], output=outputs[i],
        )  # fmt: skip
        record.update(served.capture_extras[i])
        if corrupt and "shadow" in record and "output" in record["shadow"]:
            # A model that calls every row the opposite class, confidently.
            out = record["shadow"]["output"]
            flipped = "yes" if out["label"] == "no" else "no"
            record["shadow"]["output"] = {"label": flipped, "probabilities": {
                "no": out["probabilities"]["yes"], "yes": out["probabilities"]["no"]}}  # fmt: skip
        lines.append(encode_record(record))
    s3 = registry.s3
    s3.put_object(
        Bucket=registry.bucket, Key="capture/churn/2026/11/30/12/part-1", Body=b"".join(lines)
    )
    feedback = [
        encode_record(
            feedback_record(
                inference_id=ids[i], received_time="2026-11-30T12:40:00.000Z", label=truths[i]
            )
        )
        for i in range(labeled)
    ]
    s3.put_object(
        Bucket=registry.bucket, Key="feedback/churn/2026/11/30/12/fb-1", Body=b"".join(feedback)
    )


@pytest.fixture
def two_versions(registry: ModelRegistry) -> ModelRegistry:
    publish_trained(registry, "binary", promote=True)
    publish_trained(registry, "binary", promote=False)
    return registry


def received(events: tuple[Any, str]) -> list[str]:
    messages = boto3.client("sqs").receive_message(QueueUrl=events[1], MaxNumberOfMessages=10)
    return [json.loads(m["Body"])["detail-type"] for m in messages.get("Messages", [])]


def test_shadow_challenger_as_good_as_the_champion_is_promoted(
    two_versions: ModelRegistry, events: tuple[Any, str]
) -> None:
    ChallengerStage(two_versions).start(
        "churn", 2, rule=RolloutRule(min_labeled_rows=200), reason="r", now=START
    )
    serve_and_capture(two_versions, 300, labeled=250)
    result = judge(two_versions, events).judge(WINDOW)
    assert result is not None
    assert result["decision"]["action"] == "promote", result["decision"]["reason"]
    assert result["decision"]["statistics"]["labeled_rows"] == {"champion": 250, "challenger": 250}
    assert result["decision"]["statistics"]["agreement"] == 1.0
    assert result["outcome"]["action"] == "promoted"
    # Side by side on the same 250 labeled rows: the same model bytes score alike.
    champion, challenger = result["comparison"]["champion"], result["comparison"]["challenger"]
    assert (champion["version"], challenger["version"]) == (1, 2)
    assert champion["labeled_rows"] == challenger["labeled_rows"] == 250
    assert champion["metrics"] == challenger["metrics"]
    assert set(champion["metrics"]) == {"accuracy", "f1", "roc_auc", "log_loss", "brier_score"}
    assert champion["metrics"]["roc_auc"] == result["decision"]["statistics"]["test"]["champion"]
    # One request of 300 rows: its scoring times, once (not once per row).
    assert champion["latency_ms"] == {"requests": 1, "p50": 1.5, "p95": 1.5}
    assert challenger["latency_ms"]["requests"] == 1 and challenger["latency_ms"]["p50"] > 0
    assert (challenger["scored_rows"], challenger["errors"]) == (300, 0)
    assert two_versions.resolve("churn") == 2
    assert received(events) == ["ModelPromoted"]
    # Re-monitoring the window: nothing left to decide.
    assert judge(two_versions, events).judge(WINDOW) is None


def test_shadow_challenger_with_corrupt_answers_is_rejected_never_having_answered(
    two_versions: ModelRegistry, events: tuple[Any, str]
) -> None:
    ChallengerStage(two_versions).start(
        "churn", 2, rule=RolloutRule(min_labeled_rows=200), reason="r", now=START
    )
    serve_and_capture(two_versions, 300, labeled=250, corrupt=True)
    result = judge(two_versions, events).judge(WINDOW)
    assert result is not None and result["outcome"]["action"] == "rejected"
    assert result["decision"]["reason"].startswith("the challenger is worse")
    assert result["decision"]["statistics"]["agreement"] == 0.0
    assert two_versions.resolve("churn") == 1
    assert received(events) == ["ChallengerRejected"]


def test_too_few_labels_keeps_observing_then_the_maximum_age_rejects(
    two_versions: ModelRegistry, events: tuple[Any, str]
) -> None:
    ChallengerStage(two_versions).start(
        "churn", 2, rule=RolloutRule(min_labeled_rows=200, max_age_hours=24), reason="r", now=START
    )
    serve_and_capture(two_versions, 300, labeled=199)
    first = judge(two_versions, events).judge(WINDOW)
    assert first is not None and first["outcome"]["action"] == "observing"
    assert "199 labeled rows of the 200 needed" in first["decision"]["reason"]
    late = judge(two_versions, events, now=START + timedelta(hours=24)).judge(WINDOW)
    assert late is not None and late["outcome"]["action"] == "rejected"
    assert received(events) == ["ChallengerRejected"]


def test_canary_rows_are_split_by_the_version_that_answered(
    two_versions: ModelRegistry, events: tuple[Any, str]
) -> None:
    ChallengerStage(two_versions).start(
        "churn",
        2,
        mode="canary",
        weight=0.5,
        rule=RolloutRule(min_labeled_rows=50),
        reason="r",
        now=START,
    )
    serve_and_capture(two_versions, 400, labeled=400)
    result = judge(two_versions, events).judge(WINDOW)
    assert result is not None
    salt = rollout_salt("churn", 2)
    routed = sum(routes_to_challenger(f"order-{i}", 0.5, salt) for i in range(400))
    assert result["decision"]["statistics"]["labeled_rows"] == {
        "champion": 400 - routed,
        "challenger": routed,
    }
    assert 150 < routed < 250
    assert result["decision"]["statistics"]["test"]["kind"] == "unpaired bootstrap"


def test_rows_outside_the_window_or_of_another_rollout_do_not_count(
    two_versions: ModelRegistry, events: tuple[Any, str]
) -> None:
    ChallengerStage(two_versions).start(
        "churn", 2, rule=RolloutRule(min_labeled_rows=10), reason="r", now=START
    )
    serve_and_capture(two_versions, 50, labeled=50)
    later = Window(START + timedelta(hours=1), START + timedelta(hours=2))
    result = judge(two_versions, events).judge(later)
    assert result is not None and result["rows"] == 0
    assert result["outcome"]["action"] == "observing"


@pytest.mark.parametrize("mode", ["shadow", "canary"])
def test_a_challenger_predictfunction_could_not_load_is_rejected_at_the_next_window(
    two_versions: ModelRegistry, events: tuple[Any, str], mode: str
) -> None:
    """The champion answered every request; the window's captures say the challenger was
    never scored, and the monitor rejects it for that, without waiting for labels."""
    two_versions._s3.put_object(
        Bucket=two_versions.bucket, Key="models/churn/v2/model.onnx", Body=b"tampered"
    )
    ChallengerStage(two_versions).start(
        "churn", 2, mode=mode, weight=0.5, rule=RolloutRule(min_labeled_rows=200), reason="r",
        now=START,
    )  # fmt: skip
    serve_and_capture(two_versions, 100, labeled=0)
    result = judge(two_versions, events).judge(WINDOW)
    assert result is not None and result["outcome"]["action"] == "rejected"
    routed = result["decision"]["statistics"]["challenger_attempts"]
    assert 0 < routed < 100 and result["decision"]["statistics"]["challenger_errors"] == routed
    assert result["decision"]["reason"] == (
        "the challenger could not be loaded: PredictFunction could not load v2: none of the "
        f"{routed} rows routed to it in this window was scored"
    )
    assert two_versions.resolve("churn") == 1
    assert received(events) == ["ChallengerRejected"]


def test_prediction_failures_are_an_error_rate_not_a_load_failure(
    registry: ModelRegistry, events: tuple[Any, str]
) -> None:
    publish_trained(registry, "binary", promote=True)
    publish_trained(registry, "multiclass", promote=False, name="churn")  # needs other features
    ChallengerStage(registry).start(
        "churn", 2, rule=RolloutRule(min_labeled_rows=10), reason="r", now=START
    )
    serve_and_capture(registry, 50, labeled=50)
    result = judge(registry, events).judge(WINDOW)
    assert result is not None and result["outcome"]["action"] == "rejected"
    assert result["decision"]["reason"].startswith(
        "the challenger failed on 50 of 50 rows (100.00% > 1.00%)"
    )


@pytest.mark.parametrize(
    ("action", "held"),
    [("observing", True), ("promoted", True), ("rejected", False), ("already-decided", False)],
)
def test_retraining_waits_only_while_observing_or_right_after_a_promotion(
    action: str, held: bool
) -> None:
    rollout = {"challenger_version": 4, "outcome": {"action": action}}
    hold = retraining_hold(rollout)
    assert (hold is not None) is held
    if held:
        assert hold.startswith("challenger v4 ")
    assert retraining_hold(None) is None and retraining_hold({"error": "x"}) is None
