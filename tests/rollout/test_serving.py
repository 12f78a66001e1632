"""The challenger beside the champion at serve time: shadow scores without answering,
canary answers its sticky share, a failing challenger never fails a request."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.registry import ChallengerStage, ModelRegistry
from modelops.rollout.routing import rollout_salt, routes_to_challenger
from modelops.rollout.serving import ChallengerServer, RolloutServing
from modelops.serving.model_cache import LoadedModel, ModelCache
from modelops.serving.request import parse_predict_request
from modelops.serving.response import prediction_outputs
from tests.models import publish_trained, sample_rows


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def champion(registry: ModelRegistry) -> LoadedModel:
    publish_trained(registry, "binary", promote=True)  # v1
    publish_trained(registry, "binary", promote=False)  # v2, the challenger to be
    return ModelCache(
        registry, "churn", alias="champion", pinned_version=None, refresh_seconds=60
    ).get()


def serving(
    registry: ModelRegistry, clock: Clock | None = None
) -> tuple[RolloutServing, list[BaseException]]:
    failures: list[BaseException] = []
    server = ChallengerServer(registry, "churn", refresh_seconds=60, clock=clock or Clock())
    return RolloutServing(server, on_failure=failures.append), failures


def request(
    champion: LoadedModel, n: int, prefix: str = "order"
) -> tuple[Any, list[dict[str, Any]]]:
    instances, _ = sample_rows("binary", n)
    parsed = parse_predict_request(
        {"instances": instances, "inference_ids": [f"{prefix}-{i}" for i in range(n)]},
        champion.schema,
        max_rows=1000,
    )
    outputs = prediction_outputs(champion.schema, champion.model.predict_columns(parsed.columns))
    return parsed, outputs


def test_no_rollout_no_change(registry: ModelRegistry, champion: LoadedModel) -> None:
    rollout, failures = serving(registry)
    parsed, outputs = request(champion, 5)
    assert rollout.serve(champion, parsed.columns, parsed.inference_ids, outputs) is None
    assert failures == []


def test_shadow_scores_every_row_and_answers_none(
    registry: ModelRegistry, champion: LoadedModel
) -> None:
    ChallengerStage(registry).start("churn", 2, mode="shadow", reason="r")
    rollout, failures = serving(registry)
    parsed, outputs = request(champion, 20)
    before = [dict(o) for o in outputs]
    served = rollout.serve(champion, parsed.columns, parsed.inference_ids, outputs)
    assert served is not None and served.mode == "shadow" and failures == []
    assert outputs == before  # the client gets the champion's answers
    assert served.versions == [1] * 20
    # Same model bytes behind v2: its shadow outputs equal the champion's, row by row.
    assert [e["shadow"]["output"] for e in served.capture_extras] == before
    assert all(
        e["shadow"]["model"] == {"name": "churn", "version": 2} for e in served.capture_extras
    )
    assert served.capture_extras[0]["rollout"] == {
        "mode": "shadow", "champion_version": 1, "challenger_version": 2,
    }  # fmt: skip


def test_scoring_times_of_both_versions_are_captured_when_given(
    registry: ModelRegistry, champion: LoadedModel
) -> None:
    ChallengerStage(registry).start("churn", 2, mode="shadow", weight=0.3, reason="r")
    rollout, _ = serving(registry)
    parsed, outputs = request(champion, 50)
    served = rollout.serve(
        champion, parsed.columns, parsed.inference_ids, outputs, champion_ms=2.0004
    )
    assert served is not None
    latency = served.capture_extras[0]["rollout"]["latency_ms"]
    assert latency["champion"] == 2.0 and latency["challenger"] > 0
    # The same figures on every row of the request, scored in shadow or not.
    assert all(e["rollout"]["latency_ms"] == latency for e in served.capture_extras)
    # No challenger row in the request: nothing was scored, no challenger time.
    salt = rollout_salt("churn", 2)
    alone = next(f"x-{i}" for i in range(1000) if not routes_to_challenger(f"x-{i}", 0.3, salt))
    one, one_outputs = request(champion, 1, prefix="unused")
    served = rollout.serve(champion, one.columns, [alone], one_outputs, champion_ms=1.0)
    assert served is not None and served.capture_extras[0]["rollout"]["latency_ms"] == {
        "champion": 1.0, "challenger": None,
    }  # fmt: skip


def test_shadow_sampled_share(registry: ModelRegistry, champion: LoadedModel) -> None:
    ChallengerStage(registry).start("churn", 2, mode="shadow", weight=0.3, reason="r")
    rollout, _ = serving(registry)
    parsed, outputs = request(champion, 200)
    served = rollout.serve(champion, parsed.columns, parsed.inference_ids, outputs)
    assert served is not None
    scored = {i for i, e in enumerate(served.capture_extras) if "shadow" in e}
    salt = rollout_salt("churn", 2)
    assert scored == {i for i in range(200) if routes_to_challenger(f"order-{i}", 0.3, salt)}
    assert 0 < len(scored) < 200


def test_canary_answers_its_sticky_share(registry: ModelRegistry, champion: LoadedModel) -> None:
    ChallengerStage(registry).start("churn", 2, mode="canary", weight=0.4, reason="r")
    rollout, _ = serving(registry)
    parsed, outputs = request(champion, 100)
    served = rollout.serve(champion, parsed.columns, parsed.inference_ids, outputs)
    assert served is not None and served.mode == "canary"
    salt = rollout_salt("churn", 2)
    expected = [2 if routes_to_challenger(f"order-{i}", 0.4, salt) else 1 for i in range(100)]
    assert served.versions == expected and 1 in expected and 2 in expected
    assert all("shadow" not in e for e in served.capture_extras)
    # A retry of the same ids lands on the same versions.
    again = rollout.serve(champion, parsed.columns, parsed.inference_ids, request(champion, 100)[1])
    assert again is not None and again.versions == expected


def test_a_challenger_that_cannot_load_never_fails_a_request(
    registry: ModelRegistry, champion: LoadedModel, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="models/churn/v2/model.onnx", Body=b"tampered")
    ChallengerStage(registry).start("churn", 2, mode="canary", weight=1.0, reason="r")
    rollout, failures = serving(registry)
    parsed, outputs = request(champion, 10)
    before = [dict(o) for o in outputs]
    served = rollout.serve(champion, parsed.columns, parsed.inference_ids, outputs)
    assert served is not None and served.challenger_failed
    assert outputs == before and served.versions == [1] * 10  # the champion answered
    assert failures and "not loaded" in str(failures[-1])
    # Each row says the challenger should have answered it: the monitor counts the failure.
    assert [e.get("challenger_error") for e in served.capture_extras] == [
        {"model": {"name": "churn", "version": 2}, "error": "ChallengerNotLoaded"}
    ] * 10


def test_a_challenger_that_fails_to_predict_is_recorded_in_shadow(
    registry: ModelRegistry, champion: LoadedModel
) -> None:
    publish_trained(registry, "multiclass", promote=False, name="churn")  # v3: other features
    ChallengerStage(registry).start("churn", 3, mode="shadow", reason="r")
    rollout, failures = serving(registry)
    parsed, outputs = request(champion, 4)
    served = rollout.serve(champion, parsed.columns, parsed.inference_ids, outputs)
    assert served is not None and served.challenger_failed
    assert all(e["shadow"] == {"model": {"name": "churn", "version": 3}, "error": "KeyError"}
               for e in served.capture_extras)  # fmt: skip
    assert isinstance(failures[0], KeyError)


def test_changes_are_seen_at_the_next_refresh_only(
    registry: ModelRegistry, champion: LoadedModel
) -> None:
    stage = ChallengerStage(registry)
    started = stage.start("churn", 2, mode="shadow", reason="r")
    clock = Clock()
    rollout, _ = serving(registry, clock)
    parsed, outputs = request(champion, 3)
    assert rollout.serve(champion, parsed.columns, parsed.inference_ids, outputs) is not None
    stage.end("churn", started, status="aborted", reason="stop")
    clock.now = 59.9
    assert rollout.serve(champion, parsed.columns, parsed.inference_ids, outputs) is not None
    clock.now = 60.0
    assert rollout.serve(champion, parsed.columns, parsed.inference_ids, outputs) is None
