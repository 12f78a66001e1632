"""The challenger stage of the registry: started, read and ended only by compare-and-swap,
every change in the history with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelops.errors import NoChampionError, RolloutError, StaleAliasError
from modelops.registry import (
    CHALLENGER,
    CHAMPION,
    ChallengerStage,
    ModelRegistry,
    RolloutRule,
)

METADATA = {"task": "binary", "classes": ["no", "yes"], "features": []}
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def versions(registry: ModelRegistry, n: int) -> list[int]:
    return [
        registry.publish("churn", f"m{i}".encode(), METADATA, actor="t").version for i in range(n)
    ]


@pytest.fixture
def with_champion(registry: ModelRegistry) -> ModelRegistry:
    versions(registry, 3)
    registry.set_alias("churn", CHAMPION, 1, expected=None, reason="first")
    return registry


def test_start_records_mode_weight_start_time_and_rule(with_champion: ModelRegistry) -> None:
    stage = ChallengerStage(with_champion)
    rule = RolloutRule(margin=0.02, confidence=0.9, min_labeled_rows=50, max_age_hours=24)
    started = stage.start(
        "churn", 2, mode="canary", weight=0.25, rule=rule, reason="retrained", now=T0
    )
    read = stage.get("churn")
    assert read is not None and read == started
    assert (read.version, read.mode, read.weight, read.champion_version) == (2, "canary", 0.25, 1)
    assert read.started_at == "2026-11-30T12:00:00.000Z" and read.rule == rule
    assert read.active
    # The record is the alias file itself: a stored change, not a cache.
    record = with_champion.get_alias("churn", CHALLENGER)
    assert record is not None and record.record["details"]["rollout"]["weight"] == 0.25
    assert record.record["reason"] == "retrained"


def test_default_weights_shadow_everything_canary_a_tenth(with_champion: ModelRegistry) -> None:
    stage = ChallengerStage(with_champion)
    assert stage.start("churn", 2, reason="r").weight == 1.0
    assert stage.start("churn", 3, mode="canary", reason="r", replace=True).weight == 0.1


def test_age_and_expiry_at_the_boundary(with_champion: ModelRegistry) -> None:
    started = ChallengerStage(with_champion).start(
        "churn", 2, rule=RolloutRule(max_age_hours=2), reason="r", now=T0
    )
    assert not started.expired(T0 + timedelta(hours=2) - timedelta(milliseconds=1))
    assert started.expired(T0 + timedelta(hours=2))
    assert started.age(T0 + timedelta(hours=3)) == timedelta(hours=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": 1}, "already the champion"),
        ({"version": 2, "mode": "blue-green"}, "mode must be one of shadow, canary"),
        ({"version": 2, "weight": 0.0}, "weight must be in (0, 1]"),
        ({"version": 2, "weight": 1.01}, "weight must be in (0, 1]"),
    ],
)
def test_start_refuses_bad_requests(
    with_champion: ModelRegistry, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(
        RolloutError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        ChallengerStage(with_champion).start("churn", reason="r", **kwargs)  # type: ignore[arg-type]
    assert with_champion.get_alias("churn", CHALLENGER) is None


def test_weight_one_is_allowed(with_champion: ModelRegistry) -> None:
    assert ChallengerStage(with_champion).start("churn", 2, mode="canary", weight=1.0, reason="r")


def test_rule_bounds() -> None:
    RolloutRule(margin=0.0, confidence=0.5, min_labeled_rows=1, max_error_rate=0.0)
    for bad in (
        {"margin": -0.01},
        {"confidence": 1.0},
        {"confidence": 0.49},
        {"min_labeled_rows": 0},
        {"max_age_hours": 0},
        {"max_error_rate": 1.0},
    ):
        with pytest.raises(RolloutError, match="invalid rollout rule"):
            RolloutRule(**bad)  # type: ignore[arg-type]


def test_a_challenger_needs_a_champion(registry: ModelRegistry) -> None:
    versions(registry, 2)
    with pytest.raises(NoChampionError):
        ChallengerStage(registry).start("churn", 2, reason="r")


def test_a_running_challenger_is_only_replaced_on_request(with_champion: ModelRegistry) -> None:
    stage = ChallengerStage(with_champion)
    stage.start("churn", 2, reason="first")
    with pytest.raises(RolloutError, match="already has challenger v2"):
        stage.start("churn", 3, reason="second")
    replaced = stage.start("churn", 3, reason="second", replace=True)
    assert replaced.version == 3
    assert replaced.state.record["reason"] == "second (supersedes challenger v2)"


def test_end_is_a_compare_and_swap_and_recorded(with_champion: ModelRegistry) -> None:
    stage = ChallengerStage(with_champion)
    read_by_a = stage.start("churn", 2, reason="start")
    read_by_b = stage.get("churn")
    assert read_by_b is not None
    ended = stage.end("churn", read_by_a, status="rejected", reason="worse", decision={"x": 1})
    assert not ended.active and ended.status == "rejected"
    assert stage.get("churn") is None
    # B read it before A's change: its swap loses and writes nothing.
    with pytest.raises(StaleAliasError):
        stage.end("churn", read_by_b, status="aborted", reason="late")
    with pytest.raises(RolloutError, match="already rejected"):
        stage.end("churn", ended, status="aborted", reason="again")
    history = with_champion.history("churn", CHALLENGER)
    assert [(h["details"]["status"], h["reason"]) for h in history] == [
        ("active", "start"),
        ("rejected", "worse"),
    ]
    assert history[-1]["details"]["decision"] == {"x": 1}
    # The next challenger swaps against the ended record.
    assert stage.start("churn", 3, reason="next").version == 3


def test_a_challenger_alias_set_by_hand_is_not_a_rollout(with_champion: ModelRegistry) -> None:
    with_champion.set_alias("churn", CHALLENGER, 2, expected=None, reason="by hand")
    stage = ChallengerStage(with_champion)
    assert stage.get("churn") is None
    read = stage.read("churn")
    assert read is not None and read.status == "aborted"
