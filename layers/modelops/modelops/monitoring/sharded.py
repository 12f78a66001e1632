"""A window monitored by MonitorStateMachine: plan, partial scans, reduce.

The same window, scanned by one function (Monitor.run), by its worker processes, or by the
state machine's Distributed Map children, gives the same report: the children run the
monitor's own scan on a shard of the window's capture objects (scanning.scan_shard) and
write the mergeable state (modelops.monitoring.partials); the reduce step merges the shards
and hands the merged scan to Monitor.report, the single-function path's own analysis,
report, metrics, rollout decision and retraining.

    plan     list the window's capture objects, split them into shards, write the run's plan
    partial  (one Map child per shard) scan the shard, write partials/shard-NNNNN.json
    reduce   merge every shard's partial; a shard without one is skipped (its objects are
             listed in the report), or the run fails when more shards failed than tolerated

Files of a run, under reports/<name>/windows/<window>/runs/<run id>/: plan.json, shards.json
(the Map's items), partials/shard-NNNNN.json.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from modelops import aws, workflows
from modelops.config import env_float, env_int
from modelops.errors import InvalidInput, ModelOpsError, Problem
from modelops.monitoring import partials
from modelops.monitoring.analysis import report_prefix
from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.monitor import Monitor
from modelops.monitoring.scanning import Shard, capture_keys, new_scan, scan_shard
from modelops.monitoring.window import Window

STEPS = ("plan", "partial", "reduce")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class IncompleteWindow(ModelOpsError):  # noqa: N818 - the public errorType of the state machine
    """More shards failed than the run tolerates: no report is written."""


@dataclass(frozen=True)
class ShardingSettings:
    """MONITOR_STATE_MACHINE: the state machine's ARN (empty: never delegate);
    MONITOR_SHARD_THRESHOLD: a scheduled window of more capture objects than this is handed
    to the state machine; MONITOR_OBJECTS_PER_SHARD: objects one child scans;
    MONITOR_TOLERATED_FAILURE_PERCENTAGE: shards that may fail (their objects skipped)."""

    state_machine: str | None = None
    threshold: int = 200
    objects_per_shard: int = 20
    tolerated_failure_percentage: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ShardingSettings:
        source = os.environ if env is None else env
        return cls(
            state_machine=source.get("MONITOR_STATE_MACHINE", "").strip() or None,
            threshold=env_int("MONITOR_SHARD_THRESHOLD", source, default=200, minimum=0),
            objects_per_shard=env_int("MONITOR_OBJECTS_PER_SHARD", source, default=20, minimum=1),
            tolerated_failure_percentage=env_float(
                "MONITOR_TOLERATED_FAILURE_PERCENTAGE",
                source,
                default=0.0,
                minimum=0.0,
                maximum=100.0,
            ),
        )


def is_step(event: Any) -> bool:
    return isinstance(event, dict) and event.get("action") in STEPS


class ShardedMonitor:
    def __init__(
        self, monitor: Monitor, settings: ShardingSettings, *, sfn_client: Any = None
    ) -> None:
        self.monitor = monitor
        self.settings = settings
        self._sfn = sfn_client
        self._s3 = monitor.registry.s3

    # ------------------------------------------------------------------ the schedule
    def delegate(self, window: Window) -> dict[str, Any] | None:
        """Start the state machine for a window of more objects than the threshold; None
        when the window is small enough for this function (or no state machine is set)."""
        if self.settings.state_machine is None:
            return None
        keys = capture_keys(self._s3, self.monitor.bucket, self.monitor.model_name, window)
        if len(keys) <= self.settings.threshold:
            return None
        sfn = self._sfn or aws.client("stepfunctions")
        name = f"{self.monitor.model_name}-{window.key}-{int(time.time())}"
        arn = workflows.start(
            sfn, self.settings.state_machine, {"window": window.as_dict()}, name=name[:80]
        )
        return {
            "status": "DELEGATED",
            "window": window.as_dict(),
            "objects": len(keys),
            "execution": arn,
        }

    # ------------------------------------------------------------------ the steps
    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        minutes = self.monitor.settings.window_minutes
        if event["action"] == "plan":
            # The execution's input: {"window": {...}} or a scheduled event, [shards, run_id].
            request = event.get("request") or {}
            return self.plan(
                Window.from_event(request, window_minutes=minutes),
                run_id=request.get("run_id") or event.get("execution"),
                shards=request.get("shards"),
            )
        window = Window.from_event(event, window_minutes=minutes)
        run_id = _run_id(event.get("run_id"))
        if event["action"] == "partial":
            return self.partial(window, run_id, event.get("item") or {})
        return self.reduce(window, run_id)

    def run_prefix(self, window: Window, run_id: str) -> str:
        return f"{report_prefix(self.monitor.model_name, window)}runs/{run_id}/"

    def plan(self, window: Window, *, run_id: Any, shards: Any = None) -> dict[str, Any]:
        self.monitor.require_model()
        run_id = _run_id(run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
        if shards is not None and (
            isinstance(shards, bool) or not isinstance(shards, int) or shards < 1
        ):
            raise InvalidInput(
                "1 problem in the event", [Problem("expected a whole number >= 1", field="shards")]
            )
        keys = capture_keys(self._s3, self.monitor.bucket, self.monitor.model_name, window)
        count = shards or math.ceil(len(keys) / self.settings.objects_per_shard)
        count = max(1, min(count, len(keys)))
        # Round-robin, as the function's own workers split them: shards of similar size.
        items = [{"shard": i, "keys": keys[i::count]} for i in range(count)]
        prefix = self.run_prefix(window, run_id)
        plan = {
            "run_id": run_id,
            "window": window.as_dict(),
            "objects": len(keys),
            "shards": count,
            "tolerated_failure_percentage": self.settings.tolerated_failure_percentage,
            "planned_at": datetime.now(UTC).isoformat(),
        }
        self._put(prefix + "plan.json", plan)
        self._put(prefix + "shards.json", items)
        return {
            **plan,
            "items_bucket": self.monitor.bucket,
            "items_key": prefix + "shards.json",
        }

    def partial(self, window: Window, run_id: str, item: dict[str, Any]) -> dict[str, Any]:
        index, keys = int(item["shard"]), list(item["keys"])
        settings = self.monitor.settings.scan
        feedback = FeedbackIndex.load(
            self._s3, self.monitor.bucket, self.monitor.model_name, window.start
        )
        # The seed of worker i of the single-function path, so the same shard samples alike.
        shard = Shard(
            self.monitor.bucket,
            self.monitor.model_name,
            window,
            feedback,
            replace(settings, seed=settings.seed + 10_000 * (index + 1)),
            tuple(keys),
        )
        state = scan_shard(shard)
        doc = partials.encode(
            state, model_name=self.monitor.model_name, window=window, shard=index, keys=keys
        )
        key = f"{self.run_prefix(window, run_id)}partials/shard-{index:05d}.json"
        body = json.dumps(doc, separators=(",", ":")).encode()
        self._s3.put_object(
            Bucket=self.monitor.bucket, Key=key, Body=body, ContentType="application/json"
        )
        return {
            "shard": index,
            "objects": len(keys),
            "rows": sum(v.rows for v in state.versions.values()),
            "bytes": len(body),
        }

    def reduce(self, window: Window, run_id: str) -> dict[str, Any]:
        started = time.perf_counter()
        prefix = self.run_prefix(window, run_id)
        plan = self._get(prefix + "plan.json")
        items = self._get(prefix + "shards.json")
        monitor = self.monitor
        # The index the children joined with: the report counts what it held.
        scan = new_scan(
            window,
            monitor.model_name,
            FeedbackIndex.load(self._s3, monitor.bucket, monitor.model_name, window.start),
            monitor.settings.scan,
            monitor.registry,
        )
        failed: list[dict[str, Any]] = []
        for item in items:
            try:
                doc = self._get(f"{prefix}partials/shard-{int(item['shard']):05d}.json")
            except self._s3.exceptions.NoSuchKey:
                failed.append(item)
                continue
            scan.merge(
                partials.decode(
                    doc,
                    model_name=monitor.model_name,
                    window=window,
                    settings=monitor.settings.scan,
                    load_metadata=scan.load_metadata,
                )
            )
        skipped = [key for item in failed for key in item["keys"]]
        share = 100.0 * len(failed) / len(items) if items else 0.0
        tolerated = float(plan["tolerated_failure_percentage"])
        if share > tolerated:
            raise IncompleteWindow(
                f"{len(failed)} of {len(items)} shards wrote no partial state ({share:.1f}% > "
                f"{tolerated}% tolerated): {len(skipped)} capture objects unread; no report written"
            )
        sharded = {
            "run_id": run_id,
            "shards": len(items),
            "failed_shards": [int(item["shard"]) for item in failed],
            "skipped_objects": len(skipped),
            "skipped_keys": skipped,
        }
        return monitor.report(
            window,
            scan,
            objects=int(plan["objects"]) - len(skipped),
            scan_seconds=time.perf_counter() - started,
            sharded=sharded,
        )

    def _put(self, key: str, value: Any) -> None:
        self._s3.put_object(
            Bucket=self.monitor.bucket,
            Key=key,
            Body=json.dumps(value).encode(),
            ContentType="application/json",
        )

    def _get(self, key: str) -> Any:
        return json.loads(self._s3.get_object(Bucket=self.monitor.bucket, Key=key)["Body"].read())


def _run_id(value: Any) -> str:
    if not isinstance(value, str) or not RUN_ID.match(value):
        raise InvalidInput(
            "1 problem in the event",
            [Problem("letters, digits, _ . - (at most 80)", field="run_id")],
        )
    return value
