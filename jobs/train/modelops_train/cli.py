"""`modelops train`: the training job's command line, locally and as the Batch container.

    modelops train --data churn.csv --target churned --model-name churn
    modelops train --from-feedback --model-name churn [--since 2026-11-20T00:00:00Z] [--include-data s3://...]
    modelops models list|history|promote|tag|challenge|status|abort ...   (modelops_train.models_cli)

Progress goes to stderr; the result is one JSON line on stdout. Exit codes: EXIT_CODES
below (and docs/TRAINING.md).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelops.config import env_str, validate_model_name
from modelops.errors import (
    ConfigurationError,
    IntegrityError,
    ModelNotFoundError,
    RolloutError,
    StaleAliasError,
)
from modelops.registry import (
    ROLLOUT_MODES,
    ModelRegistry,
)
from modelops_train.api import TrainOptions, train_and_publish
from modelops_train.data import FileDataSource, TrainingDataSource
from modelops_train.errors import DataNotFoundError, InvalidTrainingData, ParityError, UsageError
from modelops_train.feedback import FeedbackDataSource
from modelops_train.importance import parse_drift_thresholds
from modelops_train.models_cli import add_models_commands, add_tag_flag, description_arg
from modelops_train.models_cli import run as run_models
from modelops_train.parity import DEFAULT_TOLERANCE
from modelops_train.pipeline import ESTIMATORS
from modelops_train.preflight import check_bucket
from modelops_train.progress import Progress
from modelops_train.promotion import PROMOTE_MODES
from modelops_train.score_cli import add_score_command, run_score
from modelops_train.spec import MIN_ROWS, MIN_ROWS_PER_CLASS

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2  # bad flags or configuration (MODELOPS_BUCKET unset, unknown option value)
EXIT_INVALID_DATA = 3  # data missing, unreadable or failing validation (too few rows, a text
# value in a numeric column, duplicate headers, values beyond float32); nothing published
EXIT_PARITY = 4  # ONNX does not reproduce scikit-learn; nothing published
EXIT_PROMOTION_REJECTED = 5  # published, but worse than the champion: not promoted
EXIT_STALE_ALIAS = 6  # published, but the champion changed meanwhile: not promoted, retry
EXIT_REGISTRY = 7  # the registry is inconsistent (champion missing or corrupted)

EXIT_CODES = {
    EXIT_OK: "success: the result line is on stdout",
    EXIT_UNEXPECTED: "unexpected error (a traceback is on stderr)",
    EXIT_USAGE: "usage or configuration error",
    EXIT_INVALID_DATA: "invalid or missing data (every problem listed): nothing published",
    EXIT_PARITY: "ONNX parity check failed: nothing published",
    EXIT_PROMOTION_REJECTED: "promotion rejected: published, not champion",
    EXIT_STALE_ALIAS: "champion changed concurrently: published, not champion",
    EXIT_REGISTRY: "registry inconsistent (champion metadata or model missing or corrupt)",
}


def _csv(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of column names")
    return items


def _iso_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time like 2026-11-26T13:00:00Z, got {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelops", description="serverless-modelops command line"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train, check and publish a model version",
        description="Train a model, export it to ONNX, check parity, publish it to the registry in "
        "$MODELOPS_BUCKET and (per --promote) make it the challenger or champion. "
        "See docs/TRAINING.md.",
        epilog="exit codes:\n"
        + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="training data: a .csv/.parquet path or s3:// URI")
    source.add_argument(
        "--from-feedback",
        action="store_true",
        help="train on captured inputs joined with feedback labels",
    )
    train.add_argument(
        "--model-name", required=True, help="registry name of the model (models/<name>/)"
    )
    train.add_argument(
        "--target", help="column to predict (default with --from-feedback: the champion's)"
    )
    train.add_argument(
        "--task",
        choices=["binary", "multiclass", "regression"],
        help="default: inferred from the target",
    )
    train.add_argument(
        "--features",
        type=_csv,
        help="feature columns, comma-separated (default: all but the target)",
    )
    train.add_argument(
        "--categorical",
        type=_csv,
        help="categorical features (default: the text columns, unless mostly numbers)",
    )
    train.add_argument(
        "--optional",
        type=_csv,
        help="features requests may leave out (imputed, and listed in the response), "
        "comma-separated; a feature with missing values in the data is optional anyway, "
        "every other one is required (a request without it is a 400)",
    )
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the holdout split and the estimator (default 0)",
    )
    train.add_argument(
        "--promote",
        choices=PROMOTE_MODES,
        default="challenger",
        help="challenger (default): the champion's challenger, decided on live requests "
        "(the first version becomes champion); auto: champion if at least as good on the "
        "holdout; force; never",
    )
    train.add_argument(
        "--rollout-mode",
        choices=ROLLOUT_MODES,
        default="shadow",
        help="how a challenger earns its traffic (default shadow)",
    )
    train.add_argument(
        "--canary-weight",
        type=float,
        help="share of inference ids a canary challenger answers (default 0.1)",
    )
    train.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default="hgb",
        help="hgb: HistGradientBoosting (default); linear",
    )
    train.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.2,
        help="share of rows held out for evaluation (default 0.2)",
    )
    train.add_argument(
        "--metric",
        dest="primary_metric",
        help="metric the promotion gate compares (default per task)",
    )
    train.add_argument(
        "--promotion-tolerance",
        type=float,
        default=0.0,
        help="how much worse than the champion still promotes (default 0)",
    )
    train.add_argument(
        "--parity-tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"ONNX vs scikit-learn (default {DEFAULT_TOLERANCE:g})",
    )
    train.add_argument(
        "--min-rows",
        type=int,
        default=MIN_ROWS,
        help=f"fewer rows is invalid data, nothing published (default {MIN_ROWS})",
    )
    train.add_argument(
        "--min-rows-per-class",
        type=int,
        default=MIN_ROWS_PER_CLASS,
        help=f"classification: rows every class needs (default {MIN_ROWS_PER_CLASS})",
    )
    train.add_argument(
        "--drift-threshold",
        dest="drift_thresholds",
        action="append",
        default=[],
        metavar="FEATURE=STATISTIC:VALUE",
        help="this version's own drift threshold for a feature, e.g. price=psi:0.3 "
        "(repeatable; statistics: psi, p_value, wasserstein, jensen_shannon, unseen_share, "
        "missing_share_change)",
    )
    train.add_argument(
        "--since", type=_iso_time, help="--from-feedback: only captures from this time on"
    )
    train.add_argument(
        "--until", type=_iso_time, help="--from-feedback: only captures before this time"
    )
    train.add_argument(
        "--include-data", help="--from-feedback: also train on this .csv/.parquet path or s3:// URI"
    )
    add_tag_flag(
        train,
        "--tag",
        dest="tags",
        help="a tag of the new version (repeatable); change later with `modelops models tag`",
    )
    train.add_argument(
        "--description", type=description_arg, help="a description of the new version"
    )
    add_models_commands(commands)
    add_score_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage message
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    progress = Progress()
    try:
        if args.command == "models":
            return run_models(args)  # its own errors, prefix and exit codes
        if args.command == "score":
            return run_score(args)
        return _train(args, progress)
    except (UsageError, ConfigurationError) as exc:
        return _fail(progress, EXIT_USAGE, str(exc))
    except InvalidTrainingData as exc:
        return _fail(
            progress,
            EXIT_INVALID_DATA,
            "\n  ".join([exc.message, *(_line(p) for p in exc.details())]),
        )
    except DataNotFoundError as exc:
        return _fail(progress, EXIT_INVALID_DATA, str(exc))
    except ParityError as exc:
        return _fail(progress, EXIT_PARITY, str(exc))
    except StaleAliasError as exc:
        after_training = "; the new version stays published, not champion"
        return _fail(
            progress, EXIT_STALE_ALIAS, f"{exc}{after_training if args.command == 'train' else ''}"
        )
    except RolloutError as exc:
        return _fail(progress, EXIT_USAGE, str(exc))
    except (ModelNotFoundError, IntegrityError) as exc:
        return _fail(progress, EXIT_REGISTRY, str(exc))
    except Exception as exc:  # the one catch-all: a clear last line and the documented code
        progress.note(f"unexpected {type(exc).__name__}")
        traceback.print_exc(file=sys.stderr)
        return EXIT_UNEXPECTED


def _train(args: argparse.Namespace, progress: Progress) -> int:
    model_name = validate_model_name(args.model_name)
    bucket = env_str("MODELOPS_BUCKET")
    check_bucket(bucket)  # seconds, not a whole training run, to learn it cannot publish
    registry = ModelRegistry(bucket)
    if not args.from_feedback and (args.since or args.until or args.include_data):
        raise UsageError("--since, --until and --include-data go with --from-feedback")
    data: TrainingDataSource
    if args.from_feedback:
        data = FeedbackDataSource(
            registry=registry,
            model_name=model_name,
            since=args.since,
            until=args.until,
            include_data=FileDataSource(args.include_data) if args.include_data else None,
        )
    else:
        data = FileDataSource(args.data)
    options = TrainOptions(
        data=data,
        model_name=model_name,
        target=args.target,
        task=args.task,
        categorical=args.categorical,
        features=args.features,
        optional=args.optional,
        seed=args.seed,
        promote=args.promote,
        estimator=args.estimator,
        holdout_fraction=args.holdout_fraction,
        primary_metric=args.primary_metric,
        promotion_tolerance=args.promotion_tolerance,
        parity_tolerance=args.parity_tolerance,
        min_rows=args.min_rows,
        min_rows_per_class=args.min_rows_per_class,
        drift_thresholds=parse_drift_thresholds(args.drift_thresholds)
        or (_champion_drift_thresholds(registry, model_name) if args.from_feedback else {}),
        rollout_mode=args.rollout_mode,
        canary_weight=args.canary_weight,
        tags=dict(args.tags),
        description=args.description,
    )
    result = train_and_publish(options, registry=registry, progress=progress)
    print(result.as_json(), flush=True)
    if result.promotion_rejected:
        progress.note(
            f"promotion rejected: {result.promotion.reason}; version {result.version} stays published, not champion"
        )
        return EXIT_PROMOTION_REJECTED
    return EXIT_OK


def _champion_drift_thresholds(registry: ModelRegistry, name: str) -> dict[str, Any]:
    """A retrained version keeps the champion's own drift thresholds unless flags set new ones."""
    try:
        metadata = registry.get_metadata(name, registry.resolve(name))
    except ModelNotFoundError:
        return {}
    return dict(metadata.get("drift_thresholds") or {})


def _line(problem: dict[str, object]) -> str:
    where = ", ".join(
        f"{k} {problem[k]!r}" if k == "field" else f"{k} {problem[k]}"
        for k in ("row", "field")
        if k in problem
    )
    return f"{where}: {problem['problem']}" if where else str(problem["problem"])


def _fail(progress: Progress, code: int, message: str) -> int:
    progress.note(f"error: {message}")
    return code


if __name__ == "__main__":
    sys.exit(main())
