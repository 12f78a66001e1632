"""The monitor's settings, validated once from the environment (template.yaml passes the
stack's parameters); an invalid value fails the cold start with a message naming it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from modelops.config import StackSettings, env_choice, env_float, env_int, env_str
from modelops.errors import ConfigurationError
from modelops.monitoring.drift import DriftThresholds
from modelops.monitoring.performance import PerformanceThresholds
from modelops.monitoring.retraining import RetrainingSettings
from modelops.monitoring.statistics import KS_EXACT_MAX_N
from modelops.monitoring.window import ScanSettings


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
