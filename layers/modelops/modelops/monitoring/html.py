"""The self-contained HTML report: inline CSS and SVG charts, no scripts, fonts or links.

Read top to bottom, it answers in order: what is the verdict and which rule gave it (every
rule, fired or not, in words); what was done about it; how the model performs, measured on
labels and estimated without them, now and over the last windows (metrics where higher is
better and where lower is better on separate axes; a confusion matrix); which inputs
drifted and how (each statistic explained under its table); what was read. Every counter
and statistic carries its meaning beside it, every text from the data is escaped. Fields a
report of an earlier format lacks are left out, never shown as errors.
"""

from __future__ import annotations

from typing import Any

from modelops.metrics import GREATER_IS_BETTER
from modelops.monitoring.charts import (
    STATUS_COLORS,
    bin_labels,
    distribution_chart,
    e,
    merge_bins,
    metric_chart,
    num,
    p_value,
    score_chart,
    share,
    trend_chart,
)
from modelops.monitoring.drift import UNSEEN_BIN
from modelops.monitoring.html_rollout import rollout_section

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:16px 0 4px}
.badge{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:600}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.nw,td.n{white-space:nowrap}
.feature{display:inline-block;vertical-align:top;margin:0 18px 18px 0}.muted{color:#666;font-size:12px}
.drifted{color:#b71c1c;font-weight:600}td.small{font-size:11px;color:#444}
ul.rules{list-style:none;padding-left:0}ul.rules li{margin:4px 0;padding-left:90px;text-indent:-90px}
.tag{display:inline-block;text-indent:0;min-width:68px;text-align:center;font-size:11px;font-weight:600;padding:1px 6px;border-radius:3px;margin-right:8px}
.fired{background:#b71c1c;color:#fff}.quiet{background:#e0e0e0;color:#444}.na{background:#fff;color:#888;border:1px solid #ccc}
.explain{font-size:12px;color:#444;max-width:980px}.explain dt{font-weight:600;float:left;clear:left;width:150px}
.explain dd{margin:0 0 4px 160px}
"""

# What each counter of `counts` means, in the reader's terms.
COUNTER_MEANINGS = {
    "predictions": "predictions captured with an inference time inside the window: the rows analysed",
    "labeled": "of those, predictions whose true outcome has arrived as feedback (joined by inference id)",
    "malformed": "capture lines skipped because they are not a readable record of this model (bad JSON, a missing field, a wrong type)",
    "outside_window": "records read but not analysed because their inference time is outside the window: the window's files include the next 15 minutes' (late delivery), so some belong to the neighbouring windows. Expected, not an error",
    "unknown_version": "records served by a model version that has no metadata in the registry: skipped",
    "feedback_indexed": "labels received since the window's start hour and read to join with these predictions; most belong to other windows, so this exceeds 'labeled'",
    "feedback_malformed": "feedback lines skipped because they could not be read",
    "capture_objects": "capture files read from S3",
    "capture_dead_letters": "captured records the serving function could not deliver, waiting in capture-dlq/ for a replay (all windows, not only this one); until replayed they are missing from 'predictions'. Above 0: see docs/RELIABILITY.md",
}
_RULE_NAMES = {
    "drifted_share": "Share of drifted features",
    "important_feature": "An important feature drifted",
    "weighted_score": "Importance-weighted drift score",
    "prediction_drift": "Prediction drift",
}


def render_html(report: dict[str, Any]) -> str:
    model, window, status = report["model"], report["window"], report["status"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(model['name'])} monitoring {e(window['start'])} to {e(window['end'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Model <code>{e(model['name'])}</code> version {e(model.get('version'))}</h1>",
        f'<p class="muted">Window {e(window["start"])} to {e(window["end"])} (UTC, end excluded) &middot; '
        f"generated {e(report.get('generated_at'))}</p>",
        *_verdict(report, status),
        *rollout_section(report.get("rollout")),
        *_performance_section(report),
        *_drift_section(report.get("drift") or {}, report),
        "<h2>What was read</h2>",
        _counts_table(report.get("counts") or {}),
        *_versions(report.get("versions") or {}),
        "</body></html>",
    ]
    return "\n".join(parts)


# --------------------------------------------------------------------------------- verdict
def _verdict(report: dict[str, Any], status: str) -> list[str]:
    color = STATUS_COLORS.get(status, "#616161")
    parts = [
        "<h2>Verdict</h2>",
        f'<p><span class="badge" style="background:{color}">{e(status)}</span> '
        f"<b>because</b> {e(report.get('status_reason'))}</p>",
        "<p class=muted>Every rule checked for this window (the version that served most rows), "
        "fired or not:</p>",
        '<ul class="rules">',
    ]
    performance = report.get("performance")
    if performance:
        parts.append(
            _rule("Performance on labels", performance.get("degraded"), performance.get("reason"))
        )
    else:
        parts.append(
            _rule(
                "Performance on labels",
                None,
                "no label has arrived for this window's predictions yet",
            )
        )
    if "estimated_performance" in report:
        estimate = report.get("estimated_performance") or {}
        fired = estimate.get("degraded") if estimate.get("method") else None
        parts.append(
            _rule("Estimated performance", fired, estimate.get("reason") or "no estimate was made")
        )
    drift = report.get("drift") or {}
    if not drift.get("features"):
        parts.append(_rule("Input drift", None, "not measured: too few rows in the window"))
    elif drift.get("rules"):
        for rule in drift["rules"]:
            name = _RULE_NAMES.get(rule.get("rule"), str(rule.get("rule")))
            parts.append(_rule(name, rule.get("fired"), rule.get("detail")))
    else:  # reports written before the rules were recorded
        parts.append(
            _rule(
                "Share of drifted features",
                drift.get("dataset_drift"),
                f"{share(drift.get('drifted_share'))} of features drifted; the window drifts at "
                f"{share(drift.get('threshold'))}",
            )
        )
        prediction = drift.get("prediction")
        if prediction is not None:
            parts.append(
                _rule(
                    "Prediction drift",
                    prediction.get("drifted"),
                    "; ".join(prediction.get("reasons") or [])
                    or "the predictions' distribution is stable",
                )
            )
    parts.append("</ul>")
    retraining = report.get("retraining") or {}
    job = f" Job <code>{e(retraining['job_id'])}</code>." if retraining.get("job_id") else ""
    parts.append(
        f"<p><b>Retraining {'submitted' if retraining.get('triggered') else 'not submitted'}.</b> "
        f"{e(retraining.get('reason'))}{job}</p>"
    )
    return parts


def _rule(name: str, fired: Any, detail: Any) -> str:
    tag = (
        '<span class="tag na">not checked</span>'
        if fired is None
        else (
            '<span class="tag fired">FIRED</span>'
            if fired
            else '<span class="tag quiet">not fired</span>'
        )
    )
    return f"<li>{tag} <b>{e(name)}</b>: {e(detail)}</li>"


# ----------------------------------------------------------------------------- performance
def _performance_section(report: dict[str, Any]) -> list[str]:
    performance = report.get("performance") or {}
    estimate = report.get("estimated_performance") or {}
    parts = ["<h2>Performance</h2>"]
    trend = [p for p in report.get("trend") or [] if isinstance(p, dict) and p.get("window")]
    metric = next((p.get("metric") for p in reversed(trend) if p.get("metric")), None)
    if metric and any(
        p.get("realized") is not None or p.get("estimated") is not None for p in trend
    ):
        span = (
            f"the last {len(trend)} windows"
            if len(trend) > 1
            else "this window (no earlier report found)"
        )
        parts.append(f"<h3>{e(metric)} over {span}</h3>")
        parts.append(trend_chart(trend, metric, GREATER_IS_BETTER.get(metric)))
    if performance:
        parts.append(
            f"<p>{num(performance.get('labeled'))} of this window's predictions have their true outcome "
            f"({share(performance.get('label_coverage'))} label coverage); metrics on "
            f"{num(performance.get('evaluated'))} of them.</p>"
        )
    else:
        parts.append(
            "<p>No label has arrived for this window's predictions yet: nothing measured on labels.</p>"
        )
    if estimate.get("method"):
        band = ""
        if estimate.get("lower") is not None and estimate.get("upper") is not None:
            band = (
                f" ({share(estimate.get('confidence'))} interval {num(estimate['lower'])} to "
                f"{num(estimate['upper'])})"
            )
        parts.append(
            f"<p>Estimated without labels ({e(estimate['method'])}, from the model's calibrated "
            f"scores on {num(estimate.get('rows'))} rows): {e(estimate.get('primary_metric'))} "
            f"<b>{num(estimate.get('value'))}</b>{band}, holdout baseline {num(estimate.get('baseline'))}.</p>"
        )
    elif estimate.get("reason"):
        parts.append(f"<p>No estimate without labels: {e(estimate['reason'])}.</p>")
    parts += _metric_views(performance, estimate)
    matrix = performance.get("confusion_matrix")
    if matrix and matrix.get("labels"):
        parts.append("<h3>Confusion matrix (labeled rows)</h3>")
        parts.append(_confusion_table(matrix))
    return parts


def _metric_views(performance: dict[str, Any], estimate: dict[str, Any]) -> list[str]:
    current = performance.get("metrics") or {}
    baseline = performance.get("baseline") or {}
    estimated = (estimate.get("metrics") or {}) if estimate.get("method") else {}
    names = [n for n in current if n in baseline or n in estimated] or list(current)
    names += [n for n in estimated if n not in names]
    if not names:
        return []
    if estimate.get("method") and not baseline:
        baseline = {estimate.get("primary_metric"): estimate.get("baseline")}
    primary = performance.get("primary_metric") or estimate.get("primary_metric")
    rows = []
    for name in names:
        direction = GREATER_IS_BETTER.get(name)
        better = "" if direction is None else ("higher" if direction else "lower")
        rows.append(
            f"<tr><th>{e(name)}{' (primary)' if name == primary else ''}</th><td>{better}</td>"
            f"<td class=n>{num(baseline.get(name))}</td><td class=n>{num(current.get(name))}</td>"
            + (f"<td class=n>{num(estimated.get(name))}</td>" if estimated else "")
            + "</tr>"
        )
    header = "<th>estimated (no labels)</th>" if estimated else ""
    parts = [
        "<table><tr><th>metric</th><th>better when</th><th>holdout baseline</th>"
        f"<th>this window (labels)</th>{header}</tr>" + "".join(rows) + "</table>"
    ]
    for higher, title in ((True, "Higher is better"), (False, "Lower is better")):
        chart_rows = []
        for name in names:
            if GREATER_IS_BETTER.get(name) is not higher:
                continue
            band = None
            if name in estimated:
                # each metric's own interval when the estimate has one, else the primary's
                own = (estimate.get("bands") or {}).get(name) or (
                    estimate if name == estimate.get("primary_metric") else {}
                )
                band = (estimated[name], own.get("lower"), own.get("upper"))
            chart_rows.append((name, baseline.get(name), current.get(name), band))
        if chart_rows:
            parts.append(f'<div class="feature"><h3>{title}</h3>')
            parts.append(metric_chart(chart_rows, f"Metrics where {title.lower()}") + "</div>")
    return parts


def _confusion_table(block: dict[str, Any]) -> str:
    labels = [str(label) for label in block["labels"]]
    matrix = block["matrix"]
    column_totals = [sum(row[j] for row in matrix) for j in range(len(labels))]
    header = "".join(f"<th>predicted {e(label)}</th>" for label in labels)
    rows = []
    for i, label in enumerate(labels):
        total = sum(matrix[i])
        cells = []
        for count in matrix[i]:
            row_share = count / total if total else 0.0
            tint = f"rgba(31,95,168,{0.08 + 0.6 * row_share:.2f})" if count else "#fff"
            cells.append(
                f'<td class=n style="background:{tint}" title="{count} of {total} true {e(label)}">'
                f"{num(count)} <span class=muted>({share(row_share)})</span></td>"
            )
        recall = matrix[i][i] / total if total else None
        rows.append(
            f"<tr><th>true {e(label)}</th>{''.join(cells)}<td class=n>{share(recall)}</td><td class=n>{num(total)}</td></tr>"
        )
    precision = "".join(
        f"<td class=n>{share(matrix[j][j] / column_totals[j]) if column_totals[j] else 'n/a'}</td>"
        for j in range(len(labels))
    )
    rows.append(f"<tr><th>precision</th>{precision}<td></td><td></td></tr>")
    return (
        f"<table><tr><th></th>{header}<th>recall</th><th>rows</th></tr>{''.join(rows)}</table>"
        "<p class=muted>Rows: the true class (from feedback); columns: the class the model predicted; "
        "percentages are of the row. Recall: share of a true class predicted as itself; precision: "
        "share of a predicted class that was right.</p>"
    )


# ----------------------------------------------------------------------------------- drift
def _drift_section(drift: dict[str, Any], report: dict[str, Any]) -> list[str]:
    features: dict[str, Any] = drift.get("features") or {}
    parts = ["<h2>Input drift</h2>"]
    if not features:
        return [*parts, "<p>Not measured: too few rows in the window for a verdict.</p>"]
    fired = [
        r
        for r in drift.get("rules") or []
        if r.get("fired") and r.get("rule") != "prediction_drift"
    ]
    if drift.get("dataset_drift"):
        names = ", ".join(_RULE_NAMES.get(r.get("rule"), str(r.get("rule"))).lower() for r in fired)
        verdict = "<b>drifted</b>" + (f" (rule fired: {e(names)})" if names else "")
    else:
        verdict = "<b>no input-drift rule fired</b>"
    drifted = drift.get("drifted_features") or [n for n, f in features.items() if f.get("drifted")]
    score = drift.get("weighted_score")
    parts.append(
        f"<p>Inputs: {verdict}. {len(drifted)} of {len(features)} features drifted "
        f"({share(drift.get('drifted_share'))}; the share rule fires at {share(drift.get('threshold'))})"
        + (
            f"; importance-weighted drift score {num(score)}"
            if isinstance(score, (int, float))
            else ""
        )
        + ".</p>"
    )
    default_psi = (report.get("thresholds") or {}).get("drift", {}).get("psi", 0.2)
    order = sorted(features, key=lambda n: -(features[n].get("importance") or 0.0))
    rows = []
    for name in order:
        f = features[name]
        importance = f.get("importance")
        label = f"{name} ({share(importance)})" if isinstance(importance, (int, float)) else name
        threshold = (f.get("threshold") or {}).get("psi", default_psi)
        rows.append((label, float(f.get("psi") or 0.0), float(threshold), bool(f.get("drifted"))))
    with_importance = any(isinstance(features[n].get("importance"), (int, float)) for n in order)
    parts.append(
        "<h3>Drift score (PSI) per feature"
        + (", most important first (share of importance in brackets)" if with_importance else "")
        + "</h3>"
    )
    parts.append(score_chart(rows))
    parts.append(_feature_table(features, order, with_importance))
    parts.append(_statistics_legend(with_importance))
    parts.append("<h3>Baseline (training data) against this window</h3>")
    parts += [_distribution(name, features[name]) for name in order]
    if drift.get("prediction"):
        parts.append("<h3>The model's predictions</h3>")
        parts.append(_distribution("prediction", drift["prediction"]))
    return parts


def _feature_table(features: dict[str, Any], order: list[str], with_importance: bool) -> str:
    with_threshold = any(features[n].get("threshold") for n in order)
    header = (
        "<tr><th>feature</th>"
        + ("<th>importance</th>" if with_importance else "")
        + "<th>kind</th><th>drifted</th><th>PSI</th>"
        + ("<th>thresholds</th>" if with_threshold else "")
        + "<th>test p-value</th><th>shift size</th><th>missing share<br>baseline &rarr; window</th><th>why drifted</th></tr>"
    )
    rows = []
    for name in order:
        f = features[name]
        numeric = f["kind"] == "numeric"
        test = (
            f"KS {p_value(f.get('ks_p_value'))}"
            if numeric
            else f"chi² {p_value(f.get('chi2_p_value'))}"
        )
        size = (
            f"W/std {num(f.get('wasserstein_normalized'), 3)}"
            if numeric
            else f"JS {num(f.get('jensen_shannon'), 3)}"
        )
        missing = f.get("missing_share") or {}
        cls = ' class="drifted"' if f.get("drifted") else ""
        thresholds = ", ".join(f"{k} {num(v)}" for k, v in (f.get("threshold") or {}).items())
        rows.append(
            f"<tr><td{cls}>{e(name)}</td>"
            + (f"<td class=n>{share(f.get('importance'))}</td>" if with_importance else "")
            + f"<td>{e(f['kind'])}</td><td{cls}>{'yes' if f.get('drifted') else 'no'}</td>"
            f"<td class=n>{num(f.get('psi'), 3)}</td>"
            + (f"<td class=small>{e(thresholds) or 'defaults'}</td>" if with_threshold else "")
            + f"<td class=nw>{e(test)}</td><td class=nw>{e(size)}</td>"
            f"<td class=nw>{share(missing.get('baseline'))} &rarr; {share(missing.get('current'))}</td>"
            f"<td>{e('; '.join(f.get('reasons') or []))}</td></tr>"
        )
    return f"<table>{header}{''.join(rows)}</table>"


def _statistics_legend(with_importance: bool) -> str:
    entries = [
        (
            "PSI",
            "population stability index: how much the share of rows per bin (numeric) or per "
            "category moved from the training data. Below 0.1 stable, 0.1 to 0.2 moderate, at or above "
            "the threshold drifted.",
        ),
        (
            "test p-value",
            "KS (Kolmogorov–Smirnov, numeric) or chi² (categorical): the chance of a "
            "difference this large if nothing had changed. Small means real, not necessarily large: "
            "it counts only together with a shift size over its threshold.",
        ),
        (
            "W/std",
            "shift size of a numeric feature: the Wasserstein distance (how far values moved, "
            "on average) in baseline standard deviations. 0.5 means half a standard deviation.",
        ),
        (
            "JS",
            "shift size of a categorical feature: Jensen–Shannon distance of the category shares, "
            "0 identical to 1 no category in common.",
        ),
        (
            "missing share",
            "share of rows without a value, in the training data and in this window.",
        ),
    ]
    if with_importance:
        entries.insert(
            0,
            (
                "importance",
                "the feature's share of the model's total permutation "
                "importance on the training holdout: how much the model relies on it.",
            ),
        )
    body = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in entries)
    return f'<dl class="explain">{body}</dl>'


def _distribution(name: str, feature: dict[str, Any]) -> str:
    if feature["kind"] == "numeric":
        edges, baseline, current = merge_bins(
            list(feature["baseline"]["bin_edges"]),
            list(feature["baseline"]["bin_shares"]),
            list(feature["current"]["bin_shares"]),
        )
        if len(current) != len(baseline):
            current = [0.0] * len(baseline)
        labels, tips = bin_labels(edges)
    else:
        # the bin of categories the training data never had, named for a reader
        labels = ["(new categories)" if c == UNSEEN_BIN else str(c) for c in feature["categories"]]
        baseline = list(feature["baseline"]["shares"])
        current = list(feature["current"]["shares"])
        if len(labels) > 16:  # the largest categories of either side, the rest summed
            order = sorted(range(len(labels)), key=lambda i: -max(baseline[i], current[i]))
            keep = sorted(order[:15])
            rest = [i for i in range(len(labels)) if i not in keep]
            labels = [labels[i] for i in keep] + ["(others)"]
            baseline = [baseline[i] for i in keep] + [sum(baseline[i] for i in rest)]
            current = [current[i] for i in keep] + [sum(current[i] for i in rest)]
        tips = labels
    verdict = "drifted" if feature.get("drifted") else "no drift"
    cls = "drifted" if feature.get("drifted") else "muted"
    return (
        f'<div class="feature"><h3>{e(name)} <span class="{cls}">({verdict}, PSI {num(feature.get("psi"), 3)})</span></h3>'
        f"{distribution_chart(labels, tips, baseline, current)}</div>"
    )


# ---------------------------------------------------------------------------- what was read
def _counts_table(counts: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{e(k)}</th><td class=n>{num(v)}</td><td class=muted>{e(COUNTER_MEANINGS.get(k, ''))}</td></tr>"
        for k, v in counts.items()
    )
    return f"<table><tr><th>counter</th><th>value</th><th>meaning</th></tr>{rows}</table>"


def _versions(versions: dict[str, Any]) -> list[str]:
    if len(versions) <= 1:
        return []
    rows = "".join(
        f"<tr><th>v{e(v)}</th><td>{e(b.get('status'))}</td><td class=n>{num(b.get('rows'))}</td>"
        f"<td>{e(b.get('status_reason'))}</td></tr>"
        for v, b in versions.items()
    )
    return [
        "<h2>Model versions in the window</h2>",
        "<p class=muted>Each version's rows are compared with its own training baseline.</p>",
        f"<table><tr><th>version</th><th>status</th><th>rows</th><th>because</th></tr>{rows}</table>",
    ]
