"""The demo's verdict: it passes only when every outcome closes the loop (the retrained
version promoted from shadow, the bad candidate rejected without answering), and names what
did not."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from demo.loop import Captured, LoopResult, WindowOutcome, format_table, judge
from embedded_aws.batch_executor import JobRun

START = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


def rollout(champion: int, challenger: int, action: str, *, labeled: int = 100) -> dict[str, Any]:
    return {
        "champion_version": champion, "challenger_version": challenger, "mode": "shadow",
        "decision": {"action": {"promoted": "promote", "rejected": "reject"}.get(action, "observe"), "reason": f"{action} because",
                     "statistics": {"metric": "roc_auc", "margin": 0.01,
                                    "labeled_rows": {"champion": labeled, "challenger": labeled},
                                    "test": {"champion": 0.3, "challenger": 0.7}}},
        "outcome": {"action": action, "challenger_version": challenger},
    }  # fmt: skip


def window(name: str, html: Path, *, status: str, accuracy: float, auc: float, baseline: float,
           drifted: tuple[str, ...] = (), degraded: bool = False, version: int = 1,
           shadow: int | None = None, decided: dict[str, Any] | None = None,
           retraining: dict[str, Any] | None = None) -> WindowOutcome:  # fmt: skip
    html.write_text("<svg></svg>")
    return WindowOutcome(
        name=name, start=START, end=START, rows_sent=400, labels_sent=100, served_versions={version},
        client_accuracy=accuracy, html_report=html,
        captured=Captured(records=400, answered_by={version: 400},
                          shadowed_by={shadow: 400} if shadow else {}),
        summary={
            "status": status,
            "counts": {"predictions": 400, "labeled": 100},
            "drift": {"features": {f: {"drifted": f in drifted} for f in ("plan", "monthly_charges", "age")}},
            "performance": {"primary_metric": "roc_auc", "metrics": {"roc_auc": auc, "accuracy": accuracy},
                            "baseline": {"roc_auc": baseline}, "degraded": degraded},
            "retraining": retraining or {"triggered": False, "reason": f"status is {status}: no"},
            "rollout": decided,
        },
    )  # fmt: skip


@pytest.fixture
def closed(tmp_path: Path) -> LoopResult:
    command = ["train", "--from-feedback"]
    run = JobRun("job-1", "retrain", command, ["modelops", *command], 0, "{}", "", 3.0)
    return LoopResult(
        windows=[
            window("window 1", tmp_path / "1.html", status="OK", accuracy=0.75, auc=0.8, baseline=0.8),
            window("window 2", tmp_path / "2.html", status="DEGRADED", accuracy=0.3, auc=0.3, baseline=0.8,
                   drifted=("plan", "monthly_charges"), degraded=True,
                   retraining={"triggered": True, "job_id": "job-1", "reason": "status DEGRADED: submitted"}),
            window("window 3", tmp_path / "3.html", status="DEGRADED", accuracy=0.3, auc=0.3, baseline=0.8,
                   drifted=("plan",), degraded=True, shadow=2, decided=rollout(1, 2, "promoted")),
            window("window 4", tmp_path / "4.html", status="OK", accuracy=0.74, auc=0.72, baseline=0.74,
                   version=2, shadow=3, decided=rollout(2, 3, "rejected")),
        ],
        initial_version=1,
        retraining_run=run,
        retraining_result={"version": 2, "promoted": False,
                           "challenger": {"version": 2, "mode": "shadow", "champion_version": 1}},
        champion_after_retraining=1,
        champion_after_window_3=2,
        bad_candidate_result={"version": 3, "promoted": False,
                              "challenger": {"version": 3, "mode": "shadow", "champion_version": 2}},
        champion_after=2,
        events=[{"detail-type": "RetrainingRequested", "detail": {"job": {"id": "job-1"}}},
                {"detail-type": "ModelPromoted", "detail": {"challenger_version": 2}},
                {"detail-type": "ChallengerRejected", "detail": {"challenger_version": 3}}],
    )  # fmt: skip


def failed(result: LoopResult) -> list[str]:
    return [c.what for c in judge(result) if not c.ok]


def test_a_closed_loop_passes_every_check(closed: LoopResult) -> None:
    assert failed(closed) == []
    table = format_table(closed)
    assert (
        "window 2 [DEGRADED]" in table and "retraining submitted -> v2 challenger (shadow)" in table
    )
    assert "v2 shadow vs v1: roc_auc 0.700 vs 0.300 on 100 labeled rows -> promoted" in table
    assert "v3 shadow vs v2" in table and "-> rejected" in table


def test_no_drift_in_window_2_fails(closed: LoopResult) -> None:
    closed.windows[1].summary["status"] = "OK"
    assert "window 2: drift and degraded performance detected" in failed(closed)


@pytest.mark.parametrize(
    ("index", "action", "check"),
    [
        (2, "observing", "window 3: the monitor compared v2 with v1 on the same labeled rows and it was promoted"),
        (2, "rejected", "window 3: the monitor compared v2 with v1 on the same labeled rows and it was promoted"),
        (3, "promoted", "window 4: the monitor compared v3 with v2 on the same labeled rows and it was rejected"),
        (3, "observing", "window 4: the monitor compared v3 with v2 on the same labeled rows and it was rejected"),
    ],
)  # fmt: skip
def test_either_decision_other_than_expected_fails(
    closed: LoopResult, index: int, action: str, check: str
) -> None:
    closed.windows[index].summary["rollout"]["outcome"]["action"] = action
    assert failed(closed) == [check]


def test_a_decision_on_fewer_rows_than_were_labeled_fails(closed: LoopResult) -> None:
    # The champion and the challenger must be compared on every labeled row of the window.
    closed.windows[2].summary["rollout"]["decision"]["statistics"]["labeled_rows"]["challenger"] = (
        99
    )
    assert failed(closed) == [
        "window 3: the monitor compared v2 with v1 on the same labeled rows and it was promoted"
    ]


def test_a_candidate_that_answered_a_client_fails(closed: LoopResult) -> None:
    closed.windows[3].served_versions = {2, 3}  # a response named v3
    assert failed(closed) == ["window 4: only v2 answered clients; v3 scored every row in shadow"]
    closed.windows[3].served_versions = {2}
    closed.windows[3].captured.answered_by = {2: 399, 3: 1}  # a capture says v3 answered
    assert failed(closed) == ["window 4: only v2 answered clients; v3 scored every row in shadow"]


def test_a_shadow_that_missed_rows_fails(closed: LoopResult) -> None:
    closed.windows[2].captured.shadowed_by = {2: 399}
    assert failed(closed) == ["window 3: only v1 answered clients; v2 scored every row in shadow"]


def test_a_retrained_version_sent_straight_to_champion_fails(closed: LoopResult) -> None:
    closed.retraining_result = {"version": 2, "promoted": True, "challenger": None}
    closed.champion_after_retraining = 2
    assert failed(closed) == [
        "the retrained version entered shadow as v1's challenger, not champion"
    ]


def test_a_missing_or_repeated_decision_event_fails(closed: LoopResult) -> None:
    closed.events = [e for e in closed.events if e["detail-type"] != "ModelPromoted"]
    closed.events.append({"detail-type": "ChallengerRejected", "detail": {"challenger_version": 3}})
    assert failed(closed) == [
        "ModelPromoted for v2 delivered once by the template's rule",
        "ChallengerRejected for v3 delivered once by the template's rule",
    ]


def test_a_rejected_candidate_that_became_champion_fails(closed: LoopResult) -> None:
    closed.champion_after = 3
    assert failed(closed) == ["the rejected candidate never became champion"]


def test_a_failed_training_job_or_missing_event_fails(closed: LoopResult) -> None:
    assert closed.retraining_run is not None
    closed.retraining_run = dataclasses.replace(closed.retraining_run, exit_code=4)
    closed.events = closed.events[1:]
    assert {
        "the submitted job ran the training entry point with the monitor's command",
        "RetrainingRequested event delivered by the template's rule",
    } <= set(failed(closed))


def test_lost_rows_or_labels_fail(closed: LoopResult) -> None:
    closed.windows[0].summary["counts"]["labeled"] = 99
    closed.windows[3].client_accuracy = 0.5
    assert failed(closed) == [
        "window 1: every served row and label was captured and joined",
        "window 4: the monitor's accuracy matches the clients' own count",
    ]


def test_no_recovery_in_window_4_fails(closed: LoopResult) -> None:
    closed.windows[3].summary["performance"].update(
        metrics={"roc_auc": 0.29, "accuracy": 0.74}, degraded=True
    )
    assert failed(closed) == ["window 4: performance recovered (served by the promoted version)"]


def test_an_incomplete_run_never_passes(closed: LoopResult) -> None:
    closed.windows = closed.windows[:3]
    assert failed(closed) == ["four windows monitored"]
    assert not LoopResult().ok  # no checks at all is not a pass
