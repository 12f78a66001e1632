"""BatchScoringFunction: the steps of BatchScoringStateMachine (plan, score an item, finish).

Thin on purpose: modelops.scoring does the work. Started by the state machine only; a run
starts with `modelops score` or StartExecution (docs/SCORING.md).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelops.observability import logger, metrics, tracer
from modelops.scoring.service import BatchScoring

scoring = BatchScoring.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = scoring.handle(event)
    logger.info("batch scoring step", extra={"action": event.get("action"), "result": result})
    return result
