"""MonitorFunction: the scheduled (EventBridge) and directly invoked monitor of one window.

Thin on purpose: settings are validated and clients built once per execution environment;
`Monitor.run` does the work (modelops.monitoring). A scheduled event monitors the last
complete window before its `time`; `{"window": {"start", "end"}}` monitors that window.
Returns the report's summary; an invalid event raises InvalidInput (errorType InvalidInput).
`{"action": "replay-capture-dead-letters"}` moves captured records that PredictFunction
spilled to capture-dlq/<name>/ back into capture/<name>/ and returns how many.
A model with no published version raises UnknownModelError on direct invocation (a
workflow can Catch that errorType); on a schedule it is logged as an error and returns
{"status": "ERROR", ...} without writing a report (a retry would fail the same way; the
MonitorNotRunningAlarm then says no window was reported).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from modelops.errors import UnknownModelError
from modelops.monitoring.dead_letters import is_replay_event
from modelops.monitoring.emf import publish_metrics
from modelops.monitoring.monitor import Monitor, MonitorSettings
from modelops.monitoring.report import summarize
from modelops.monitoring.sharded import ShardedMonitor, ShardingSettings, is_step
from modelops.monitoring.window import Window
from modelops.observability import logger, metrics, tracer
from modelops.rollout.evidence import decision_log

settings = MonitorSettings.from_env()
monitor = Monitor.from_settings(settings)
sharded = ShardedMonitor(monitor, ShardingSettings.from_env())


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_replay_event(event):
        replayed = monitor.replay_dead_letters()
        logger.info("capture dead letters replayed", extra=replayed)
        return {"replayed": replayed}
    if is_step(event):  # a step of MonitorStateMachine (plan, partial, reduce)
        return _step(event)
    window = Window.from_event(event, window_minutes=settings.window_minutes)
    logger.append_keys(window=window.as_dict())
    try:
        if "window" not in event:
            # Scheduled: a window of more capture objects than MONITOR_SHARD_THRESHOLD goes
            # to MonitorStateMachine (docs/MONITORING.md, "Windows of any size").
            delegated = sharded.delegate(window)
            if delegated is not None:
                logger.info("window handed to the state machine", extra=delegated)
                return delegated
        report = monitor.run(window)
    except UnknownModelError as error:
        if "window" in event:
            raise
        logger.error("window not monitored", extra={"error": str(error)})
        return {"status": "ERROR", "error": {"type": "UnknownModelError", "message": str(error)}}
    publish_metrics(metrics, report)
    summary = summarize(report)
    logger.info(
        "window monitored",
        extra={
            "status": summary["status"],
            "counts": summary["counts"],
            "retraining": summary["retraining"],
            "rollout": decision_log(summary.get("rollout")),
        },
    )
    return summary


def _step(event: dict[str, Any]) -> dict[str, Any]:
    result = sharded.handle(event)
    if event["action"] != "reduce":
        logger.info("monitor step", extra={"action": event["action"], "result": result})
        return result
    publish_metrics(metrics, result)
    summary = summarize(result)
    logger.info(
        "window monitored", extra={"status": summary["status"], "sharded": result["sharded_scan"]}
    )
    return {
        **summary,
        "sharded_scan": {k: v for k, v in result["sharded_scan"].items() if k != "skipped_keys"},
    }
