"""Train, check and publish a model: the job's programmatic API (the CLI is a thin shell on it).

    from modelops.registry import ModelRegistry
    from modelops_train.api import TrainOptions, train_and_publish

    result = train_and_publish(
        TrainOptions(data="churn.csv", target="churned", model_name="churn"),
        registry=ModelRegistry("my-bucket"),
    )
    result.version, result.promoted, result.metrics, result.as_json()

Phases: load, validate, fit, evaluate, export, parity, then publish and promote. Nothing is
published unless every earlier phase passed. `train` stops before publishing (tests and
benchmarks use it); `publish_trained` publishes what `train` produced.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from modelops.baseline import build_baseline
from modelops.config import validate_model_name
from modelops.errors import Problem, RolloutError
from modelops.inference import OnnxModel
from modelops.metrics import (
    GREATER_IS_BETTER,
    METRICS_BY_TASK,
    compute_metrics,
    metric_direction,
    primary_metric,
)
from modelops.registry import (
    CHAMPION,
    ROLLOUT_MODES,
    Challenger,
    ChallengerStage,
    ModelRegistry,
    PublishedVersion,
    RolloutRule,
)
from modelops.schema import METADATA_FORMAT_VERSION, FeatureKind, ModelSchema, PrimaryMetric, Task
from modelops.tags import validate_description, validate_tags
from modelops_train.calibration import fit_calibration
from modelops_train.data import TrainingDataSource, as_source
from modelops_train.errors import InvalidTrainingData, UsageError
from modelops_train.importance import check_drift_thresholds, feature_importance
from modelops_train.parity import DEFAULT_TOLERANCE, ParityReport, check_parity
from modelops_train.pipeline import (
    ESTIMATORS,
    align_thresholds_to_float32,
    build_pipeline,
    estimator_parameters,
    export_onnx,
)
from modelops_train.progress import Progress
from modelops_train.promotion import PROMOTE_MODES, PromotionDecision, decide
from modelops_train.spec import (
    MIN_ROWS,
    MIN_ROWS_FLOOR,
    MIN_ROWS_PER_CLASS,
    MIN_ROWS_PER_CLASS_FLOOR,
    DatasetSpec,
    feature_frame,
    fingerprint,
    numeric_values,
    resolve_spec,
    target_values,
)

_LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy", "pandas")


@dataclass(frozen=True)
class TrainOptions:
    """What to train. `target`, `task`, `features` and `categorical` are inferred when None
    (the feedback source suggests them from the champion's metadata)."""

    data: str | Path | pd.DataFrame | TrainingDataSource
    model_name: str
    target: str | None = None
    task: Task | str | None = None
    categorical: Sequence[str] | None = None
    features: Sequence[str] | None = None
    # Features requests may leave out (imputed) even though the training data had them all.
    optional: Sequence[str] | None = None
    seed: int = 0
    promote: str = "challenger"
    rollout_mode: str = "shadow"  # how a challenger earns its traffic (promote "challenger")
    canary_weight: float | None = None  # share of traffic a canary answers (default 0.1)
    estimator: str = "hgb"
    holdout_fraction: float = 0.2
    primary_metric: str | None = None  # default: modelops.metrics.primary_metric(task)
    promotion_tolerance: float = 0.0
    parity_tolerance: float = DEFAULT_TOLERANCE
    actor: str | None = None
    min_rows: int = MIN_ROWS
    min_rows_per_class: int = MIN_ROWS_PER_CLASS
    # Per-feature drift thresholds the monitor uses for this version ({feature: {psi: 0.3}}).
    drift_thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # recorded in metadata.json; `modelops models tag` changes them later (modelops.tags)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None

    def check(self) -> None:
        """Usage errors, found before any data is read."""
        validate_model_name(self.model_name)
        if self.task is not None and str(self.task) not in {t.value for t in Task}:
            raise UsageError(
                f"task must be one of {', '.join(t.value for t in Task)}, got {self.task!r}"
            )
        if self.promote not in PROMOTE_MODES:
            raise UsageError(
                f"promote must be one of {', '.join(PROMOTE_MODES)}, got {self.promote!r}"
            )
        if self.rollout_mode not in ROLLOUT_MODES:
            raise UsageError(
                f"rollout mode must be one of {', '.join(ROLLOUT_MODES)}, got {self.rollout_mode!r}"
            )
        if self.canary_weight is not None and not 0 < self.canary_weight <= 1:
            raise UsageError(f"canary weight must be in (0, 1], got {self.canary_weight}")
        if self.estimator not in ESTIMATORS:
            raise UsageError(
                f"estimator must be one of {', '.join(ESTIMATORS)}, got {self.estimator!r}"
            )
        if not 0.05 <= self.holdout_fraction <= 0.5:
            raise UsageError(
                f"holdout fraction must be between 0.05 and 0.5, got {self.holdout_fraction}"
            )
        if self.primary_metric is not None and self.primary_metric not in GREATER_IS_BETTER:
            raise UsageError(
                f"unknown metric {self.primary_metric!r}; known: {', '.join(sorted(GREATER_IS_BETTER))}"
            )
        if self.promotion_tolerance < 0 or self.parity_tolerance < 0:
            raise UsageError("tolerances must be >= 0")
        if self.min_rows < MIN_ROWS_FLOOR or self.min_rows_per_class < MIN_ROWS_PER_CLASS_FLOOR:
            raise UsageError(
                f"--min-rows must be >= {MIN_ROWS_FLOOR} and --min-rows-per-class >= "
                f"{MIN_ROWS_PER_CLASS_FLOOR}, got {self.min_rows} and {self.min_rows_per_class}"
            )
        try:
            validate_tags(self.tags)
            validate_description(self.description)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


@dataclass(frozen=True)
class TrainedModel:
    """A fitted, evaluated, exported and parity-checked model, not yet published."""

    model_name: str
    spec: DatasetSpec
    onnx_bytes: bytes
    metadata: dict[str, Any]
    metrics: dict[str, float]
    primary_metric: PrimaryMetric
    holdout: pd.DataFrame  # raw holdout rows (all columns), for the promotion gate
    y_holdout: np.ndarray
    parity: ParityReport

    @property
    def schema(self) -> ModelSchema:
        return self.spec.schema


@dataclass(frozen=True)
class TrainResult:
    model_name: str
    version: int
    promoted: bool
    metrics: dict[str, float]
    primary_metric: PrimaryMetric
    promotion: PromotionDecision
    published: PublishedVersion
    bucket: str
    data_uri: str
    rows: int
    timings: dict[str, float] = field(default_factory=dict)
    challenger: Challenger | None = None

    @property
    def promotion_rejected(self) -> bool:
        """auto mode compared and lost: published, but not champion (CLI exit code 5)."""
        return self.promotion.mode == "auto" and not self.promoted

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "version": self.version,
            "promoted": self.promoted,
            "metrics": self.metrics,
            "primary_metric": {
                "name": self.primary_metric.name,
                "greater_is_better": self.primary_metric.greater_is_better,
            },
            "promotion": {
                "mode": self.promotion.mode,
                "reason": self.promotion.reason,
                "champion_version": self.version
                if self.promoted
                else self.promotion.champion_version,
            },
            "challenger": None
            if self.challenger is None
            else {
                "version": self.challenger.version,
                "mode": self.challenger.mode,
                "weight": self.challenger.weight,
                "champion_version": self.challenger.champion_version,
            },
            "location": f"s3://{self.bucket}/{self.published.model_key.rsplit('/', 1)[0]}/",
            "sha256": self.published.sha256,
            "data": {"uri": self.data_uri, "rows": self.rows},
            "timings_seconds": self.timings,
        }

    def as_json(self) -> str:
        """The one result line of contracts section 7."""
        return json.dumps(self.as_dict(), sort_keys=True, allow_nan=False)


def train_and_publish(
    options: TrainOptions, *, registry: ModelRegistry, progress: Progress | None = None
) -> TrainResult:
    """Train, check, publish and (per options.promote) promote. Raises InvalidTrainingData,
    ParityError (nothing published), StaleAliasError (published, alias unchanged)."""
    progress = progress or Progress()
    trained = train(options, progress=progress)
    return publish_trained(
        trained,
        registry=registry,
        promote=options.promote,
        tolerance=options.promotion_tolerance,
        actor=options.actor,
        progress=progress,
        rollout_mode=options.rollout_mode,
        canary_weight=options.canary_weight,
    )


def train(options: TrainOptions, *, progress: Progress | None = None) -> TrainedModel:
    """Every phase up to and including the parity gate; publishes nothing."""
    options.check()
    progress = progress or Progress()
    started = _utc_now()
    with progress.phase("load") as notes:
        source = as_source(options.data)
        data = source.load()
        frame = data.frame
        notes.append(f"{len(frame)} rows, {len(frame.columns)} columns from {data.uri}")
    with progress.phase("validate") as notes:
        spec = resolve_spec(
            frame,
            target=options.target or data.target,
            task=options.task,
            features=options.features if options.features is not None else data.features,
            categorical=options.categorical
            if options.categorical is not None
            else data.categorical,
            optional=options.optional if options.optional is not None else data.optional,
            min_rows=options.min_rows,
            min_rows_per_class=options.min_rows_per_class,
        )
        metric = (
            metric_direction(options.primary_metric)
            if options.primary_metric
            else primary_metric(spec.task)
        )
        if metric.name not in METRICS_BY_TASK[spec.task]:
            raise UsageError(
                f"metric {metric.name!r} does not apply to a {spec.task} model; "
                f"choose one of {', '.join(METRICS_BY_TASK[spec.task])}"
            )
        y = target_values(frame, spec)
        notes.append(f"{spec.task} on {len(spec.features)} features, target {spec.target!r}")
    with progress.phase("fit") as notes:
        positions = np.arange(len(frame))
        train_idx, holdout_idx = train_test_split(
            positions,
            test_size=options.holdout_fraction,
            random_state=options.seed,
            stratify=y if spec.task.is_classification else None,
        )
        train_idx, holdout_idx = np.sort(train_idx), np.sort(holdout_idx)
        x_all = feature_frame(frame, spec.schema)
        data_sha256 = fingerprint(x_all, y)
        x_train, x_holdout = x_all.iloc[train_idx], x_all.iloc[holdout_idx]
        y_train, y_holdout = y[train_idx], y[holdout_idx]
        pipeline = build_pipeline(spec.schema, estimator=options.estimator, seed=options.seed)
        pipeline.fit(
            x_train, y_train.astype(np.float64) if spec.task is Task.REGRESSION else y_train
        )
        align_thresholds_to_float32(pipeline)
        if spec.task.is_classification:
            # The model's classes, in its output order (scikit-learn sorts them like we do).
            spec = DatasetSpec(
                spec.target, spec.task, spec.features, tuple(_plain(c) for c in pipeline.classes_)
            )
        notes.append(f"{type(pipeline.named_steps['model']).__name__} on {len(train_idx)} rows")
    calibration: dict[str, Any] = {}
    with progress.phase("evaluate") as notes:
        if spec.task.is_classification:
            probabilities = pipeline.predict_proba(x_holdout)
            # predict() of these classifiers is the argmax of predict_proba: one pass, not two.
            # (The parity gate still compares ONNX labels with predict() itself.)
            predicted = np.asarray(spec.classes, dtype=object)[probabilities.argmax(axis=1)]
            metrics = compute_metrics(
                spec.task,
                y_holdout,
                labels=predicted,
                probabilities=probabilities,
                classes=spec.classes,
            )
            # For estimating performance on unlabeled windows (the monitor's CBPE).
            calibration = {
                "calibration": fit_calibration(
                    probabilities, y_holdout, spec.classes or ()
                ).as_metadata()
            }
        else:
            predicted = np.asarray(pipeline.predict(x_holdout), dtype=np.float64)
            metrics = compute_metrics(spec.task, y_holdout, values=predicted)
        notes.append(
            ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            + f" on {len(holdout_idx)} holdout rows"
        )
    with progress.phase("importance") as notes:
        importance = feature_importance(
            pipeline,
            x_holdout,
            y_holdout,
            task=spec.task,
            classes=spec.classes,
            metric=metric,
            seed=options.seed,
        )
        top = sorted(importance["shares"].items(), key=lambda kv: -kv[1])[:3]
        notes.append("most important: " + ", ".join(f"{k} {v:.0%}" for k, v in top))
        drift_thresholds = check_drift_thresholds(
            options.drift_thresholds, [f.name for f in spec.features]
        )
    with progress.phase("export") as notes:
        onnx_bytes = export_onnx(pipeline, spec.schema)
        notes.append(f"{len(onnx_bytes)} bytes")
    with progress.phase("parity") as notes:
        onnx_model = OnnxModel(onnx_bytes, spec.schema)
        parity = check_parity(pipeline, onnx_model, x_holdout, tolerance=options.parity_tolerance)
        notes.append(
            f"max abs diff {parity.max_abs_diff:.2g} over {parity.rows + parity.synthetic_rows} rows"
        )
    with progress.phase("baseline"):
        # Numeric features as the client sends them (float64, not the model's float32) and
        # predictions as the service answers them (ONNX): the monitor compares windows of
        # exactly these representations, so values on a bin edge stay in their bin.
        served = onnx_model.predict_columns(
            {f.name: x_holdout[f.name].to_numpy() for f in spec.features}
        )
        baseline = build_baseline(
            {
                f.name: numeric_values(frame[f.name].iloc[train_idx])
                if f.kind is FeatureKind.NUMERIC
                else x_train[f.name].to_numpy()
                for f in spec.features
            },
            {f.name: f.kind for f in spec.features},
            predictions=served.labels
            if spec.task.is_classification
            else np.asarray(served.values, dtype=np.float64),
            prediction_kind=FeatureKind.CATEGORICAL
            if spec.task.is_classification
            else FeatureKind.NUMERIC,
            performance=metrics,
        )
    metadata = {
        **spec.schema.as_metadata(),
        "format_version": METADATA_FORMAT_VERSION,
        "target": spec.target,
        "tags": dict(options.tags),
        "description": options.description,
        "metrics": metrics,
        "primary_metric": {"name": metric.name, "greater_is_better": metric.greater_is_better},
        "baseline": baseline,
        **calibration,
        "feature_importance": importance,
        **({"drift_thresholds": drift_thresholds} if drift_thresholds else {}),
        "parity": parity.as_metadata(),
        "parameters": {
            "estimator": options.estimator,
            "model": estimator_parameters(pipeline),
            "seed": options.seed,
            "holdout_fraction": options.holdout_fraction,
        },
        "lineage": {
            "data_uri": data.uri,
            "data_sha256": data_sha256,
            "rows": len(frame),
            "train_rows": len(train_idx),
            "holdout_rows": len(holdout_idx),
            "seed": options.seed,
            **({"source": data.details} if data.details else {}),
        },
        "libraries": _library_versions(),
        "training": {
            "started_at": started,
            "finished_at": _utc_now(),
            "phase_seconds": dict(progress.timings),
        },
    }
    _refuse_non_json(metadata)
    return TrainedModel(
        model_name=options.model_name,
        spec=spec,
        onnx_bytes=onnx_bytes,
        metadata=metadata,
        metrics=metrics,
        primary_metric=metric,
        holdout=frame.iloc[holdout_idx],
        y_holdout=y_holdout,
        parity=parity,
    )


def publish_trained(
    trained: TrainedModel,
    *,
    registry: ModelRegistry,
    promote: str = "auto",
    tolerance: float = 0.0,
    actor: str | None = None,
    progress: Progress | None = None,
    rollout_mode: str = "shadow",
    canary_weight: float | None = None,
) -> TrainResult:
    """Decide promotion (reads the champion first), publish the version, then promote by CAS
    (or, with promote "challenger", start its rollout against the champion)."""
    progress = progress or Progress()
    with progress.phase("compare") as notes:
        decision = decide(
            mode=promote,
            registry=registry,
            model_name=trained.model_name,
            metric=trained.primary_metric,
            candidate_score=trained.metrics[trained.primary_metric.name],
            holdout=trained.holdout,
            y_true=trained.y_holdout,
            tolerance=tolerance,
        )
        notes.append(decision.reason)
    with progress.phase("publish") as notes:
        metadata = {**trained.metadata, "promotion_decision": decision.as_metadata()}
        published = registry.publish(trained.model_name, trained.onnx_bytes, metadata, actor=actor)
        notes.append(f"version {published.version} at s3://{registry.bucket}/{published.model_key}")
    challenger: Challenger | None = None
    with progress.phase("promote") as notes:
        if decision.promote:
            registry.set_alias(
                trained.model_name,
                CHAMPION,
                published.version,
                expected=decision.champion_state,
                reason=decision.reason,
                actor=actor,
                details=decision.as_metadata(),
            )
            notes.append(f"version {published.version} is champion")
        elif decision.challenge:
            challenger = _start_challenger(
                registry, published.version, trained, decision, rollout_mode, canary_weight, actor
            )
            notes.append(
                f"version {published.version} is the challenger ({challenger.mode}, weight "
                f"{challenger.weight:g}) of champion v{challenger.champion_version}"
            )
        else:
            notes.append(f"not promoted: {decision.reason}")
    lineage = trained.metadata["lineage"]
    return TrainResult(
        model_name=trained.model_name,
        version=published.version,
        promoted=decision.promote,
        metrics=trained.metrics,
        primary_metric=trained.primary_metric,
        promotion=decision,
        published=published,
        bucket=registry.bucket,
        data_uri=lineage["data_uri"],
        rows=lineage["rows"],
        timings=dict(progress.timings),
        challenger=challenger,
    )


def _refuse_non_json(metadata: dict[str, Any]) -> None:
    """The last check before anything is published (and a version number reserved):
    metadata.json is strict JSON, so every number in it must be finite."""
    bad = list(_non_finite_paths(metadata, ""))
    if bad:
        raise InvalidTrainingData(
            "invalid training data: the model's metadata would hold infinite or NaN numbers",
            [
                Problem(f"{path} is {value}: values this large cannot be measured; rescale them")
                for path, value in bad[:20]
            ],
        )


def _non_finite_paths(value: Any, path: str) -> Iterator[tuple[str, float]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite_paths(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _non_finite_paths(item, f"{path}[{i}]")
    elif isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        yield path, float(value)


def _start_challenger(
    registry: ModelRegistry,
    version: int,
    trained: TrainedModel,
    decision: PromotionDecision,
    mode: str,
    weight: float | None,
    actor: str | None,
) -> Challenger:
    """The new version replaces any running challenger: it was trained on newer data."""
    try:
        return ChallengerStage(registry).start(
            trained.model_name,
            version,
            mode=mode,
            weight=weight,
            rule=RolloutRule(),
            reason=decision.reason,
            replace=True,
            actor=actor,
        )
    except RolloutError as exc:
        raise UsageError(str(exc)) from None


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (JSON metadata, class labels)."""
    return value.item() if isinstance(value, np.generic) else value


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
