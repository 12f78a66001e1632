"""Set-up shared by `make demo`, `make api` and the end-to-end test: the first model."""

from __future__ import annotations

from embedded_aws.provision import LocalStack
from embedded_aws.template import parameter_default
from modelops.registry import CHAMPION, ModelRegistry

TRAINING_ROWS = 4000


def ensure_champion(
    stack: LocalStack, *, model_name: str | None = None, rows: int = TRAINING_ROWS, seed: int = 0
) -> int:
    """The champion's version; trains and publishes the demo churn model first if there is none,
    through the training job's own API (modelops_train.api, what `modelops train` runs)."""
    from demo.churn_data import TARGET, generate_churn
    from modelops_train.api import TrainOptions, train_and_publish

    name = model_name or str(parameter_default("ModelName"))
    registry = ModelRegistry(stack.bucket)
    champion = registry.get_alias(name, CHAMPION)
    if champion is not None:
        return champion.version
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
