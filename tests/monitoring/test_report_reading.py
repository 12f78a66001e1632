"""The HTML report reads without a glossary: counters and statistics explained, the verdict's
rules in words, metrics of opposite directions on separate axes, a confusion matrix, the
trend, readable bin labels; and reports of the earlier format still render sensibly."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from html import unescape
from typing import Any

import pytest

from modelops.metrics import GREATER_IS_BETTER
from modelops.monitoring.accumulators import LabeledRows
from modelops.monitoring.charts import MAX_DISPLAY_BINS, bin_labels, edge_labels, merge_bins, num
from modelops.monitoring.html import COUNTER_MEANINGS, render_html
from modelops.monitoring.performance import confusion_matrix
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task
from tests.monitoring.report_samples import legacy_report, rich_report

NS = "{http://www.w3.org/2000/svg}"


def svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", page, flags=re.DOTALL)]


def chart(page: str, label: str) -> ET.Element:
    found = [s for s in svgs(page) if s.get("aria-label") == label]
    assert len(found) == 1, f"expected one chart {label!r}, found {len(found)}"
    return found[0]


def text_of(page: str) -> str:
    """The page's visible text, tags removed, entities decoded, whitespace collapsed."""
    no_style = re.sub(r"<style>.*?</style>", " ", page, flags=re.DOTALL)
    no_style = re.sub(r"</?(b|span|code)\b[^>]*>", "", no_style)  # inline: no word break
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", no_style)))


def test_every_counter_is_shown_with_its_meaning() -> None:
    report = rich_report()
    page = render_html(report)
    table = re.search(r"<h2>What was read</h2>\s*<table>(.*?)</table>", page, flags=re.DOTALL)
    assert table is not None
    rows = re.findall(
        r"<tr><th>(\w+)</th><td class=n>([^<]*)</td><td class=muted>([^<]*)</td></tr>",
        table.group(1),
    )
    assert [r[0] for r in rows] == list(report["counts"])
    for name, value, meaning in rows:
        assert value == num(report["counts"][name])
        assert len(unescape(meaning)) > 20 and unescape(meaning) == COUNTER_MEANINGS[name]
    assert "late delivery" in COUNTER_MEANINGS["outside_window"]
    assert "other windows" in COUNTER_MEANINGS["feedback_indexed"]


def test_statistics_are_explained_under_the_feature_table() -> None:
    text = text_of(render_html(rich_report()))
    for term, words in {
        "W/std": "baseline standard deviations",
        "JS": "Jensen–Shannon",
        "test p-value": "Kolmogorov–Smirnov",
        "PSI": "population stability index",
        "importance": "permutation importance",
    }.items():
        assert re.search(rf"{re.escape(term)} [^.]*{re.escape(words)}", text), term
    # legacy reports have no importance: the legend does not explain a column that is not there
    assert "permutation importance" not in text_of(render_html(legacy_report()))


def test_the_verdict_names_every_rule_and_which_fired() -> None:
    report = rich_report()
    text = text_of(render_html(report))
    assert f"DEGRADED because {report['status_reason']}" in text
    for rule in report["drift"]["rules"]:
        tag = "FIRED" if rule["fired"] else "not fired"
        assert f"{tag} " in text and rule["detail"] in text
    assert "FIRED An important feature drifted: monthly_price" in text
    assert "not fired Share of drifted features: 2 of 12" in text
    assert "FIRED Estimated performance: estimated roc_auc 0.7204" in text
    assert "FIRED Performance on labels: roc_auc 0.7012" in text
    assert (
        "Inputs: drifted (rule fired: an important feature drifted, importance-weighted drift score)"
        in text
    )
    assert "Dataset drift: no" not in text


def test_an_earlier_report_under_a_degraded_badge_says_why_drift_did_not_count() -> None:
    report = legacy_report()
    page = render_html(report)
    text = text_of(page)
    assert "Dataset drift: no" not in text
    assert f"DEGRADED because {report['status_reason']}" in text
    assert (
        "not fired Share of drifted features: 16.7% of features drifted; the window drifts at 50.0%"
        in text
    )
    assert "Inputs: no input-drift rule fired. 2 of 12 features drifted" in text
    # nothing about fields it does not have
    assert "Estimated performance" not in text and "estimated (no labels)" not in text
    assert "Confusion matrix" not in text and "over the last" not in text
    assert "importance" not in text


def test_no_estimate_and_no_labels_are_said_plainly() -> None:
    report = rich_report()
    report["estimated_performance"] = {
        "method": None,
        "reason": "no label-free estimate is made for regression",
    }
    report["performance"] = None
    text = text_of(render_html(report))
    assert (
        "not checked Estimated performance: no label-free estimate is made for regression" in text
    )
    assert "No estimate without labels: no label-free estimate is made for regression." in text
    assert "not checked Performance on labels: no label has arrived" in text
    report["estimated_performance"] = None
    assert "not checked Estimated performance: no estimate was made" in text_of(render_html(report))


def test_metrics_of_opposite_directions_are_never_on_one_axis() -> None:
    report = rich_report()
    page = render_html(report)
    names: dict[bool, set[str]] = {}
    for higher, label in (
        (True, "Metrics where higher is better"),
        (False, "Metrics where lower is better"),
    ):
        titles = [t.text or "" for t in chart(page, label).iter(f"{NS}title")]
        names[higher] = {t.split(" ")[0] for t in titles}
        assert names[higher] and all(GREATER_IS_BETTER[n] is higher for n in names[higher])
    assert names[True] | names[False] == set(report["performance"]["metrics"])
    # every metric has a baseline and a window bar; the estimated ones a diamond with its value
    higher = chart(page, "Metrics where higher is better")
    titles = [t.text or "" for t in higher.iter(f"{NS}title")]
    assert "roc_auc baseline: 0.8163" in titles and "roc_auc window: 0.7012" in titles
    assert "roc_auc estimated: 0.7204 (0.7011 to 0.7398)" in titles
    assert "accuracy estimated: 0.6203" in titles
    # per-metric intervals when the estimate carries them
    report["estimated_performance"]["bands"] = {"accuracy": {"lower": 0.6, "upper": 0.64}}
    again = chart(render_html(report), "Metrics where higher is better")
    titles = [t.text or "" for t in again.iter(f"{NS}title")]
    assert "accuracy estimated: 0.6203 (0.6 to 0.64)" in titles and "f1 estimated: 0.5702" in titles
    assert len([r for r in higher.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]) == 2 * 3


def test_the_confusion_matrix_table_shows_counts_recall_and_precision() -> None:
    text = text_of(render_html(rich_report()))
    assert "predicted no predicted yes recall rows" in text
    # rows = true class: 700 of 1120 true "no" were predicted "no" (62.5 %)
    assert "true no 700 (62.5%) 420 (37.5%) 62.5% 1,120" in text
    assert "true yes 218 (45.4%) 262 (54.6%) 54.6% 480" in text
    # precision = right share of each predicted column: 700 / 918, 262 / 682
    assert "precision 76.3% 38.4%" in text


def test_confusion_matrix_counts_every_evaluated_row_once() -> None:
    schema = ModelSchema(
        features=(FeatureSpec("x", FeatureKind.NUMERIC),), task=Task.BINARY, classes=(0, 1)
    )
    labeled = LabeledRows(capacity=1000, seed=7)
    pairs = [(0, 0)] * 5 + [(0, 1)] * 2 + [(1, 1)] * 4 + [(1, 0)] * 1 + [(1, 2)] * 3
    for truth, predicted in pairs:
        labeled.add(truth, {"label": predicted})
    block = confusion_matrix(schema, labeled)
    # a class the schema does not name (2) is appended, never dropped
    assert block["labels"] == ["0", "1", "2"]
    assert block["matrix"] == [[5, 2, 0], [1, 4, 3], [0, 0, 0]]
    expected = Counter((str(t), str(p)) for t, p in pairs)
    for i, t in enumerate(block["labels"]):
        for j, p in enumerate(block["labels"]):
            assert block["matrix"][i][j] == expected[(t, p)]


def test_the_trend_chart_draws_realized_and_estimated_with_gaps_and_statuses() -> None:
    report = rich_report()
    trend = chart(render_html(report), "roc_auc over the last windows")
    lines = list(trend.iter(f"{NS}polyline"))
    # realized is missing in windows 3 and 4: two runs (0-2, 5-11); estimated is one run
    runs = sorted(len(line.get("points", "").split()) for line in lines)
    assert runs == [3, 7, 12]
    circles = [c.find(f"{NS}title").text for c in trend.iter(f"{NS}circle")]  # type: ignore[union-attr]
    assert sum(" realized " in (c or "") for c in circles) == 10
    assert sum(" estimated " in (c or "") for c in circles) == 12
    statuses = [t.text for r in trend.iter(f"{NS}rect") if (t := r.find(f"{NS}title")) is not None]
    assert [s.rsplit(": ", 1)[1] for s in statuses if s] == [p["status"] for p in report["trend"]]
    assert "roc_auc (higher is better)" in "".join(trend.itertext())


def test_a_trend_without_any_value_draws_no_chart() -> None:
    report = rich_report()
    for point in report["trend"]:
        point.update(realized=None, estimated=None)
    page = render_html(report)
    assert not [s for s in svgs(page) if "over the last" in (s.get("aria-label") or "")]


def _svg_texts(page: str) -> list[str]:
    # what is drawn, not the tooltips (which keep exact values)
    texts = [
        (el.text or "") + "".join(child.tail or "" for child in el)
        for s in svgs(page)
        for el in s.iter(f"{NS}text")
    ]
    return texts


def _numbers_in_svg_text(page: str) -> list[str]:
    return re.findall(r"\d[\d.,]*", " ".join(_svg_texts(page)))


def test_bin_labels_are_short_and_tell_close_edges_apart() -> None:
    page = render_html(rich_report())
    digits = [len(re.sub(r"\D", "", n).lstrip("0")) for n in _numbers_in_svg_text(page)]
    assert digits and max(digits) <= 6
    labels, tips = bin_labels(
        [19.990000000000002, 29.989999999999998, 39.99, 49.990000000000002, 50.0]
    )
    assert labels == ["≤19.99", "19.99–29.99", "29.99–39.99", "39.99–49.99", "49.99–50", ">50"]
    assert tips[-2] == "(49.99, 50]"  # tooltips: ten significant digits, no float noise
    # the bin of categories training never had is named for a reader
    drawn = " ".join(_svg_texts(page))
    assert "(new categories)" in drawn and "__unseen__" not in drawn
    assert edge_labels([0.5, 1.0]) == ["0.5", "1"]
    assert edge_labels([1.0, 1.001]) == ["1", "1.001"]
    assert edge_labels([1234.5678, 98765.4321, 1.5e6]) == ["1,235", "99k", "1.5M"]
    assert edge_labels([1.2345e-7, 2.5e-7]) == ["1.2e-7", "2.5e-7"]
    # nowhere on the page, tooltips included, a number of 11 or more digits
    assert not re.search(r"\d{11,}", text_of(page).replace(",", "").replace(".", ""))


@pytest.mark.parametrize(
    ("bins", "bars"),
    [
        (MAX_DISPLAY_BINS, MAX_DISPLAY_BINS),
        (MAX_DISPLAY_BINS + 1, MAX_DISPLAY_BINS),
        (3001, MAX_DISPLAY_BINS),
    ],
)
def test_fine_bins_are_merged_for_reading_and_keep_their_mass(bins: int, bars: int) -> None:
    edges = [float(i) for i in range(bins - 1)]
    baseline = [1.0 / bins] * bins
    current = [0.0] * (bins - 1) + [1.0]
    merged_edges, merged_baseline, merged_current = merge_bins(edges, baseline, current)
    assert len(merged_baseline) == len(merged_current) == len(merged_edges) + 1 == bars
    assert sum(merged_baseline) == pytest.approx(1.0) and merged_current[-1] == 1.0
    assert merged_edges == sorted(merged_edges) and set(merged_edges) <= set(edges)


def test_every_text_from_the_data_is_escaped() -> None:
    report = rich_report()
    report["drift"]["features"]["<script>alert(1)</script>"] = report["drift"]["features"].pop(
        "plan"
    )
    report["status_reason"] = "a <b>bold</b> & reason"
    page = render_html(report)
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        and "a &lt;b&gt;bold&lt;/b&gt; &amp; reason" in page
    )
    assert all(s is not None for s in svgs(page))


def _report_with(**changes: Any) -> dict[str, Any]:
    report = rich_report()
    report.update(changes)
    return report


def test_a_window_too_small_for_drift_renders() -> None:
    report = _report_with(
        status="INSUFFICIENT_DATA", performance=None, estimated_performance=None, trend=[]
    )
    report["drift"] = {
        "dataset_drift": False,
        "drifted_share": 0.0,
        "drifted_features": [],
        "features": {},
        "prediction": None,
    }
    text = text_of(render_html(report))
    assert "not checked Input drift: not measured: too few rows in the window" in text
    assert "Not measured: too few rows in the window for a verdict." in text
