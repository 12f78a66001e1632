"""The demo's scenario, with less traffic: build, serve, monitor, retrain, promote, recover."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from demo.loop import LoopConfig, format_table, run_loop

pytestmark = pytest.mark.e2e


def test_the_loop_closes_on_embedded_aws(tmp_path: Path) -> None:
    result = run_loop(
        LoopConfig(
            training_rows=2500,
            rows_per_window=(400, 1000, 600),
            output_dir=tmp_path,
            stack_name=f"e2e-loop-{uuid.uuid4().hex[:8]}",
        ),
        say=None,
    )
    failed = [f"{c.what}: {c.detail}" for c in result.checks if not c.ok]
    assert not failed, "\n".join(failed) + "\n" + format_table(result)
    w1, w2, w3 = result.windows
    assert w1.status == "OK"
    assert (
        w2.status in ("DRIFT", "DEGRADED")
        and "monthly_charges" in w2.drifted_features
        and "plan" in w2.drifted_features
    )
    assert result.retraining_run is not None
    assert result.retraining_run.command[:4] == [
        "train",
        "--from-feedback",
        "--model-name",
        "churn",
    ]
    assert w3.served_versions == {result.champion_after} and result.champion_after == 2
    assert all(
        w.html_report is not None and w.html_report.read_text().count("<svg") > 0
        for w in result.windows
    )
