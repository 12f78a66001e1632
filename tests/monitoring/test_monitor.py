"""The monitor end to end on moto: captures written as the serving side writes them, the real
churn model as champion, feedback joined by inference id."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from embedded_aws.provision import LocalStack
from modelops.monitoring.window import Window
from tests.monitoring.conftest import (
    WINDOW_EVENT,
    WINDOW_START,
    CaptureWriter,
    churn,
    make_monitor,
    truth,
)


def run(local_stack: LocalStack, **overrides: str) -> dict[str, Any]:
    monitor = make_monitor(local_stack, **overrides)
    return monitor.run(Window.from_event(WINDOW_EVENT, window_minutes=60))


def test_clean_window_reports_no_drift_and_no_retraining(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    frame = churn(800, seed=11)
    ids = writer.predictions(frame)
    writer.feedback(ids[:400], truth(frame)[:400], received=WINDOW_START + timedelta(hours=3))
    report = run(local_stack)
    assert report["status"] == "OK", report["status_reason"]
    assert report["counts"]["predictions"] == 800
    assert report["counts"]["labeled"] == 400
    assert report["counts"]["malformed"] == 0
    assert report["drift"]["dataset_drift"] is False
    assert [n for n, f in report["drift"]["features"].items() if f["drifted"]] == []
    assert report["performance"]["metrics"]["roc_auc"] > 0.6
    assert report["performance"]["degraded"] is False
    assert report["retraining"]["triggered"] is False
    json.dumps(report, allow_nan=False)


def drifted(report: dict[str, Any]) -> set[str]:
    return {name for name, f in report["drift"]["features"].items() if f["drifted"]}


def test_shifted_numeric_feature_is_detected_and_named(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(800, seed=12, numeric_shift=25.0))
    report = run(local_stack)
    assert {"monthly_charges", "total_charges"} <= drifted(report)
    assert drifted(report) <= {"monthly_charges", "total_charges"}
    charges = report["drift"]["features"]["monthly_charges"]
    assert charges["method"] == "psi" and charges["score"] >= 0.2
    assert charges["ks_p_value"] < 0.05 and charges["wasserstein_normalized"] > 0.2
    assert any("PSI" in reason for reason in charges["reasons"])


def test_new_category_is_detected_as_unseen_share(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(800, seed=13, new_category_share=0.3))
    report = run(local_stack)
    plan = report["drift"]["features"]["plan"]
    assert "plan" in drifted(report)
    assert plan["unseen_share"] == pytest.approx(0.3, abs=0.06)
    assert "enterprise" in plan["unseen_categories"]
    assert any("unseen categories" in reason for reason in plan["reasons"])


def test_dataset_drift_when_the_drifted_share_reaches_the_threshold(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(800, seed=14, numeric_shift=25.0, new_category_share=0.3))
    report = run(local_stack, DRIFT_SHARE_THRESHOLD="0.3", RETRAINING_ENABLED="false")
    assert report["drift"]["drifted_share"] >= 0.3
    assert report["drift"]["dataset_drift"] is True
    assert report["status"] == "DRIFT"
    assert "features drifted" in report["status_reason"]


def test_concept_drift_with_labels_is_degraded(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    frame = churn(800, seed=15, concept_drift=1.0)
    ids = writer.predictions(frame)
    writer.feedback(ids, truth(frame), received=WINDOW_START + timedelta(days=2))
    report = run(local_stack, RETRAINING_ENABLED="false")
    performance = report["performance"]
    assert report["status"] == "DEGRADED", report["status_reason"]
    assert performance["degraded"] is True
    assert performance["label_coverage"] == 1.0
    assert performance["metrics"]["roc_auc"] < performance["baseline"]["roc_auc"] * 0.95
    assert "roc_auc" in report["status_reason"]


def test_labels_arriving_later_give_a_fuller_picture_on_rerun(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    frame = churn(600, seed=16)
    ids = writer.predictions(frame)
    first = run(local_stack)
    assert first["performance"] is None and first["counts"]["labeled"] == 0
    writer.feedback(ids[:300], truth(frame)[:300], received=WINDOW_START + timedelta(days=3))
    # a label sent twice: the latest one counts, once
    writer.feedback(ids[:10], truth(frame)[:10], received=WINDOW_START + timedelta(days=4))
    second = run(local_stack)
    assert second["counts"]["labeled"] == 300
    assert second["performance"]["label_coverage"] == pytest.approx(0.5)


def test_gzip_objects_malformed_lines_and_rows_outside_the_window(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(500, seed=17), compress=True, objects=3)
    # rows of the next window, delivered into this window's last partition and the next one
    writer.predictions(
        churn(40, seed=18), start=WINDOW_START + timedelta(minutes=61), spread=timedelta(minutes=5)
    )
    good = json.loads(_one_capture_line(writer))
    good["eventMetadata"]["inferenceTime"] = "2026-11-26T12:30:00.000Z"
    bad_value = {**good, "input": {**good["input"], "tenure_months": "abc"}}
    other_model = {**good, "model": {"name": "other", "version": 1}}
    no_output = {k: v for k, v in good.items() if k != "output"}
    lines = [b"not json", b'{"eventVersion": "1"}', b"[1, 2]"] + [
        json.dumps(r).encode() for r in (bad_value, other_model, no_output)
    ]
    writer.put(
        f"capture/churn/{WINDOW_START:%Y/%m/%d/%H}/", b"\n".join(lines) + b"\n", compress=True
    )
    report = run(local_stack)
    assert report["counts"]["predictions"] == 500
    assert report["counts"]["malformed"] == 6
    assert report["counts"]["outside_window"] == 40
    assert report["status"] == "OK"


def _one_capture_line(writer: CaptureWriter) -> bytes:
    keys = writer.s3.list_objects_v2(Bucket=writer.bucket, Prefix="capture/")["Contents"]
    plain = next(k["Key"] for k in keys if not k["Key"].endswith(".gz"))
    return writer.s3.get_object(Bucket=writer.bucket, Key=plain)["Body"].read().split(b"\n")[0]


def test_forked_workers_give_the_same_counts_as_one_pass(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    frame = churn(900, seed=19, numeric_shift=10.0)
    ids = writer.predictions(frame, objects=5)
    writer.feedback(ids[::2], truth(frame)[::2], received=WINDOW_START + timedelta(hours=5))
    one = run(local_stack, MONITOR_WORKERS="1")
    two = run(local_stack, MONITOR_WORKERS="3")
    assert one["counts"] == two["counts"]
    assert one["counts"]["labeled"] == 450
    for name, feature in one["drift"]["features"].items():
        other = two["drift"]["features"][name]
        shares = "bin_shares" if feature["kind"] == "numeric" else "shares"
        assert feature["current"][shares] == other["current"][shares]
        assert feature["psi"] == pytest.approx(other["psi"], abs=1e-12)
        assert feature["missing_share"] == other["missing_share"]
    assert one["performance"]["metrics"] == pytest.approx(two["performance"]["metrics"], abs=1e-12)


def test_records_concatenated_without_newlines_are_all_read(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    """A delivery stream without a delimiter processor writes {...}{...}: still every record."""
    writer.predictions(churn(300, seed=20))
    listed = writer.s3.list_objects_v2(Bucket=writer.bucket, Prefix="capture/")["Contents"]
    (key,) = [o["Key"] for o in listed]
    body = writer.s3.get_object(Bucket=writer.bucket, Key=key)["Body"].read()
    writer.s3.put_object(Bucket=writer.bucket, Key=key, Body=body.replace(b"\n", b""))
    report = run(local_stack)
    assert report["counts"]["predictions"] == 300 and report["counts"]["malformed"] == 0
