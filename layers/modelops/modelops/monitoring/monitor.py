"""The Monitor step: one window, from captured rows to report, metrics and retraining.

    settings = MonitorSettings.from_env()          # at cold start: every threshold validated
    monitor = Monitor.from_settings(settings)      # clients built once
    report = monitor.run(Window.from_event(event, window_minutes=settings.window_minutes))

`run` scans the window once into mergeable state (monitoring.scanning: feedback index,
captures, one process or several workers), turns the merged state into statistics, verdicts
and a status per model version (monitoring.analysis), acts (the running challenger's
rollout decision, retraining), and writes the JSON and HTML reports under
reports/<name>/windows/<window>/. It returns the full report; the handler returns
`summarize(report)`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from modelops import aws
from modelops.errors import UnknownModelError
from modelops.monitoring.analysis import report_prefix, window_report
from modelops.monitoring.dead_letters import count_dead_letters, replay_dead_letters
from modelops.monitoring.html import render_html
from modelops.monitoring.report import strict_json_ready, summarize
from modelops.monitoring.retraining import RetrainingTrigger
from modelops.monitoring.scanning import CAPTURE_LATENESS, cyclic_gc_paused, scan_window
from modelops.monitoring.settings import MonitorSettings
from modelops.monitoring.trend import read_trend, trend_point
from modelops.monitoring.window import Window, WindowScan
from modelops.registry import CHAMPION, ModelRegistry
from modelops.rollout.apply import RolloutApplier
from modelops.rollout.evidence import RolloutJudge, retraining_hold

__all__ = ["Monitor", "MonitorSettings"]


class Monitor:
    def __init__(
        self,
        settings: MonitorSettings,
        *,
        s3_client: Any,
        retraining: RetrainingTrigger | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        events_client: Any | None = None,
    ) -> None:
        self.settings = settings
        self.bucket = settings.stack.bucket
        self.model_name = settings.stack.model_name
        self._s3 = s3_client
        self.registry = ModelRegistry(self.bucket, s3_client=s3_client)
        self.retraining = retraining
        self._clock = clock
        # The running challenger, if any, is decided on each window (modelops.rollout).
        self.rollout = RolloutJudge(
            self.registry,
            RolloutApplier(
                self.registry,
                events_client=events_client if events_client is not None else aws.client("events"),
                event_bus=settings.retraining.event_bus if settings.retraining else "default",
            ),
            s3_client=s3_client,
            model_name=self.model_name,
            capture_lateness=CAPTURE_LATENESS,
            clock=clock,
        )

    @classmethod
    def from_settings(
        cls,
        settings: MonitorSettings,
        *,
        s3_client: Any | None = None,
        batch_client: Any | None = None,
        events_client: Any | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> Monitor:
        s3 = s3_client if s3_client is not None else aws.client("s3")
        trigger = None
        if settings.retraining is not None:
            trigger = RetrainingTrigger(
                settings.retraining,
                bucket=settings.stack.bucket,
                model_name=settings.stack.model_name,
                s3_client=s3,
                batch_client=batch_client if batch_client is not None else aws.client("batch"),
                events_client=events_client if events_client is not None else aws.client("events"),
                clock=clock,
            )
        return cls(
            settings, s3_client=s3, retraining=trigger, clock=clock, events_client=events_client
        )

    # ------------------------------------------------------------------------------------
    def scan(self, window: Window) -> tuple[WindowScan, int, float]:
        """Read feedback and the window's captures once; (scan, objects read, seconds)."""
        started = time.perf_counter()
        scan, objects = scan_window(
            self._s3,
            self.registry,
            window,
            model_name=self.model_name,
            settings=self.settings.scan,
            workers=self.settings.workers,
        )
        return scan, objects, time.perf_counter() - started

    def replay_dead_letters(self) -> dict[str, int]:
        """Move the captured records spilled to capture-dlq/<name>/ into capture/<name>/."""
        return replay_dead_letters(self._s3, self.bucket, self.model_name)

    def require_model(self) -> None:
        """Raise UnknownModelError when the registry has no version of the model: a window
        of a model that does not exist is an error, not an empty window."""
        if not self.registry.list_versions(self.model_name):
            raise UnknownModelError(
                f"model {self.model_name!r} has no published version in the registry "
                f"(s3://{self.bucket}/{ModelRegistry.model_prefix(self.model_name)}): "
                "check MODEL_NAME, or train and publish the model first"
            )

    def run(self, window: Window) -> dict[str, Any]:
        """Monitor the window; UnknownModelError (nothing written) for a model with no version."""
        self.require_model()
        scan, objects, scan_seconds = self.scan(window)
        return self.report(window, scan, objects=objects, scan_seconds=scan_seconds)

    def report(
        self,
        window: Window,
        scan: WindowScan,
        *,
        objects: int,
        scan_seconds: float,
        sharded: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """From the window's merged scan to the written report: analysis, rollout decision,
        retraining, trend, JSON and HTML. Monitor.run and MonitorStateMachine's reduce step
        (monitoring.sharded, with `sharded`: its shards and skipped objects) share it."""
        dead_letters = count_dead_letters(self._s3, self.bucket, self.model_name)
        started = time.perf_counter()
        # Paused as in the scan: the analysis builds every labeled row's output again.
        with cyclic_gc_paused():
            report = window_report(
                scan,
                self.settings,
                objects=objects,
                dead_letters=dead_letters.records,
                champion_version=self._champion_version() if not scan.versions else None,
                generated_at=self._clock(),
            )
        report["timings_seconds"] = {
            "scan": scan_seconds,
            "analysis": time.perf_counter() - started,
        }
        if sharded is not None:
            report["sharded_scan"] = sharded
        report["rollout"] = self._judge_rollout(window, report["versions"])
        report["retraining"] = self._retraining(window, report)
        report = strict_json_ready(report)
        report["trend"] = self.trend(window, report)
        report["reports"] = self.write(window, report)
        return report

    def _retraining(self, window: Window, report: dict[str, Any]) -> dict[str, Any]:
        hold = retraining_hold(report["rollout"])
        if hold:
            return {"triggered": False, "reason": hold, "job_id": None}
        if self.retraining is not None:
            return self.retraining.decide_and_act(window, summarize(_with_reports(report, None)))
        return {
            "triggered": False,
            "reason": "retraining is disabled (RETRAINING_ENABLED=false)",
            "job_id": None,
        }

    def _judge_rollout(self, window: Window, versions: dict[str, Any]) -> dict[str, Any] | None:
        """The running challenger decided on this window; a failure here is reported in the
        report (and logged by the caller's metrics), never a failed monitoring run."""
        try:
            return self.rollout.judge(window, versions)
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _champion_version(self) -> int | None:
        state = self.registry.get_alias(self.model_name, CHAMPION)
        return state.version if state else None

    def report_prefix(self, window: Window) -> str:
        return report_prefix(self.model_name, window)

    def trend(self, window: Window, report: dict[str, Any]) -> list[dict[str, Any]]:
        """The primary metric over the last windows (earlier reports' JSON), oldest first."""
        earlier = read_trend(
            self._s3,
            self.bucket,
            window,
            lambda w: self.report_prefix(w) + "report.json",
            model_name=self.model_name,
        )
        return [*earlier, trend_point(report)]

    def write(self, window: Window, report: dict[str, Any]) -> dict[str, str]:
        """report.json and report.html of the window (a re-run replaces them)."""
        prefix = self.report_prefix(window)
        locations = {
            "json": f"s3://{self.bucket}/{prefix}report.json",
            "html": f"s3://{self.bucket}/{prefix}report.html",
        }
        document = _with_reports(report, locations)
        self._s3.put_object(
            Bucket=self.bucket,
            Key=prefix + "report.json",
            Body=json.dumps(document, indent=1, allow_nan=False).encode(),
            ContentType="application/json",
        )
        self._s3.put_object(
            Bucket=self.bucket,
            Key=prefix + "report.html",
            Body=render_html(document).encode(),
            ContentType="text/html; charset=utf-8",
        )
        return locations


def _with_reports(report: dict[str, Any], locations: dict[str, str] | None) -> dict[str, Any]:
    return {**report, "reports": locations}
