"""PreTrafficHookFunction: CodeDeploy's BeforeAllowTraffic hook of the stack's functions.

Thin on purpose: modelops.rollout.pretraffic invokes the new version, compares its answer
with the champion's and reports Succeeded or Failed to CodeDeploy; a Failed stops the
deployment before any traffic reaches the new code.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelops import aws
from modelops.config import env_str
from modelops.observability import logger
from modelops.registry import ModelRegistry
from modelops.rollout.pretraffic import FEEDBACK, MONITOR, PREDICT, PreTrafficCheck

check = PreTrafficCheck(
    functions={
        kind: os.environ[variable]
        for kind, variable in (
            (PREDICT, "PREDICT_FUNCTION"),
            (FEEDBACK, "FEEDBACK_FUNCTION"),
            (MONITOR, "MONITOR_FUNCTION"),
        )
        if os.environ.get(variable)
    },
    registry=ModelRegistry(env_str("MODELOPS_BUCKET")),
    model_name=env_str("MODEL_NAME"),
    codedeploy_client=aws.client("codedeploy"),
    lambda_client=aws.client("lambda"),
)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = check.run(event)
    logger.info("pre-traffic check", extra=result)
    return result
