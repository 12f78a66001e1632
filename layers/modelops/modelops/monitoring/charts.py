"""Inline SVG charts and number formats for the HTML report (no script, font or link).

Every chart is strict XML with an aria-label; every bar or point carries a <title> with its
exact value, so hovering in a browser reads the number the bar was drawn from.
"""

from __future__ import annotations

import itertools
import math
from html import escape
from typing import Any

COLORS = {
    "baseline": "#8c9eb5",
    "current": "#d9534f",
    "ok": "#5cb85c",
    "realized": "#1f5fa8",
    "estimated": "#e08a00",
    "axis": "#999",
}
STATUS_COLORS = {
    "OK": "#2e7d32",
    "DRIFT": "#e65100",
    "DEGRADED": "#b71c1c",
    "INSUFFICIENT_DATA": "#616161",
}
MAX_DISPLAY_BINS = 20  # finer baselines are merged into this many bars for reading


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def num(value: Any, digits: int = 4) -> str:
    """A number as a reader writes it: 0.8163, 1,234, 12.3k, 4.1e-9; never 17 digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e6:
        return _strip(f"{value / 1e6:.{min(digits, 3)}g}") + "M"
    if magnitude >= 1e4:
        return _strip(f"{value / 1e3:.{min(digits, 3)}g}") + "k"
    if magnitude >= 1e-3:
        decimals = max(digits - 1 - math.floor(math.log10(magnitude)), 0)
        return _strip(f"{value:,.{decimals}f}")
    mantissa, exponent = f"{value:.{max(digits - 2, 1)}e}".split("e")
    return f"{_strip(mantissa)}e{int(exponent)}"


def p_value(value: Any) -> str:
    if isinstance(value, (int, float)) and value < 1e-4:
        return "< 0.0001"
    return num(value, 2)


def share(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "n/a"
    return f"{value:.1%}" if abs(value) < 0.995 or value == 1 else f"{value:.0%}"


def _strip(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def edge_labels(edges: list[float]) -> list[str]:
    """The edges with the fewest significant digits (2 to 8) that keep them all distinct, so
    bins at 19.99 and 20 are not both called "20" and none reads 19.990000000000002."""
    for digits in range(2, 9):
        labels = [num(x, digits) for x in edges]
        if len(set(labels)) == len(labels):
            return labels
    return [repr(x) for x in edges]


def bin_labels(edges: list[float]) -> tuple[list[str], list[str]]:
    """(short axis labels, exact tooltips) of the bins (a, b] cut by `edges`."""
    if not edges:
        return ["all"], ["all values"]
    short = edge_labels(edges)
    labels = [f"≤{short[0]}"] + [f"{a}–{b}" for a, b in itertools.pairwise(short)]
    labels.append(f">{short[-1]}")
    # Ten significant digits: exact for any edge a person typed, without float noise.
    exact = [f"≤ {edges[0]:.10g}"] + [f"({a:.10g}, {b:.10g}]" for a, b in itertools.pairwise(edges)]
    exact.append(f"> {edges[-1]:.10g}")
    return labels, exact


def merge_bins(
    edges: list[float], baseline: list[float], current: list[float]
) -> tuple[list[float], list[float], list[float]]:
    """Fine bins (a few thousand quantiles) summed into at most MAX_DISPLAY_BINS bars."""
    bins = len(baseline)
    if bins <= MAX_DISPLAY_BINS:
        return edges, baseline, current
    cuts = [round(i * bins / MAX_DISPLAY_BINS) for i in range(MAX_DISPLAY_BINS + 1)]
    groups = list(itertools.pairwise(cuts))
    return (
        [edges[hi - 1] for _, hi in groups[:-1]],
        [sum(baseline[lo:hi]) for lo, hi in groups],
        [sum(current[lo:hi]) for lo, hi in groups],
    )


def svg(width: float, height: float, body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{e(title)}">{body}</svg>'
    )


def _legend(x: float, entries: list[tuple[str, str]]) -> str:
    out = []
    for label, color in entries:
        out.append(
            f'<rect x="{x:.0f}" y="2" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14:.0f}" y="11" font-size="11">{e(label)}</text>'
        )
        x += 24 + 6.5 * len(label)
    return "".join(out)


def score_chart(rows: list[tuple[str, float, float, bool]], *, what: str = "PSI") -> str:
    """Horizontal bars of a drift score per feature, each with its own threshold tick.
    rows: (label, score, threshold, drifted)."""
    row_height, label_width, width = 22, 210, 420
    top = max([1e-9, *(t * 1.5 for _, _, t, _ in rows), *(s for _, s, _, _ in rows)])
    scale = width / top
    height = row_height * len(rows) + 30
    items = [_legend(label_width, [("drifted", COLORS["current"]), ("not drifted", COLORS["ok"])])]
    items.append(
        f'<line x1="{label_width + 190}" y1="3" x2="{label_width + 190}" y2="13" stroke="#000" stroke-width="2"/>'
        f'<text x="{label_width + 196}" y="11" font-size="11">threshold</text>'
    )
    for i, (label, score, threshold, drifted) in enumerate(rows):
        y = i * row_height + 22
        bar = max(score * scale, 1.0)
        color = COLORS["current"] if drifted else COLORS["ok"]
        tick = label_width + threshold * scale
        items.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" font-size="12">{e(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{bar:.1f}" height="{row_height - 6}" fill="{color}">'
            f"<title>{e(label)}: {what} {num(score)} (threshold {num(threshold)})</title></rect>"
            f'<line x1="{tick:.1f}" y1="{y - 2}" x2="{tick:.1f}" y2="{y + row_height - 4}" stroke="#000" stroke-width="2"/>'
            f'<text x="{max(label_width + bar, tick) + 5:.1f}" y="{y + 13}" font-size="11">{num(score, 3)}</text>'
        )
    return svg(label_width + width + 60, height, "".join(items), f"{what} per feature")


def distribution_chart(
    labels: list[str], tips: list[str], baseline: list[float], current: list[float]
) -> str:
    """Baseline against current share per bin or category, side by side."""
    group, plot_height, left = 28, 120, 64  # left: room for the first rotated label
    longest = max((len(label) for label in labels), default=4)
    bottom = 16 + int(min(longest, 16) * 4.6)  # room for the rotated labels
    width = max(group * len(labels), 190) + left + 10
    top = max([*baseline, *current, 1e-9])
    base_y = plot_height + 18
    items = [
        f'<line x1="{left - 2}" y1="{base_y}" x2="{width}" y2="{base_y}" stroke="{COLORS["axis"]}"/>',
        f'<line x1="{left - 2}" y1="18" x2="{left - 2}" y2="{base_y}" stroke="{COLORS["axis"]}"/>',
        f'<text x="{left - 5}" y="26" font-size="10" text-anchor="end">{share(top)}</text>',
        f'<text x="{left - 5}" y="{base_y}" font-size="10" text-anchor="end">0</text>',
        _legend(left + 4, [("baseline", COLORS["baseline"]), ("window", COLORS["current"])]),
    ]
    for i, label in enumerate(labels):
        x = left + i * group
        for j, (series, values) in enumerate((("baseline", baseline), ("window", current))):
            h = values[i] / top * (plot_height - 4)
            items.append(
                f'<rect x="{x + 2 + j * 12}" y="{base_y - h:.1f}" width="11" height="{h:.1f}" '
                f'fill="{COLORS["baseline" if j == 0 else "current"]}">'
                f"<title>{e(tips[i])} {series}: {share(values[i])}</title></rect>"
            )
        shown = label if len(label) <= 16 else label[:15] + "…"
        tx, ty = x + 12, base_y + 12
        items.append(
            f'<text x="{tx}" y="{ty}" font-size="10" text-anchor="end" transform="rotate(-40 {tx} {ty})">'
            f"<title>{e(tips[i])}</title>{e(shown)}</text>"
        )
    return svg(width, base_y + bottom, "".join(items), "baseline and window distribution")


def metric_chart(rows: list[tuple[str, float | None, float | None, Any]], title: str) -> str:
    """Horizontal bars per metric: holdout baseline and this window, with the label-free
    estimate as a diamond and its interval as a whisker. rows: (metric, baseline, window,
    estimate) where estimate is None or (value, lower, upper)."""
    row_height, label_width, width = 46, 110, 360
    values = [v for _, b, w, est in rows for v in (b, w, *(est or ())) if v is not None]
    low = min([0.0, *values])
    high = max([1e-9, *values]) * 1.1
    scale = width / (high - low)
    zero = label_width + (0 - low) * scale
    items = [
        _legend(
            label_width,
            [("baseline (holdout)", COLORS["baseline"]), ("window (labels)", COLORS["current"])]
            + ([("estimated (no labels)", COLORS["estimated"])] if any(r[3] for r in rows) else []),
        )
    ]
    for i, (name, baseline, window, estimate) in enumerate(rows):
        y = 22 + i * row_height
        items.append(
            f'<text x="{label_width - 6}" y="{y + 20}" text-anchor="end" font-size="12">{e(name)}</text>'
        )
        for j, (series, value) in enumerate((("baseline", baseline), ("window", window))):
            if value is None:
                continue
            x0, x1 = sorted((zero, label_width + (value - low) * scale))
            items.append(
                f'<rect x="{x0:.1f}" y="{y + j * 16}" width="{max(x1 - x0, 1):.1f}" height="14" '
                f'fill="{COLORS["baseline" if j == 0 else "current"]}">'
                f"<title>{e(name)} {series}: {num(value)}</title></rect>"
                f'<text x="{x1 + 4:.1f}" y="{y + j * 16 + 11}" font-size="10">{num(value, 3)}</text>'
            )
        if estimate:
            value, lower, upper = estimate
            cx, cy = label_width + (value - low) * scale, y + 36
            tip, right = f"{e(name)} estimated: {num(value)}", cx + 8
            if lower is not None and upper is not None:
                xl, xu = label_width + (lower - low) * scale, label_width + (upper - low) * scale
                tip, right = f"{tip} ({num(lower)} to {num(upper)})", max(right, xu + 4)
                items.append(
                    f'<line x1="{xl:.1f}" y1="{cy}" x2="{xu:.1f}" y2="{cy}" stroke="{COLORS["estimated"]}" stroke-width="2"/>'
                )
            items.append(
                f'<path d="M{cx:.1f} {cy - 5} L{cx + 5:.1f} {cy} L{cx:.1f} {cy + 5} L{cx - 5:.1f} {cy} Z" '
                f'fill="{COLORS["estimated"]}"><title>{tip}</title></path>'
                f'<text x="{right:.1f}" y="{cy + 4}" font-size="10" fill="{COLORS["estimated"]}">{num(value, 3)}</text>'
            )
    height = 22 + row_height * len(rows) + 4
    return svg(label_width + width + 50, height, "".join(items), title)


def trend_chart(points: list[dict[str, Any]], metric: str, higher_is_better: bool | None) -> str:
    """The primary metric per window: realized (labels) and estimated (no labels) lines, the
    holdout baseline dotted, and each window's status as a coloured square under its time."""
    left, plot_width, plot_height, top_pad = 56, 560, 150, 24
    step = plot_width / max(len(points) - 1, 1)
    series = {
        k: [p.get(k) if isinstance(p.get(k), (int, float)) else None for p in points]
        for k in ("realized", "estimated", "baseline")
    }
    values = [v for vs in series.values() for v in vs if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max((high - low) * 0.15, 0.01)
    low, high = low - pad, high + pad

    def y_of(value: float) -> float:
        return top_pad + (high - value) / (high - low) * plot_height

    def x_of(i: int) -> float:
        return left + (i * step if len(points) > 1 else plot_width / 2)

    base_y = top_pad + plot_height
    items = [
        _legend(
            left,
            [  # only the series drawn
                (label, COLORS[key])
                for key, label in (
                    ("realized", "realized (labels)"),
                    ("estimated", "estimated (no labels)"),
                )
                if any(v is not None for v in series[key])
            ],
        ),
        f'<line x1="{left}" y1="{base_y}" x2="{left + plot_width}" y2="{base_y}" stroke="{COLORS["axis"]}"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{base_y}" stroke="{COLORS["axis"]}"/>',
    ]
    for value in (low + pad, high - pad):
        items.append(
            f'<text x="{left - 4}" y="{y_of(value) + 4:.1f}" font-size="10" text-anchor="end">{num(value, 3)}</text>'
        )
    baselines = [b for b in series["baseline"] if b is not None]
    if baselines:
        by = y_of(baselines[-1])
        items.append(
            f'<line x1="{left}" y1="{by:.1f}" x2="{left + plot_width}" y2="{by:.1f}" stroke="{COLORS["baseline"]}" stroke-dasharray="2 3">'
            f"<title>holdout baseline {num(baselines[-1])}</title></line>"
            f'<text x="{left + plot_width + 4}" y="{by + 4:.1f}" font-size="10">baseline</text>'
        )
    for key, dash in (("realized", ""), ("estimated", ' stroke-dasharray="6 3"')):
        color = COLORS[key]
        run: list[str] = []
        for i, value in enumerate([*series[key], None]):
            if value is not None:
                run.append(f"{x_of(i):.1f},{y_of(value):.1f}")
                continue
            if len(run) > 1:
                items.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
                )
            run = []
        for i, value in enumerate(series[key]):
            if value is not None:
                items.append(
                    f'<circle cx="{x_of(i):.1f}" cy="{y_of(value):.1f}" r="3.5" fill="{color}">'
                    f"<title>{e(points[i]['window']['end'])} {key} {e(metric)}: {num(value)}</title></circle>"
                )
    label_every = max(1, math.ceil(len(points) / 6))
    for i, point in enumerate(points):
        status = str(point.get("status"))
        items.append(
            f'<rect x="{x_of(i) - 4:.1f}" y="{base_y + 5}" width="8" height="8" fill="{STATUS_COLORS.get(status, "#999")}">'
            f"<title>window ending {e(point['window']['end'])}: {e(status)}</title></rect>"
        )
        if (len(points) - 1 - i) % label_every == 0:  # counted from the newest: it is labelled
            items.append(
                f'<text x="{x_of(i):.1f}" y="{base_y + 26}" font-size="10" text-anchor="middle">'
                f"{e(_short_time(point['window']['end']))}</text>"
            )
    direction = (
        ""
        if higher_is_better is None
        else (" (higher is better)" if higher_is_better else " (lower is better)")
    )
    items.append(
        f'<text x="{left}" y="{base_y + 42}" font-size="11">{e(metric)}{direction} per window, by window end (UTC); squares: window status</text>'
    )
    return svg(
        left + plot_width + 60, base_y + 50, "".join(items), f"{metric} over the last windows"
    )


def _short_time(iso: str) -> str:
    """2026-11-26T14:00:00Z -> 11-26 14:00."""
    text = str(iso)
    return f"{text[5:10]} {text[11:16]}" if len(text) >= 16 else text
