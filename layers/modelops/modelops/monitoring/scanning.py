"""Scan a window's capture objects into mergeable state: the first half of a monitoring run.

List the window's capture objects, read each once and fold every record into per-version
accumulators (`ScanState`). The states of disjoint sets of objects merge exactly (counts
and fixed-point sums add), so the objects can be split over worker processes, or scanned
shard by shard elsewhere, and the merge equals a single pass. What follows the scan
(statistics, verdict, report) is modelops.monitoring.analysis.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from modelops import aws
from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.objects import iter_line_batches, list_partition_keys, prefetched
from modelops.monitoring.parallel import run_forked
from modelops.monitoring.window import ScanSettings, ScanState, Window, WindowScan
from modelops.registry import ModelRegistry

# Records are delivered to the hour partition of their arrival, which can trail the
# inference time by the delivery stream's buffer (at most 15 minutes on Firehose).
CAPTURE_LATENESS = timedelta(minutes=15)


@dataclass(frozen=True)
class Shard:
    """Everything a worker needs to scan some of the window's objects on its own."""

    bucket: str
    model_name: str
    window: Window
    feedback: FeedbackIndex
    settings: ScanSettings
    keys: tuple[str, ...]


def capture_keys(s3: Any, bucket: str, model_name: str, window: Window) -> list[str]:
    """The capture objects that can hold the window's records (late deliveries included)."""
    return list(
        list_partition_keys(
            s3, bucket, f"capture/{model_name}/", window.start, window.end + CAPTURE_LATENESS
        )
    )


def scan_window(
    s3: Any,
    registry: ModelRegistry,
    window: Window,
    *,
    model_name: str,
    settings: ScanSettings,
    workers: int,
) -> tuple[WindowScan, int]:
    """Read the feedback index and the window's captures once; (scan, objects read)."""
    bucket = registry.bucket
    with cyclic_gc_paused():
        feedback = FeedbackIndex.load(s3, bucket, model_name, window.start)
    scan = new_scan(window, model_name, feedback, settings, registry)
    keys = capture_keys(s3, bucket, model_name, window)
    workers = min(workers, len(keys))
    if workers <= 1:
        scan_objects(scan, s3, bucket, keys)
    else:
        # Objects are split round-robin; each worker sends back its mergeable state.
        shards = [
            Shard(
                bucket,
                model_name,
                window,
                feedback,
                replace(settings, seed=settings.seed + 10_000 * (i + 1)),
                tuple(keys[i::workers]),
            )
            for i in range(workers)
        ]
        for state in run_forked(scan_shard, [(shard,) for shard in shards]):
            scan.merge(state)
    return scan, len(keys)


def new_scan(
    window: Window,
    model_name: str,
    feedback: FeedbackIndex,
    settings: ScanSettings,
    registry: ModelRegistry,
) -> WindowScan:
    load: Callable[[int], Mapping[str, Any]] = functools.cache(
        lambda version: registry.get_metadata(model_name, version)
    )
    return WindowScan(
        window=window,
        model_name=model_name,
        feedback=feedback,
        load_metadata=load,
        settings=settings,
    )


def scan_objects(scan: WindowScan, s3: Any, bucket: str, keys: list[str] | tuple[str, ...]) -> None:
    """Fold every line of the objects into the scan (reading overlaps parsing)."""
    batches = (lines for key in keys for lines in iter_line_batches(s3, bucket, key))
    with cyclic_gc_paused():
        for lines in prefetched(batches):
            scan.add_lines(lines)


def scan_shard(shard: Shard) -> ScanState:
    """In a worker: the mergeable state of the shard's objects. The worker has its own S3
    client (connections must not be shared across processes), made from the session it
    inherited (the service model already parsed), and random streams (in the shard's
    settings)."""
    aws.forget_clients()
    s3 = aws.client("s3")
    registry = ModelRegistry(shard.bucket, s3_client=s3)
    scan = new_scan(shard.window, shard.model_name, shard.feedback, shard.settings, registry)
    scan_objects(scan, s3, shard.bucket, shard.keys)
    return scan.state()


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a scan parses millions of records.

    Each parsed record is a few dicts, freed by reference counting as soon as its batch is
    counted; none is part of a reference cycle. The cyclic collector, triggered by the
    allocations, would traverse every live container again and again for nothing: 27 % of
    the scan's time on 200k records (docs/PERFORMANCE.md, "Monitoring").
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
