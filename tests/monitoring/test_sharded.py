"""The same window monitored in one process, by worker processes and shard by shard (plan,
partial scans written to S3 in the partial format, reduce) gives the same report; shards
that wrote nothing are skipped up to the tolerated share and listed, and no further."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from embedded_aws.provision import LocalStack
from modelops.monitoring import partials
from modelops.monitoring.sharded import IncompleteWindow, ShardedMonitor, ShardingSettings
from modelops.monitoring.window import Window
from tests.monitoring.conftest import (
    WINDOW_END,
    WINDOW_EVENT,
    WINDOW_START,
    CaptureWriter,
    churn,
    make_monitor,
    truth,
)

WINDOW = Window(WINDOW_START, WINDOW_END)
# What differs between two runs of one window by design: when and how long, and how it ran.
VOLATILE = ("timings_seconds", "generated_at", "sharded_scan")


def _window(writer: CaptureWriter) -> None:
    """12 capture objects: drifted and plain rows, some labeled, a malformed line."""
    frame = churn(1200, seed=11, numeric_shift=15.0, new_category_share=0.1)
    ids = writer.predictions(frame, objects=8)
    writer.predictions(churn(400, seed=12), objects=4, start=WINDOW_START + timedelta(minutes=2))
    writer.feedback(ids[:500], truth(frame)[:500], received=WINDOW_START + timedelta(minutes=30))
    writer.put(f"capture/churn/{WINDOW_START:%Y/%m/%d/%H}/", b"{not json\n")


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in VOLATILE}


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two reports differ (a readable failure, not a 2000-line dict diff)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b), key=str)
            for d in _differences(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _sharded(local_stack: LocalStack, tolerated: float = 0.0) -> ShardedMonitor:
    monitor = make_monitor(local_stack, RETRAINING_ENABLED="false")
    return ShardedMonitor(monitor, ShardingSettings(tolerated_failure_percentage=tolerated))


def _steps(sharded: ShardedMonitor, shards: int, *, skip: set[int] = frozenset()) -> dict[str, Any]:
    """What MonitorStateMachine does, step by step (tests/scoring runs the definition itself)."""
    plan = sharded.handle(
        {"action": "plan", "request": {**WINDOW_EVENT, "shards": shards, "run_id": f"m{shards}"}}
    )
    items = json.loads(
        sharded.monitor.registry.s3.get_object(Bucket=plan["items_bucket"], Key=plan["items_key"])[
            "Body"
        ].read()
    )
    assert len(items) == shards
    for item in items:
        if item["shard"] not in skip:
            sharded.handle(
                {"action": "partial", **WINDOW_EVENT, "run_id": plan["run_id"], "item": item}
            )
    return sharded.handle({"action": "reduce", **WINDOW_EVENT, "run_id": plan["run_id"]})


def test_one_process_workers_and_every_shard_count_give_one_report(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    _window(writer)
    single = make_monitor(local_stack, RETRAINING_ENABLED="false").run(WINDOW)
    assert single["counts"]["predictions"] == 1600
    assert single["counts"]["malformed"] == 1
    expected = _comparable(single)
    workers = make_monitor(local_stack, RETRAINING_ENABLED="false", MONITOR_WORKERS="3").run(WINDOW)
    assert _differences(_comparable(workers), expected) == []
    for shards in (1, 2, 5, 13):
        report = _steps(_sharded(local_stack), shards)
        assert report["sharded_scan"]["shards"] == shards
        assert report["sharded_scan"]["skipped_objects"] == 0
        diff = _differences(_comparable(report), expected)
        assert diff == [], f"{shards} shards: " + "\n".join(diff)


def test_a_partial_reads_back_exactly_what_was_written(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    _window(writer)
    sharded = _sharded(local_stack)
    plan = sharded.handle(
        {"action": "plan", "request": {**WINDOW_EVENT, "shards": 1, "run_id": "rt"}}
    )
    items = json.loads(
        writer.s3.get_object(Bucket=plan["items_bucket"], Key=plan["items_key"])["Body"].read()
    )
    sharded.handle({"action": "partial", **WINDOW_EVENT, "run_id": "rt", "item": items[0]})
    key = f"{sharded.run_prefix(WINDOW, 'rt')}partials/shard-00000.json"
    doc = json.loads(writer.s3.get_object(Bucket=writer.bucket, Key=key)["Body"].read())
    assert doc["partial_format_version"] == partials.PARTIAL_FORMAT_VERSION
    assert sorted(doc["keys"]) == sorted(items[0]["keys"])
    scan = sharded.monitor.registry  # metadata loader below
    state = partials.decode(
        doc,
        model_name="churn",
        window=WINDOW,
        settings=sharded.monitor.settings.scan,
        load_metadata=lambda v: scan.get_metadata("churn", v),
    )
    again = partials.encode(state, model_name="churn", window=WINDOW, shard=0, keys=doc["keys"])
    assert again == doc
    with pytest.raises(partials.PartialFormatError, match="format version 2"):
        partials.decode(
            {**doc, "partial_format_version": 2},
            model_name="churn",
            window=WINDOW,
            settings=sharded.monitor.settings.scan,
            load_metadata=lambda v: {},
        )
    other = Window(WINDOW_START - timedelta(hours=1), WINDOW_START)
    with pytest.raises(partials.PartialFormatError, match="expected 'churn'"):
        partials.decode(
            doc,
            model_name="churn",
            window=other,
            settings=sharded.monitor.settings.scan,
            load_metadata=lambda v: {},
        )


@pytest.mark.parametrize(("tolerated", "written"), [(25.0, True), (24.9, False)])
def test_failed_shards_are_skipped_up_to_the_tolerated_share(
    local_stack: LocalStack, writer: CaptureWriter, tolerated: float, written: bool
) -> None:
    _window(writer)
    sharded = _sharded(local_stack, tolerated)
    if not written:
        with pytest.raises(IncompleteWindow, match=r"1 of 4 shards .*25.0% > 24.9%"):
            _steps(sharded, 4, skip={2})
        return
    report = _steps(sharded, 4, skip={2})  # 1 of 4 shards failed: 25 %
    assert report["sharded_scan"]["failed_shards"] == [2]
    skipped = report["sharded_scan"]["skipped_keys"]
    assert report["sharded_scan"]["skipped_objects"] == len(skipped) == 3  # 13 objects, 4 shards
    stored = json.loads(
        writer.s3.get_object(Bucket=writer.bucket, Key=report["reports"]["json"].split("/", 3)[3])[
            "Body"
        ].read()
    )
    assert stored["sharded_scan"]["skipped_keys"] == skipped
    single = make_monitor(local_stack, RETRAINING_ENABLED="false").run(WINDOW)
    assert report["counts"]["predictions"] < single["counts"]["predictions"]
