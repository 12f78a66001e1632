"""The self-contained HTML report: inline CSS and SVG charts, no scripts, fonts or links.

Charts: drift score (PSI) per feature against its threshold; baseline against current
distribution for every feature (bins or categories) and for the predictions; the window's
metrics against the holdout baseline. Every text from the data is escaped.
"""

from __future__ import annotations

import itertools
from html import escape
from typing import Any

_COLORS = {"baseline": "#8c9eb5", "current": "#d9534f", "ok": "#5cb85c", "bar": "#337ab7"}
_STATUS_COLORS = {
    "OK": "#2e7d32",
    "DRIFT": "#e65100",
    "DEGRADED": "#b71c1c",
    "INSUFFICIENT_DATA": "#616161",
}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:16px 0 4px}
.badge{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:600}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
.feature{display:inline-block;vertical-align:top;margin:0 18px 18px 0}.muted{color:#666;font-size:12px}
.drifted{color:#b71c1c;font-weight:600}
"""


def render_html(report: dict[str, Any]) -> str:
    model = report["model"]
    window = report["window"]
    status = report["status"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(model['name'])} monitoring {_e(window['start'])} to {_e(window['end'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Model <code>{_e(model['name'])}</code> version {_e(model.get('version'))}</h1>",
        f"<p>Window {_e(window['start'])} to {_e(window['end'])} &middot; generated {_e(report.get('generated_at'))}</p>",
        f'<p><span class="badge" style="background:{_STATUS_COLORS.get(status, "#616161")}">{_e(status)}</span> '
        f"{_e(report.get('status_reason'))}</p>",
        "<h2>Counts</h2>",
        _table([(k, v) for k, v in report["counts"].items()]),
    ]
    drift = report.get("drift") or {}
    features: dict[str, Any] = drift.get("features") or {}
    parts.append("<h2>Drift</h2>")
    if features:
        parts.append(
            f"<p>Dataset drift: <b>{'yes' if drift['dataset_drift'] else 'no'}</b> &middot; "
            f"{drift['drifted_share']:.0%} of features drifted (threshold {drift.get('threshold', 0):.0%})</p>"
        )
        threshold = report.get("thresholds", {}).get("drift", {}).get("psi", 0.2)
        parts.append("<h3>Drift score (PSI) per feature</h3>")
        parts.append(
            _score_chart({n: (f["score"], f["drifted"]) for n, f in features.items()}, threshold)
        )
        parts.append(_feature_table(features))
        parts.append("<h3>Baseline and current distributions</h3>")
        for name, feature in features.items():
            parts.append(_distribution(name, feature))
        if drift.get("prediction"):
            parts.append("<h3>Predictions</h3>")
            parts.append(_distribution("prediction", drift["prediction"]))
    else:
        parts.append("<p>No drift analysis: too few rows in the window.</p>")
    parts.append("<h2>Performance</h2>")
    performance = report.get("performance")
    if performance:
        parts.append(
            f"<p>{performance['labeled']} labeled rows ({performance['label_coverage']:.1%} coverage). "
            f"{_e(performance.get('reason'))}</p>"
        )
        parts.append(
            _performance_chart(performance.get("metrics") or {}, performance.get("baseline") or {})
        )
    else:
        parts.append("<p>No labels joined this window's predictions yet.</p>")
    versions = report.get("versions") or {}
    if len(versions) > 1:
        parts.append("<h2>Model versions in the window</h2>")
        parts.append(
            _table(
                [
                    (f"v{v}", f"{b['status']}: {b['rows']} rows; {b['status_reason']}")
                    for v, b in versions.items()
                ]
            )
        )
    retraining = report.get("retraining") or {}
    parts.append("<h2>Retraining</h2>")
    parts.append(
        f"<p>Triggered: <b>{'yes' if retraining.get('triggered') else 'no'}</b>. {_e(retraining.get('reason'))}"
        + (f" Job <code>{_e(retraining['job_id'])}</code>." if retraining.get("job_id") else "")
        + "</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(rows: list[tuple[Any, Any]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _feature_table(features: dict[str, Any]) -> str:
    header = "<tr><th>feature</th><th>kind</th><th>drifted</th><th>PSI</th><th>test p-value</th><th>distance</th><th>missing share</th><th>reasons</th></tr>"
    rows = []
    for name, f in features.items():
        numeric = f["kind"] == "numeric"
        p_value = f["ks_p_value"] if numeric else f["chi2_p_value"]
        distance = (
            f"W/std {f['wasserstein_normalized']:.3g}"
            if numeric
            else f"JS {f['jensen_shannon']:.3g}"
        )
        missing = f["missing_share"]
        cls = ' class="drifted"' if f["drifted"] else ""
        rows.append(
            f"<tr><td{cls}>{_e(name)}</td><td>{_e(f['kind'])}</td><td{cls}>{'yes' if f['drifted'] else 'no'}</td>"
            f"<td>{f['psi']:.3g}</td><td>{p_value:.3g}</td><td>{_e(distance)}</td>"
            f"<td>{missing['baseline']:.1%} &rarr; {missing['current']:.1%}</td><td>{_e('; '.join(f['reasons']))}</td></tr>"
        )
    return f"<table>{header}{''.join(rows)}</table>"


def _score_chart(scores: dict[str, tuple[float, bool]], threshold: float) -> str:
    row_height, label_width, width = 22, 180, 420
    top = max([threshold * 1.5, *(s for s, _ in scores.values())])
    scale = width / top if top > 0 else 0.0
    height = row_height * len(scores) + 24
    items = []
    for i, (name, (score, drifted)) in enumerate(scores.items()):
        y = i * row_height + 4
        bar = max(score * scale, 1.0)
        color = _COLORS["current"] if drifted else _COLORS["ok"]
        items.append(
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end" font-size="12">{_e(name)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{bar:.1f}" height="{row_height - 6}" fill="{color}">'
            f"<title>{_e(name)}: PSI {score:.4f}</title></rect>"
            f'<text x="{label_width + bar + 4:.1f}" y="{y + 14}" font-size="11">{score:.3f}</text>'
        )
    x = label_width + threshold * scale
    items.append(
        f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 18}" stroke="#333" stroke-dasharray="4 3"/>'
        f'<text x="{x:.1f}" y="{height - 4}" font-size="11" text-anchor="middle">threshold {threshold}</text>'
    )
    return _svg(label_width + width + 60, height, "".join(items), "Drift score per feature")


def _distribution(name: str, feature: dict[str, Any]) -> str:
    if feature["kind"] == "numeric":
        edges = feature["baseline"]["bin_edges"]
        labels = _bin_labels(edges)
        baseline = feature["baseline"]["bin_shares"]
        current = feature["current"]["bin_shares"]
        if len(current) != len(baseline):
            current = [0.0] * len(baseline)
    else:
        labels = list(feature["categories"])
        baseline = feature["baseline"]["shares"]
        current = feature["current"]["shares"]
        if len(labels) > 16:  # the largest categories of either side, the rest summed
            order = sorted(range(len(labels)), key=lambda i: -max(baseline[i], current[i]))
            keep = sorted(order[:15])
            rest = [i for i in range(len(labels)) if i not in keep]
            labels = [labels[i] for i in keep] + ["(others)"]
            baseline = [baseline[i] for i in keep] + [sum(baseline[i] for i in rest)]
            current = [current[i] for i in keep] + [sum(current[i] for i in rest)]
    chart = _bars(labels, baseline, current)
    verdict = "drifted" if feature["drifted"] else "no drift"
    cls = "drifted" if feature["drifted"] else "muted"
    return (
        f'<div class="feature"><h3>{_e(name)} <span class="{cls}">({verdict}, PSI {feature["psi"]:.3f})</span></h3>'
        f"{chart}</div>"
    )


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    labels = [f"<={edges[0]:.3g}"]
    labels += [f"{a:.3g}-{b:.3g}" for a, b in itertools.pairwise(edges)]
    labels.append(f">{edges[-1]:.3g}")
    return labels


def _bars(
    labels: list[str], baseline: list[float], current: list[float], *, shares: bool = True
) -> str:
    group, height, plot_height, bottom = 26, 170, 120, 40
    width = max(group * len(labels), 120) + 50
    top = max([*baseline, *current, 1e-9])
    items = [
        f'<line x1="40" y1="{plot_height + 10}" x2="{width}" y2="{plot_height + 10}" stroke="#999"/>'
    ]
    for i, label in enumerate(labels):
        x = 42 + i * group
        for j, (series, values) in enumerate((("baseline", baseline), ("current", current))):
            h = values[i] / top * plot_height
            shown = f"{values[i]:.1%}" if shares else f"{values[i]:.4g}"
            items.append(
                f'<rect x="{x + j * 11}" y="{plot_height + 10 - h:.1f}" width="10" height="{h:.1f}" fill="{_COLORS[series]}">'
                f"<title>{_e(label)} {series}: {shown}</title></rect>"
            )
        items.append(
            f'<text x="{x + 10}" y="{plot_height + 22}" font-size="9" transform="rotate(35 {x + 10} {plot_height + 22})">'
            f"{_e(label[:14])}</text>"
        )
    items.append(
        f'<text x="2" y="16" font-size="10">{f"{top:.0%}" if shares else f"{top:.3g}"}</text>'
    )
    items.append(
        f'<rect x="{width - 150}" y="2" width="10" height="10" fill="{_COLORS["baseline"]}"/>'
        f'<text x="{width - 136}" y="11" font-size="10">baseline</text>'
        f'<rect x="{width - 80}" y="2" width="10" height="10" fill="{_COLORS["current"]}"/>'
        f'<text x="{width - 66}" y="11" font-size="10">current</text>'
    )
    return _svg(width, height + bottom - 30, "".join(items), "baseline and current distribution")


def _performance_chart(metrics: dict[str, float], baseline: dict[str, float]) -> str:
    names = [n for n in metrics if n in baseline] or list(metrics)
    if not names:
        return "<p>No metric could be computed.</p>"
    labels = names
    current = [metrics[n] for n in names]
    reference = [baseline.get(n, 0.0) for n in names]
    table = _table(
        [
            (
                n,
                f"{metrics[n]:.4f} (baseline {baseline[n]:.4f})"
                if n in baseline
                else f"{metrics[n]:.4f}",
            )
            for n in names
        ]
    )
    return _bars(labels, reference, [max(c, 0.0) for c in current], shares=False) + table


def _svg(width: float, height: float, body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{_e(title)}">{body}</svg>'
    )
