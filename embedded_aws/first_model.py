"""The model a local stack serves: the demo churn model, or the user's own, trained from a
file by the training job's own command line (what `make api DATA=... TARGET=...` runs)."""

from __future__ import annotations

from collections.abc import Sequence

from embedded_aws.lambda_runtime import environment
from embedded_aws.provision import LocalStack
from embedded_aws.template import parameter_default
from modelops.registry import CHAMPION, ModelRegistry

TRAINING_ROWS = 4000


class ModelNotAvailableError(RuntimeError):
    """The stack's model has no champion and nothing to train it from."""


def champion_version(stack: LocalStack, model_name: str) -> int | None:
    state = ModelRegistry(stack.bucket).get_alias(model_name, CHAMPION)
    return state.version if state is not None else None


def ensure_champion(
    stack: LocalStack, *, model_name: str | None = None, rows: int = TRAINING_ROWS, seed: int = 0
) -> int:
    """The champion's version; trains and publishes the demo churn model first if there is none,
    through the training job's own API (modelops_train.api, what `modelops train` runs)."""
    from embedded_aws.churn_data import TARGET, generate_churn
    from modelops_train.api import TrainOptions, train_and_publish

    name = model_name or str(parameter_default("ModelName"))
    registry = ModelRegistry(stack.bucket)
    current = champion_version(stack, name)
    if current is not None:
        return current
    if name != parameter_default("ModelName"):
        raise ModelNotAvailableError(
            f"the local registry has no champion of model {name!r}: train it first, e.g. "
            f"`make api DATA=my.csv TARGET=<column> MODEL={name}`"
        )
    result = train_and_publish(
        TrainOptions(
            data=generate_churn(rows, seed=seed),
            target=TARGET,
            model_name=name,
            seed=seed,
            promote="auto",
        ),
        registry=registry,
    )
    if not result.promoted:
        raise RuntimeError(
            f"the first {name} model (v{result.version}) was not promoted: {result.promotion.reason}"
        )
    return result.version


def train_from_file(
    stack: LocalStack,
    *,
    model_name: str,
    data: str,
    target: str,
    train_args: Sequence[str] = (),
) -> int:
    """Run `modelops train --data DATA --target TARGET --model-name NAME [train_args]` against
    the stack's bucket, in this process; returns the champion's version afterwards. Every flag
    of `modelops train` works in `train_args`; its progress and errors are its own."""
    from modelops_train.cli import main as modelops_main

    argv = ["train", "--data", data, "--target", target, "--model-name", model_name, *train_args]
    with environment({"MODELOPS_BUCKET": stack.bucket}):
        code = modelops_main(argv)
    version = champion_version(stack, model_name)
    if version is None:
        raise ModelNotAvailableError(
            f"`modelops {' '.join(argv)}` exited {code} and model {model_name!r} has no champion"
        )
    return version
