"""The demo's scenario, with less traffic: build, serve, monitor, retrain, roll out in
shadow and promote on live evidence, then reject a bad candidate that never answered."""

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
            # Window 4 decides on the bad candidate: 800 labeled rows (as the demo's 960) let
            # the paired comparison reject it every time; with 480 its bound sometimes reached
            # zero and the challenger stayed "observing".
            rows_per_window=(400, 1000, 600, 1000),
            bad_candidate_rows=1500,
            output_dir=tmp_path,
            stack_name=f"e2e-loop-{uuid.uuid4().hex[:8]}",
        ),
        say=None,
    )
    failed = [f"{c.what}: {c.detail}" for c in result.checks if not c.ok]
    assert not failed, "\n".join(failed) + "\n" + format_table(result)
    w1, w2, w3, w4 = result.windows
    assert w1.status == "OK" and w1.rollout == {}
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
    # The retrained v2: challenger in shadow, compared with v1 on window 3's labeled rows
    # (all 480 of them, on both versions), promoted by the monitor.
    assert result.champion_after_retraining == 1
    assert w3.served_versions == {1}
    assert w3.captured.answered_by == {1: 600} and w3.captured.shadowed_by == {2: 600}
    assert w3.rollout_action == "promoted"
    statistics = w3.rollout["decision"]["statistics"]
    assert statistics["labeled_rows"] == {"champion": 480, "challenger": 480}
    assert statistics["test"]["kind"] == "paired bootstrap"
    assert statistics["test"]["lower"] >= -statistics["margin"]
    assert result.champion_after_window_3 == 2
    # The bad candidate v3 (shuffled labels): in shadow beside v2, rejected; no client ever
    # got one of its answers, by the responses and by the captures.
    assert result.bad_candidate_result is not None and result.bad_candidate_result["version"] == 3
    assert w4.served_versions == {2}
    assert w4.captured.answered_by == {2: 1000} and w4.captured.shadowed_by == {3: 1000}
    assert w4.rollout_action == "rejected"
    assert w4.rollout["decision"]["statistics"]["test"]["upper"] < -statistics["margin"]
    assert result.champion_after == 2
    assert sorted(e["detail-type"] for e in result.events) == [
        "ChallengerRejected",
        "ModelPromoted",
        "RetrainingRequested",
    ]
    table = format_table(result)
    assert "v2 shadow vs v1" in table and "-> promoted" in table
    assert "v3 shadow vs v2" in table and "-> rejected" in table
    assert all(
        w.html_report is not None and w.html_report.read_text().count("<svg") > 0
        for w in result.windows
    )
    # The reports of windows 3 and 4 show both versions side by side and the decision.
    assert w3.html_report is not None and w4.html_report is not None
    promoted, rejected = w3.html_report.read_text(), w4.html_report.read_text()
    assert "<h2>Champion vs challenger</h2>" in promoted and ">PROMOTED<" in promoted
    assert "<th>champion v1</th><th>challenger v2</th>" in promoted
    assert ">REJECTED<" in rejected and "<th>champion v2</th><th>challenger v3</th>" in rejected
    assert "Champion vs challenger" not in w1.html_report.read_text()  # type: ignore[union-attr]
    # Both versions' scoring times reached the report from the captures.
    latency = w3.rollout["comparison"]["challenger"]["latency_ms"]
    assert latency["requests"] == 6 and latency["p50"] > 0
