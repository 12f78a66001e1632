"""The report's champion-vs-challenger section: both versions side by side, the test against
the margin and the decision in words, from the `rollout` block the monitor writes."""

from __future__ import annotations

import re
from html import unescape

import pytest

from modelops.monitoring.html import render_html
from modelops.monitoring.html_rollout import difference_chart, rollout_section
from tests.monitoring.report_samples import rich_report, rollout_block


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def row(html: str, name: str) -> list[str]:
    """The cells of the side-by-side table's row `name`."""
    match = re.search(rf"<tr><th>{re.escape(name)}</th>(.*?)</tr>", html)
    assert match, name
    return re.findall(r"<td[^>]*>(.*?)</td>", match.group(1))


def test_no_challenger_no_section() -> None:
    assert rollout_section(None) == [] and rollout_section({}) == []
    assert "Champion vs challenger" not in render_html(rich_report())


def test_a_promotion_side_by_side_with_its_reasons() -> None:
    report = {**rich_report(), "rollout": rollout_block("promoted")}
    html = render_html(report)
    text = text_of(html)
    assert "Champion vs challenger" in text
    assert "PROMOTED v2 against champion v1: the challenger is now the champion." in text
    assert "Why: the challenger is not worse: roc_auc 0.7115 vs champion 0.2703" in text
    assert "runs in shadow since 2026-11-30T18:20:40.000Z" in text
    assert "no client ever received its answer" in text
    assert "predicted alike on 41.2% of the rows" in text
    assert row(html, "labeled rows compared") == ["960", "960", "0"]
    assert row(html, "roc_auc (primary, decides)") == ["0.2703", "0.7115", "+0.4412 (better)"]
    # Lower is better for log loss: a smaller value is the better one.
    assert row(html, "log_loss") == ["1.21", "0.61", "-0.6 (better)"]
    assert row(html, "f1") == ["0.41", "0.39", "-0.02 (worse)"]
    assert row(html, "scoring time per request, p50 (ms)") == ["0.412", "0.388", "-0.024 (better)"]
    assert row(html, "scoring time per request, p95 (ms)") == ["0.9", "1.02", "+0.12 (worse)"]
    assert row(html, "rows it failed to score") == ["0", "0", "0"]
    assert "Paired bootstrap of roc_auc (higher is better): 1,000 resamples of 960" in text
    assert "above +0.3881 and below +0.4956" in text
    assert "promote when the lower bound is at least −0.01" in text
    assert "once at least 200 labeled rows were seen" in text
    assert "61 rows only the champion got right, 430 only the challenger; p = < 0.0001" in text


def test_a_rejection_reads_as_one() -> None:
    html = "\n".join(rollout_section(rollout_block("rejected")))
    text = text_of(html)
    assert "REJECTED v3 against champion v2: the challenger was removed" in text
    assert row(html, "roc_auc (primary, decides)") == ["0.7184", "0.527", "-0.1914 (worse)"]
    assert "above -0.2394 and below -0.1486" in text


def test_too_few_labels_says_how_many_are_needed() -> None:
    block = rollout_block("promoted")
    block["outcome"]["action"] = "observing"
    statistics = block["decision"]["statistics"]
    del statistics["test"], statistics["mcnemar"]
    statistics["labeled_rows"] = {"champion": 199, "challenger": 199}
    text = text_of("\n".join(rollout_section(block)))
    assert "OBSERVING" in text and "no decision yet" in text
    assert "Not run: 199 labeled rows of the 200 the rule needs." in text
    assert "<svg" not in "\n".join(rollout_section(block))


def test_a_canary_is_described_as_answering_clients() -> None:
    block = {**rollout_block("promoted"), "mode": "canary", "weight": 0.1}
    text = text_of("\n".join(rollout_section(block)))
    assert "runs as a canary" in text and "sticky 10.0% of the inference ids" in text
    assert "no client ever received" not in text


def test_a_failed_judgement_and_hostile_text_are_shown_escaped() -> None:
    html = "\n".join(rollout_section({"error": "KeyError: '<script>'"}))
    assert "could not be judged" in html and "<script>" not in html and "&lt;script&gt;" in html
    block = rollout_block("rejected")
    block["decision"]["reason"] = "<img src=x onerror=alert(1)>"
    assert "<img" not in "\n".join(rollout_section(block))


def _x(svg: str, pattern: str) -> float:
    match = re.search(pattern, svg)
    assert match, pattern
    return float(match.group(1))


@pytest.mark.parametrize(
    ("difference", "lower", "upper", "lower_clears_margin"),
    [(0.0, -0.0099, 0.01, True), (0.0, -0.0101, 0.01, False), (-0.3, -0.4, -0.2, False)],
)
def test_the_chart_puts_the_bound_against_the_margin(
    difference: float, lower: float, upper: float, lower_clears_margin: bool
) -> None:
    svg = difference_chart(difference, lower, upper, 0.01)
    margin_x = _x(svg, r'<line x1="([\d.]+)"[^>]*stroke-dasharray')
    whisker_from = _x(svg, r'<line x1="([\d.]+)"[^>]*stroke-width="4"')
    assert (whisker_from >= margin_x) is lower_clears_margin
    assert difference_chart(None, None, None, 0.01) == ""
