"""The report's "Champion vs challenger" section: the running challenger against the champion
on this window's requests, side by side, and the monitor's decision in words.

From the report's `rollout` block (modelops.rollout.evidence): each version's metrics on
the labeled rows (the same rows in shadow), prediction agreement, scoring time, failures,
the test with its bounds against the margin, and what was decided and why. Absent for a
window without a challenger; a block of an earlier format shows what it has.
"""

from __future__ import annotations

from typing import Any

from modelops.metrics import GREATER_IS_BETTER
from modelops.monitoring.charts import e, num, p_value, share, svg

_ACTIONS = {
    "promoted": ("PROMOTED", "#2e7d32", "the challenger is now the champion"),
    "rejected": ("REJECTED", "#b71c1c", "the challenger was removed; the champion never moved"),
    "observing": ("OBSERVING", "#616161", "no decision yet: the rollout goes on"),
    "already-decided": ("DECIDED ELSEWHERE", "#616161", "another run decided this rollout"),
}


def rollout_section(rollout: dict[str, Any] | None) -> list[str]:
    if not rollout:
        return []
    parts = ["<h2>Champion vs challenger</h2>"]
    if rollout.get("error"):
        return [
            *parts,
            f"<p>The running challenger could not be judged on this window: "
            f"{e(rollout['error'])}. Nothing was changed; the next window tries again.</p>",
        ]
    decision = rollout.get("decision") or {}
    stats = decision.get("statistics") or {}
    outcome = rollout.get("outcome") or {}
    champion, challenger = rollout.get("champion_version"), rollout.get("challenger_version")
    parts.append(_how_it_ran(rollout, stats))
    label, color, meaning = _ACTIONS.get(
        str(outcome.get("action")), (str(outcome.get("action")).upper(), "#616161", "")
    )
    why = decision.get("reason")
    parts.append(
        f'<p><span class="badge" style="background:{color}">{e(label)}</span> '
        f"v{e(challenger)} against champion v{e(champion)}: {e(meaning)}. "
        f"<b>Why:</b> {e(why)}</p>"
    )
    if outcome.get("reason") and outcome.get("reason") != why:
        parts.append(f"<p class=muted>Applied: {e(outcome['reason'])}</p>")
    comparison = rollout.get("comparison")
    if comparison:
        parts.append(_side_by_side(comparison, stats))
    parts += _test(stats, rollout.get("rule") or {})
    return parts


def _how_it_ran(rollout: dict[str, Any], stats: dict[str, Any]) -> str:
    mode, weight = rollout.get("mode"), rollout.get("weight")
    challenger = f"v{e(rollout.get('challenger_version'))}"
    since = f" since {e(rollout.get('started_at'))}" if rollout.get("started_at") else ""
    if mode == "shadow":
        how = (
            f"Challenger {challenger} runs in <b>shadow</b>{since}: it scored the rows of "
            f"{share(weight)} of the inference ids beside champion v"
            f"{e(rollout.get('champion_version'))}, and no client ever received its answer. Both "
            "outputs were captured under the same inference id, so the two versions are "
            "compared on the very same requests (a paired comparison)."
        )
    else:
        how = (
            f"Challenger {challenger} runs as a <b>canary</b>{since}: it answered the clients "
            f"of a sticky {share(weight)} of the inference ids (a retried request lands on "
            "the same version); each version is measured on the rows it answered (an "
            "unpaired comparison)."
        )
    agreement = stats.get("agreement")
    if agreement is not None:
        how += f" The two predicted alike on {share(agreement)} of the rows both scored."
    return f"<p>{how} Rows of this window served under the rollout: {num(rollout.get('rows'))}.</p>"


def _side_by_side(comparison: dict[str, Any], stats: dict[str, Any]) -> str:
    a, b = comparison.get("champion") or {}, comparison.get("challenger") or {}
    primary = stats.get("metric")
    rows = [
        _row("labeled rows compared", a.get("labeled_rows"), b.get("labeled_rows"), None),
    ]
    metrics_a, metrics_b = a.get("metrics") or {}, b.get("metrics") or {}
    for name in [*metrics_a, *(n for n in metrics_b if n not in metrics_a)]:
        title = f"{name} (primary, decides)" if name == primary else name
        rows.append(
            _row(title, metrics_a.get(name), metrics_b.get(name), GREATER_IS_BETTER.get(name))
        )
    latency_a, latency_b = a.get("latency_ms") or {}, b.get("latency_ms") or {}
    for q in ("p50", "p95"):
        rows.append(
            _row(
                f"scoring time per request, {q} (ms)",
                latency_a.get(q),
                latency_b.get(q),
                False,
            )
        )
    rows.append(_row("rows it failed to score", a.get("errors"), b.get("errors"), False))
    header = (
        f"<tr><th></th><th>champion v{e(a.get('version'))}</th>"
        f"<th>challenger v{e(b.get('version'))}</th><th>challenger − champion</th></tr>"
    )
    note = (
        "<p class=muted>Metrics on the labeled rows each version scored (in shadow, the same "
        "rows). Scoring time: the model's own time for one request, without network or "
        "capture, over the window's requests. A champion failure fails the request, so it is "
        "never captured: see the function's Errors metric.</p>"
    )
    return f"<table>{header}{''.join(rows)}</table>{note}"


def _row(name: str, a: Any, b: Any, greater_is_better: bool | None) -> str:
    difference = ""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        d = b - a
        verdict = ""
        if greater_is_better is not None and d != 0:
            better = d > 0 if greater_is_better else d < 0
            verdict = " (better)" if better else " (worse)"
        difference = f"{'+' if d > 0 else ''}{num(d)}{verdict}"
    return (
        f"<tr><th>{e(name)}</th><td class=n>{num(a)}</td><td class=n>{num(b)}</td>"
        f"<td class=n>{e(difference)}</td></tr>"
    )


def _test(stats: dict[str, Any], rule: dict[str, Any]) -> list[str]:
    test = stats.get("test")
    margin, confidence = stats.get("margin"), stats.get("confidence")
    rows = stats.get("labeled_rows") or {}
    needed = rule.get("min_labeled_rows")
    parts = ["<h3>The test</h3>"]
    if not test:
        seen = min(rows.values()) if rows else 0
        parts.append(
            f"<p>Not run: {num(seen)} labeled rows"
            + (f" of the {num(needed)} the rule needs" if needed else "")
            + ". Labels arrive as feedback; the next window counts them again.</p>"
        )
        return parts
    metric = stats.get("metric")
    direction = "higher" if stats.get("greater_is_better", True) else "lower"
    kind = test.get("kind", "bootstrap")
    how = (
        "rows are resampled with both versions' predictions kept together"
        if kind == "paired bootstrap"
        else "each version's rows are resampled on their own"
    )
    parts.append(
        f"<p>{e(kind).capitalize()} of {e(metric)} ({direction} is better): "
        f"{num(test.get('resamples'))} resamples of {num(test.get('rows'))} labeled rows; {how}. "
        f"The difference is oriented so that positive means the challenger is better: "
        f"<b>{_signed(test.get('difference'))}</b> ({e(metric)} {num(test.get('challenger'))} "
        f"vs {num(test.get('champion'))}); with {share(confidence)} confidence it lies "
        f"above {_signed(test.get('lower'))} and below {_signed(test.get('upper'))}.</p>"
    )
    parts.append(
        difference_chart(test.get("difference"), test.get("lower"), test.get("upper"), margin)
    )
    parts.append(
        f"<p>The rule: <b>promote</b> when the lower bound is at least −{num(margin)} (not worse "
        f"than the champion by more than the margin {num(margin)}, with {share(confidence)} "
        f"confidence); <b>reject</b> when the upper bound is below −{num(margin)} (confidently "
        "worse)"
        + (f", once at least {num(needed)} labeled rows were seen" if needed else "")
        + (
            f"; undecided after {num(rule.get('max_age_hours'))} hours: rejected"
            if rule.get("max_age_hours")
            else ""
        )
        + ".</p>"
    )
    mcnemar = stats.get("mcnemar")
    if mcnemar:
        parts.append(
            f"<p>McNemar on the predicted labels: {num(mcnemar.get('champion_only_correct'))} "
            f"rows only the champion got right, {num(mcnemar.get('challenger_only_correct'))} "
            f"only the challenger; p = {e(p_value(mcnemar.get('p_value')))} (a small p with more "
            "rows on the champion's side, by more than the margin in accuracy, rejects).</p>"
        )
    errors = stats.get("paired_errors")
    if errors:
        parts.append(
            f"<p>Paired absolute errors: the challenger errs "
            f"{num(errors.get('mean_abs_error_reduction'))} less per row on average "
            f"(p = {e(p_value(errors.get('p_value')))}, {num(errors.get('rows'))} rows).</p>"
        )
    return parts


def _signed(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "n/a"
    return f"{'+' if value > 0 else ''}{num(value)}"


def difference_chart(
    difference: float | None, lower: float | None, upper: float | None, margin: float | None
) -> str:
    """The challenger-minus-champion difference on one axis: its interval as a whisker, the
    point as a dot, zero and the −margin line that promotion needs the whisker to clear."""
    values = [v for v in (difference, lower, upper) if isinstance(v, (int, float))]
    if not values or not isinstance(margin, (int, float)):
        return ""
    low = min(*values, -margin, 0.0)
    high = max(*values, 0.0)
    pad = max(high - low, 0.01) * 0.1
    low, high = low - pad, high + pad
    left, width = 20, 520

    def x(v: float) -> float:
        return left + (v - low) / (high - low) * width

    items = [
        f'<line x1="{left}" y1="40" x2="{left + width}" y2="40" stroke="#999"/>',
        f'<line x1="{x(0):.1f}" y1="14" x2="{x(0):.1f}" y2="58" stroke="#444"/>'
        f'<text x="{x(0):.1f}" y="72" font-size="10" text-anchor="middle">0</text>',
        f'<line x1="{x(-margin):.1f}" y1="14" x2="{x(-margin):.1f}" y2="58" stroke="#b71c1c" '
        f'stroke-dasharray="4 3"/><text x="{x(-margin):.1f}" y="10" font-size="10" '
        f'text-anchor="middle" fill="#b71c1c">−margin</text>',
    ]
    if isinstance(lower, (int, float)) and isinstance(upper, (int, float)):
        items.append(
            f'<line x1="{x(lower):.1f}" y1="40" x2="{x(upper):.1f}" y2="40" stroke="#1f5fa8" '
            f'stroke-width="4"><title>bounds {num(lower)} to {num(upper)}</title></line>'
        )
    if isinstance(difference, (int, float)):
        items.append(
            f'<circle cx="{x(difference):.1f}" cy="40" r="6" fill="#1f5fa8">'
            f"<title>difference {num(difference)}</title></circle>"
        )
    items.append(
        f'<text x="{left}" y="72" font-size="10">challenger worse</text>'
        f'<text x="{left + width}" y="72" font-size="10" text-anchor="end">challenger better</text>'
    )
    return svg(left * 2 + width, 80, "".join(items), "challenger minus champion, with bounds")
