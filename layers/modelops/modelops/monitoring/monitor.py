"""The Monitor step: one window, from captured rows to report, metrics and retraining.

    settings = MonitorSettings.from_env()          # at cold start: every threshold validated
    monitor = Monitor.from_settings(settings)      # clients built once
    report = monitor.run(Window.from_event(event, window_minutes=settings.window_minutes))

`run` reads the feedback index, streams the window's captures once, computes drift and
performance per model version, decides the status, acts (retraining), and writes the JSON
and HTML reports under reports/<name>/windows/<window>/. It returns the full report; the
handler returns `summarize(report)`.
"""

from __future__ import annotations

import functools
import gc
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from modelops import aws
from modelops.config import StackSettings, env_choice, env_float, env_int, env_str
from modelops.errors import ConfigurationError, UnknownModelError
from modelops.estimation.verdict import estimated_performance
from modelops.monitoring.dead_letters import count_dead_letters, replay_dead_letters
from modelops.monitoring.drift import DriftThresholds
from modelops.monitoring.html import render_html
from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.objects import (
    iso_millis,
    iter_line_batches,
    list_partition_keys,
    prefetched,
)
from modelops.monitoring.parallel import run_forked
from modelops.monitoring.performance import PerformanceThresholds, evaluate
from modelops.monitoring.report import (
    REPORT_FORMAT_VERSION,
    Status,
    overall_status,
    strict_json_ready,
    summarize,
    version_status,
)
from modelops.monitoring.retraining import RetrainingSettings, RetrainingTrigger
from modelops.monitoring.statistics import KS_EXACT_MAX_N
from modelops.monitoring.trend import read_trend, trend_point
from modelops.monitoring.verdict import version_drift
from modelops.monitoring.window import ScanSettings, ScanState, VersionWindow, Window, WindowScan
from modelops.registry import CHAMPION, ModelRegistry
from modelops.rollout.apply import RolloutApplier
from modelops.rollout.evidence import RolloutJudge

# Records are delivered to the hour partition of their arrival, which can trail the
# inference time by the delivery stream's buffer (at most 15 minutes on Firehose).
CAPTURE_LATENESS = timedelta(minutes=15)


@dataclass(frozen=True)
class MonitorSettings:
    stack: StackSettings
    window_minutes: int = 60
    min_rows: int = 200
    workers: int = 1
    drift: DriftThresholds = field(default_factory=DriftThresholds)
    performance: PerformanceThresholds = field(default_factory=PerformanceThresholds)
    scan: ScanSettings = field(default_factory=ScanSettings)
    retraining: RetrainingSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MonitorSettings:
        """Every setting from the environment (template.yaml passes the stack's parameters)."""
        defaults = DriftThresholds()
        drift = DriftThresholds(
            psi=env_float("DRIFT_PSI_THRESHOLD", env, default=defaults.psi, minimum=0.0),
            p_value=env_float(
                "DRIFT_P_VALUE", env, default=defaults.p_value, minimum=0.0, maximum=1.0
            ),
            wasserstein=env_float(
                "DRIFT_WASSERSTEIN_THRESHOLD", env, default=defaults.wasserstein, minimum=0.0
            ),
            jensen_shannon=env_float(
                "DRIFT_JS_THRESHOLD", env, default=defaults.jensen_shannon, minimum=0.0, maximum=1.0
            ),
            unseen_share=env_float(
                "DRIFT_UNSEEN_SHARE", env, default=defaults.unseen_share, minimum=0.0, maximum=1.0
            ),
            missing_share_change=env_float(
                "DRIFT_MISSING_SHARE_CHANGE",
                env,
                default=defaults.missing_share_change,
                minimum=0.0,
                maximum=1.0,
            ),
            drifted_share=env_float(
                "DRIFT_SHARE_THRESHOLD",
                env,
                default=defaults.drifted_share,
                minimum=0.0,
                maximum=1.0,
            ),
            top_features=env_int(
                "DRIFT_TOP_FEATURES", env, default=defaults.top_features, minimum=0
            ),
            weighted_score=env_float(
                "DRIFT_WEIGHTED_SCORE_THRESHOLD",
                env,
                default=defaults.weighted_score,
                minimum=0.0,
                maximum=1.0,
            ),
        )
        performance = PerformanceThresholds(
            tolerance=env_float(
                "PERFORMANCE_TOLERANCE", env, default=PerformanceThresholds.tolerance, minimum=0.0
            ),
            min_labeled=env_int(
                "MONITOR_MIN_LABELED_ROWS",
                env,
                default=PerformanceThresholds.min_labeled,
                minimum=1,
            ),
        )
        sample_size = env_int(
            "MONITOR_SAMPLE_SIZE", env, default=ScanSettings.sample_size, minimum=10
        )
        if sample_size > KS_EXACT_MAX_N:
            raise ConfigurationError(
                f"environment variable MONITOR_SAMPLE_SIZE must be <= {KS_EXACT_MAX_N}, got {sample_size}"
            )
        scan = ScanSettings(
            sample_size=sample_size,
            max_labeled_rows=env_int(
                "MONITOR_MAX_LABELED_ROWS", env, default=ScanSettings.max_labeled_rows, minimum=1
            ),
        )
        retraining = None
        if env_choice("RETRAINING_ENABLED", ("true", "false"), env, default="true") == "true":
            retraining = RetrainingSettings(
                enabled=True,
                job_queue=env_str("TRAINING_JOB_QUEUE", env),
                job_definition=env_str("TRAINING_JOB_DEFINITION", env),
                cooldown=timedelta(
                    hours=env_float("RETRAINING_COOLDOWN_HOURS", env, default=24.0, minimum=0.0)
                ),
                lookback=timedelta(
                    days=env_float("RETRAINING_LOOKBACK_DAYS", env, default=30.0, minimum=0.01)
                ),
                event_bus=env_str("RETRAINING_EVENT_BUS", env, default="default"),
                include_data=env_str("RETRAINING_INCLUDE_DATA", env, default="") or None,
                promote=env_choice(
                    "RETRAINING_PROMOTE", ("challenger", "auto"), env, default="challenger"
                ),
            )
        return cls(
            stack=StackSettings.from_env(env),
            window_minutes=env_int("MONITOR_WINDOW_MINUTES", env, default=60, minimum=1),
            workers=env_int("MONITOR_WORKERS", env, default=1, minimum=1),
            min_rows=env_int("MONITOR_MIN_ROWS", env, default=200, minimum=1),
            drift=drift,
            performance=performance,
            scan=scan,
            retraining=retraining,
        )


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
        with cyclic_gc_paused():
            feedback = FeedbackIndex.load(self._s3, self.bucket, self.model_name, window.start)
        scan = WindowScan(
            window=window,
            model_name=self.model_name,
            feedback=feedback,
            load_metadata=functools.cache(lambda v: self.registry.get_metadata(self.model_name, v)),
            settings=self.settings.scan,
        )
        keys = list(
            list_partition_keys(
                self._s3,
                self.bucket,
                f"capture/{self.model_name}/",
                window.start,
                window.end + CAPTURE_LATENESS,
            )
        )
        workers = min(self.settings.workers, len(keys))
        if workers <= 1:
            _scan_objects(scan, self._s3, self.bucket, keys)
        else:
            # Objects are split round-robin over forked workers (they inherit the feedback
            # index); each sends back its mergeable state, whose merge equals a single pass.
            groups = [keys[i::workers] for i in range(workers)]
            for state in run_forked(
                _scan_worker, [(scan, self.bucket, group, i + 1) for i, group in enumerate(groups)]
            ):
                scan.merge(state)
        return scan, len(keys), time.perf_counter() - started

    def analyse_version(self, part: VersionWindow) -> dict[str, Any]:
        """Drift, performance and status of one version's rows."""
        drift = (
            version_drift(part, self.settings.drift)
            if part.rows >= self.settings.min_rows
            else None
        )
        performance = evaluate(
            part.schema,
            part.labeled,
            rows=part.rows,
            baseline=part.baseline.get("performance") or part.metadata.get("metrics") or {},
            thresholds=self.settings.performance,
        )
        estimate = estimated_performance(
            part.schema.task,
            part.estimation,
            baseline=part.baseline.get("performance") or part.metadata.get("metrics") or {},
            tolerance=self.settings.performance.tolerance,
            unavailable=part.estimation_unavailable,
        )
        # The estimate decides only while labels are too few for the realized metric to.
        estimate["used_for_status"] = (
            performance is None or performance["labeled"] < self.settings.performance.min_labeled
        )
        status, reason = version_status(
            rows=part.rows,
            min_rows=self.settings.min_rows,
            drift=drift,
            performance=performance,
            estimate=estimate if estimate["used_for_status"] else None,
        )
        return {
            "version": part.version,
            "status": status.value,
            "status_reason": reason,
            "rows": part.rows,
            "labeled": part.labeled.seen,
            "task": part.schema.task.value,
            "drift": drift,
            "performance": performance,
            "estimated_performance": estimate,
        }

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
        dead_letters = count_dead_letters(self._s3, self.bucket, self.model_name)
        started = time.perf_counter()
        versions = {str(v): self.analyse_version(part) for v, part in sorted(scan.versions.items())}
        statuses = [Status(b["status"]) for b in versions.values()]
        status = overall_status(statuses)
        primary = (
            max(versions.values(), key=lambda b: (b["rows"], b["version"])) if versions else None
        )
        if primary is None:
            version = self._champion_version()
            reason = "no captured predictions in the window"
        else:
            version = primary["version"]
            reason = (
                primary["status_reason"]
                if Status(primary["status"]) is status
                else next(
                    f"version {b['version']}: {b['status_reason']}"
                    for b in versions.values()
                    if b["status"] == status.value
                )
            )
        report: dict[str, Any] = {
            "report_format_version": REPORT_FORMAT_VERSION,
            "model": {"name": self.model_name, "version": version},
            "window": window.as_dict(),
            "generated_at": iso_millis(self._clock()),
            "status": status.value,
            "status_reason": reason,
            "counts": {
                "predictions": scan.predictions,
                "labeled": scan.labeled,
                "malformed": scan.malformed,
                "outside_window": scan.outside_window,
                "unknown_version": sum(scan.unknown_version.values()),
                "feedback_indexed": len(scan.feedback),
                "feedback_malformed": scan.feedback.malformed,
                "capture_objects": objects,
                # Spilled by PredictFunction, waiting for a replay (any window).
                "capture_dead_letters": dead_letters.records,
            },
            "drift": primary["drift"] if primary and primary["drift"] else _no_drift(),
            "performance": primary["performance"] if primary else None,
            "estimated_performance": primary["estimated_performance"] if primary else None,
            "versions": versions,
            "thresholds": {
                "min_rows": self.settings.min_rows,
                "drift": asdict(self.settings.drift),
                "performance": asdict(self.settings.performance),
            },
            "timings_seconds": {"scan": scan_seconds, "analysis": time.perf_counter() - started},
        }
        report["rollout"] = self._judge_rollout(window, versions)
        observing = (report["rollout"] or {}).get("outcome", {}).get("action") == "observing"
        if observing:
            # A new version would supersede the one being compared before it is decided.
            report["retraining"] = {
                "triggered": False,
                "reason": f"challenger v{report['rollout']['challenger_version']} is being "
                "evaluated on live requests; no retraining meanwhile",
                "job_id": None,
            }
        elif self.retraining is not None:
            report["retraining"] = self.retraining.decide_and_act(
                window, summarize(_with_reports(report, None))
            )
        else:
            report["retraining"] = {
                "triggered": False,
                "reason": "retraining is disabled (RETRAINING_ENABLED=false)",
                "job_id": None,
            }
        report = strict_json_ready(report)
        report["trend"] = self.trend(window, report)
        report["reports"] = self.write(window, report)
        return report

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
        return f"reports/{self.model_name}/windows/{window.start:%Y/%m/%d}/{window.key}/"

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


def _scan_objects(scan: WindowScan, s3: Any, bucket: str, keys: list[str]) -> None:
    batches = (lines for key in keys for lines in iter_line_batches(s3, bucket, key))
    with cyclic_gc_paused():
        for lines in prefetched(batches):
            scan.add_lines(lines)


def _scan_worker(scan: WindowScan, bucket: str, keys: list[str], worker: int) -> ScanState:
    """In a forked worker: its own S3 client (connections must not be shared across a fork)
    and its own random streams for the samples."""
    aws.reset_clients()
    s3 = aws.client("s3")
    registry = ModelRegistry(bucket, s3_client=s3)
    settings = replace(scan.settings, seed=scan.settings.seed + 10_000 * worker)
    own = WindowScan(
        window=scan.window,
        model_name=scan.model_name,
        feedback=scan.feedback,
        load_metadata=functools.cache(lambda v: registry.get_metadata(scan.model_name, v)),
        settings=settings,
    )
    _scan_objects(own, s3, bucket, keys)
    return own.state()


def _with_reports(report: dict[str, Any], locations: dict[str, str] | None) -> dict[str, Any]:
    return {**report, "reports": locations}


def _no_drift() -> dict[str, Any]:
    return {
        "dataset_drift": False,
        "drifted_share": 0.0,
        "drifted_features": [],
        "weighted_score": None,
        "rules": [],
        "features": {},
        "prediction": None,
    }
