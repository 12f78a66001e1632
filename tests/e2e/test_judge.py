"""The demo's verdict: it passes only when every outcome closes the loop, and names what did not."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from demo.loop import LoopResult, WindowOutcome, format_table, judge
from embedded_aws.batch_executor import JobRun

START = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


def window(name: str, html: Path, *, status: str, accuracy: float, auc: float, baseline: float,
           drifted: tuple[str, ...] = (), degraded: bool = False, version: int = 1,
           retraining: dict[str, Any] | None = None) -> WindowOutcome:  # fmt: skip
    html.write_text("<svg></svg>")
    return WindowOutcome(
        name=name, start=START, end=START, rows_sent=400, labels_sent=100, served_versions={version},
        client_accuracy=accuracy, html_report=html,
        summary={
            "status": status,
            "counts": {"predictions": 400, "labeled": 100},
            "drift": {"features": {f: {"drifted": f in drifted} for f in ("plan", "monthly_charges", "age")}},
            "performance": {"primary_metric": "roc_auc", "metrics": {"roc_auc": auc, "accuracy": accuracy},
                            "baseline": {"roc_auc": baseline}, "degraded": degraded},
            "retraining": retraining or {"triggered": False, "reason": f"status is {status}: no"},
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
            window("window 3", tmp_path / "3.html", status="OK", accuracy=0.74, auc=0.72, baseline=0.74, version=2),
        ],
        initial_version=1,
        retraining_run=run,
        retraining_result={"version": 2, "promoted": True},
        champion_after=2,
        events=[{"detail-type": "RetrainingRequested", "detail": {"job": {"id": "job-1"}}}],
    )  # fmt: skip


def failed(result: LoopResult) -> list[str]:
    return [c.what for c in judge(result) if not c.ok]


def test_a_closed_loop_passes_every_check(closed: LoopResult) -> None:
    assert failed(closed) == []
    table = format_table(closed)
    assert "window 2 [DEGRADED]" in table and "retraining submitted -> v2 champion" in table


def test_no_drift_in_window_2_fails(closed: LoopResult) -> None:
    closed.windows[1].summary["status"] = "OK"
    assert "window 2: drift and degraded performance detected" in failed(closed)


def test_a_retrained_model_that_is_not_served_fails(closed: LoopResult) -> None:
    closed.windows[2].served_versions = {1}
    assert failed(closed) == ["window 3 served by the new champion (refresh, no restart)"]


def test_a_failed_training_job_or_missing_event_fails(closed: LoopResult) -> None:
    assert closed.retraining_run is not None
    closed.retraining_run = dataclasses.replace(closed.retraining_run, exit_code=4)
    closed.events = []
    assert {
        "the submitted job ran the training entry point with the monitor's command",
        "RetrainingRequested event delivered by the template's rule",
    } <= set(failed(closed))


def test_lost_rows_or_labels_fail(closed: LoopResult) -> None:
    closed.windows[0].summary["counts"]["labeled"] = 99
    closed.windows[2].client_accuracy = 0.5
    assert failed(closed) == [
        "window 1: every served row and label was captured and joined",
        "window 3: the monitor's accuracy matches the clients' own count",
    ]


def test_no_recovery_in_window_3_fails(closed: LoopResult) -> None:
    closed.windows[2].summary["performance"].update(
        metrics={"roc_auc": 0.29, "accuracy": 0.74}, degraded=True
    )
    assert failed(closed) == ["window 3: performance recovered"]


def test_an_incomplete_run_never_passes(closed: LoopResult) -> None:
    closed.windows = closed.windows[:2]
    assert not LoopResult(checks=judge(closed)).ok
    assert not LoopResult().ok  # no checks at all is not a pass
