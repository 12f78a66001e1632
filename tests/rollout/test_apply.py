"""Decisions applied by compare-and-swap and announced once: promote, reject, observe,
concurrent deciders racing, re-runs of the same window."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from modelops.registry import CHALLENGER, CHAMPION, ChallengerStage, ModelRegistry
from modelops.rollout.apply import (
    CHALLENGER_REJECTED,
    EVENT_SOURCE,
    MODEL_PROMOTED,
    RolloutApplier,
)
from modelops.rollout.decision import OBSERVE, PROMOTE, REJECT, Decision

METADATA = {"task": "binary", "classes": ["no", "yes"], "features": []}
WINDOW = {"start": "2026-11-30T12:00:00Z", "end": "2026-11-30T13:00:00Z"}


@pytest.fixture
def queue(mocked_aws: None) -> str:
    """Every modelops.rollout event on the default bus, delivered to a queue we can read."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="rollout-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="rollout", EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
    events.put_targets(Rule="rollout", Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def received(queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def rollout(registry: ModelRegistry) -> ModelRegistry:
    for i in range(3):
        registry.publish("churn", f"m{i}".encode(), METADATA, actor="t")
    registry.set_alias("churn", CHAMPION, 1, expected=None, reason="first")
    ChallengerStage(registry).start("churn", 2, reason="retrained")
    return registry


def applier(registry: ModelRegistry) -> RolloutApplier:
    return RolloutApplier(
        ModelRegistry(registry.bucket, s3_client=boto3.client("s3")),
        events_client=boto3.client("events"),
    )


PROMOTE_IT = Decision(PROMOTE, "the challenger is not worse: ...", {"labeled_rows": 500})
REJECT_IT = Decision(REJECT, "the challenger is worse: ...", {"labeled_rows": 500})


def test_promote_moves_the_champion_ends_the_rollout_and_announces(
    rollout: ModelRegistry, queue: str
) -> None:
    current = ChallengerStage(rollout).get("churn")
    assert current is not None
    outcome = applier(rollout).apply("churn", current, PROMOTE_IT, window=WINDOW)
    assert (outcome.action, outcome.champion_version, outcome.event_sent) == ("promoted", 2, True)
    assert rollout.resolve("churn") == 2
    assert ChallengerStage(rollout).get("churn") is None
    champion_change = rollout.history("churn", CHAMPION)[-1]
    assert (champion_change["previous_version"], champion_change["version"]) == (1, 2)
    assert champion_change["reason"].startswith("challenger promoted on live evidence")
    assert champion_change["details"]["decision"]["statistics"] == {"labeled_rows": 500}
    (event,) = received(queue)
    assert (event["source"], event["detail-type"]) == (EVENT_SOURCE, MODEL_PROMOTED)
    assert event["detail"]["champion_version"] == 2
    assert event["detail"]["previous_champion_version"] == 1
    assert event["detail"]["window"] == WINDOW


def test_reject_keeps_the_champion_and_announces(rollout: ModelRegistry, queue: str) -> None:
    current = ChallengerStage(rollout).get("churn")
    assert current is not None
    outcome = applier(rollout).apply("churn", current, REJECT_IT, window=WINDOW)
    assert (outcome.action, outcome.champion_version) == ("rejected", 1)
    assert rollout.resolve("churn") == 1
    ended = ChallengerStage(rollout).read("churn")
    assert ended is not None and ended.status == "rejected"
    assert ended.state.record["details"]["decision"]["action"] == REJECT
    (event,) = received(queue)
    assert event["detail-type"] == CHALLENGER_REJECTED
    assert event["detail"]["challenger_version"] == 2
    assert event["detail"]["champion_version"] == 1


def test_observe_writes_nothing(rollout: ModelRegistry, queue: str) -> None:
    current = ChallengerStage(rollout).get("churn")
    assert current is not None
    before = rollout.history("churn")
    outcome = applier(rollout).apply("churn", current, Decision(OBSERVE, "keep observing: x"))
    assert outcome.action == "observing" and not outcome.event_sent
    assert rollout.history("churn") == before
    assert received(queue) == []


@pytest.mark.parametrize("decision", [PROMOTE_IT, REJECT_IT], ids=["promote", "reject"])
def test_a_rerun_of_the_same_window_changes_nothing(
    rollout: ModelRegistry, queue: str, decision: Decision
) -> None:
    read_before = ChallengerStage(rollout).get("churn")
    assert read_before is not None
    first = applier(rollout).apply("churn", read_before, decision)
    history = rollout.history("churn")
    # The re-run read the challenger before the first run's change landed (the worst case).
    second = applier(rollout).apply("churn", read_before, decision)
    assert first.event_sent and not second.event_sent
    assert second.action == "already-decided"
    assert rollout.history("churn") == history
    assert len(received(queue)) == 1


class _SerializedS3:
    """One S3 call at a time: moto's in-process objects are not safe under true parallelism
    (a read of a key being replaced can fail), which is moto's limit, not the registry's."""

    def __init__(self, client: Any, lock: threading.Lock) -> None:
        self._client, self._lock = client, lock

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


class _RacingRegistry(ModelRegistry):
    """Every decider's first write waits until all have read: the worst interleaving, where
    each holds the same stale state when it swaps."""

    def __init__(self, bucket: str, s3: Any, barrier: threading.Barrier) -> None:
        super().__init__(bucket, s3_client=s3)
        self._barrier: threading.Barrier | None = barrier

    def set_alias(self, *args: Any, **kwargs: Any) -> Any:
        if self._barrier is not None:
            barrier, self._barrier = self._barrier, None
            barrier.wait(timeout=30)
        return super().set_alias(*args, **kwargs)


@pytest.mark.parametrize("decision", [PROMOTE_IT, REJECT_IT], ids=["promote", "reject"])
def test_concurrent_deciders_race_on_the_swap_and_one_wins(
    rollout: ModelRegistry, queue: str, decision: Decision
) -> None:
    current = ChallengerStage(rollout).get("churn")
    assert current is not None
    deciders = 4
    barrier = threading.Barrier(deciders)
    lock = threading.Lock()
    appliers = [
        RolloutApplier(
            _RacingRegistry(rollout.bucket, _SerializedS3(boto3.client("s3"), lock), barrier),
            events_client=boto3.client("events"),
        )
        for _ in range(deciders)
    ]
    outcomes: list[Any] = []
    errors: list[BaseException] = []

    def decide(a: RolloutApplier) -> None:
        try:
            outcomes.append(a.apply("churn", current, decision))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(a,)) for a in appliers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sent = [o for o in outcomes if o.event_sent]
    assert len(sent) == 1
    assert sorted(o.action for o in outcomes) == sorted(
        [sent[0].action] + ["already-decided"] * (deciders - 1)
    )
    assert len(received(queue)) == 1
    statuses = [h["details"]["status"] for h in rollout.history("churn", CHALLENGER)]
    assert statuses == ["active", "promoted" if decision is PROMOTE_IT else "rejected"]
    assert rollout.resolve("churn") == (2 if decision is PROMOTE_IT else 1)
    assert [h["version"] for h in rollout.history("churn", CHAMPION)] == (
        [1, 2] if decision is PROMOTE_IT else [1]
    )


def test_a_promotion_finished_halfway_is_completed_by_the_rerun(
    rollout: ModelRegistry, queue: str
) -> None:
    """A run that moved the champion and died before ending the rollout: the next run ends
    it and announces, without moving the champion again."""
    current = ChallengerStage(rollout).get("churn")
    assert current is not None
    rollout.set_alias("churn", CHAMPION, 2, expected=rollout.get_alias("churn"), reason="half")
    outcome = applier(rollout).apply("churn", current, PROMOTE_IT)
    assert outcome.action == "promoted" and outcome.event_sent
    assert [h["version"] for h in rollout.history("churn", CHAMPION)] == [1, 2]
    assert len(received(queue)) == 1


def test_a_champion_changed_by_hand_stops_the_rollout(rollout: ModelRegistry, queue: str) -> None:
    current = ChallengerStage(rollout).get("churn")
    assert current is not None
    rollout.set_alias("churn", CHAMPION, 3, expected=rollout.get_alias("churn"), reason="manual")
    outcome = applier(rollout).apply("churn", current, PROMOTE_IT)
    assert outcome.action == "rejected"
    assert "champion changed during the rollout (v1 -> v3)" in outcome.reason
    assert rollout.resolve("churn") == 3
    (event,) = received(queue)
    assert event["detail-type"] == CHALLENGER_REJECTED
