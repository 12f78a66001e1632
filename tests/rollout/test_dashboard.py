"""The monitoring dashboard's champion-vs-challenger widgets chart what the monitor (and
PredictFunction) really emit: every metric a widget names, with its exact dimensions, is
one the code writes for a window with a challenger; the decisions table queries the fields
the monitor logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools import Metrics

from embedded_aws.template import resolve, resource
from modelops.monitoring.emf import publish_metrics
from modelops.observability import emit_model_metric
from modelops.rollout.evidence import decision_log
from tests.monitoring.report_samples import rich_report, rollout_block

REFS = {"AWS::Region": "eu-west-1", "AWS::StackName": "prod", "MonitorFunction": "prod-monitor"}


def dashboard() -> dict[str, Any]:
    body = resolve(resource("MonitoringDashboard")["Properties"]["DashboardBody"], REFS)
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def charted(widget: dict[str, Any]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(metric name, dimensions) of a metric widget, CloudWatch's "." and "..." expanded."""
    out = set()
    previous: list[Any] = []
    for raw in widget["properties"]["metrics"]:
        row = [item for item in raw if not isinstance(item, dict)]
        if row and row[0] == "...":
            row = previous[: len(previous) - (len(row) - 1)] + row[1:]
        row = [previous[i] if item == "." else item for i, item in enumerate(row)]
        previous = row
        namespace, name, *pairs = row
        assert namespace == "ModelOps"
        out.add((name, tuple(sorted(zip(pairs[::2], pairs[1::2], strict=True)))))
    return out


def emitted(capsys: pytest.CaptureFixture[str], report: dict[str, Any]) -> set[Any]:
    metrics = Metrics(namespace="ModelOps", service="")
    publish_metrics(metrics, report)
    metrics.flush_metrics()
    emit_model_metric("ChallengerFailures", 1, model_name="churn")  # PredictFunction's
    out = set()
    for line in capsys.readouterr().out.splitlines():
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    out.add((metric["Name"], tuple(sorted((d, str(blob[d])) for d in dimensions))))
    return out


def rollout_widgets() -> list[dict[str, Any]]:
    widgets = dashboard()["widgets"]
    start = next(i for i, w in enumerate(widgets) if "Champion vs challenger" in str(w))
    return widgets[start:]


def test_every_champion_vs_challenger_chart_shows_a_metric_the_code_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    written = emitted(capsys, {**rich_report(), "rollout": rollout_block("rejected")})
    metric_widgets = [w for w in rollout_widgets() if w["type"] == "metric"]
    assert len(metric_widgets) == 4
    for widget in metric_widgets:
        missing = charted(widget) - written
        assert not missing, f"{widget['properties']['title']}: never written: {missing}"
    both = charted(metric_widgets[0])
    assert {("RolloutPrimaryMetric", (("ModelName", "churn"), ("Role", r))) for r in
            ("champion", "challenger")} <= both  # fmt: skip


def test_no_rollout_metric_is_written_for_a_window_without_a_challenger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    written = {name for name, _ in emitted(capsys, rich_report())}
    assert not {n for n in written if n.startswith("Rollout")}


def test_the_values_are_the_reports(capsys: pytest.CaptureFixture[str]) -> None:
    block = rollout_block("rejected")
    metrics = Metrics(namespace="ModelOps", service="")
    publish_metrics(metrics, {**rich_report(), "rollout": block})
    metrics.flush_metrics()
    values: dict[tuple[str, str | None], Any] = {}
    for line in capsys.readouterr().out.splitlines():
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                values[(metric["Name"], blob.get("Role"))] = (
                    value[0] if isinstance(value, list) else value
                )
    test = block["decision"]["statistics"]["test"]
    assert values[("RolloutPrimaryMetric", "champion")] == 0.7184
    assert values[("RolloutPrimaryMetric", "challenger")] == 0.527
    assert values[("RolloutScoringLatencyP50", "challenger")] == 0.388
    assert values[("RolloutDifferenceLower", None)] == test["lower"]
    assert values[("RolloutDifferenceUpper", None)] == test["upper"]
    assert values[("RolloutAgreement", None)] == 0.4125
    assert (values[("RolloutPromotions", None)], values[("RolloutRejections", None)]) == (0, 1)


def test_the_decisions_table_reads_the_fields_the_monitor_logs() -> None:
    (log,) = [w for w in rollout_widgets() if w["type"] == "log"]
    query = log["properties"]["query"]
    assert query.startswith("SOURCE '/aws/lambda/prod-monitor' |")
    logged = decision_log(rollout_block("promoted"))
    assert logged == {
        "champion_version": 1, "challenger_version": 2, "mode": "shadow", "action": "promoted",
        "reason": rollout_block("promoted")["decision"]["reason"],
    }  # fmt: skip
    for field in logged:
        assert f"rollout.{field}" in query
    assert decision_log(None) is None and decision_log({"error": "x"}) == {"error": "x"}
