"""The JSON and HTML reports are written under reports/<name>/ and the HTML is well-formed and
self-contained (no scripts, no external resources), with one chart per feature."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

from embedded_aws.provision import LocalStack
from modelops.monitoring.html import COUNTER_MEANINGS
from tests.monitoring.conftest import WINDOW_START, CaptureWriter, churn, make_monitor
from tests.monitoring.test_retraining import window

VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "line", "circle", "path"}


class StrictParser(HTMLParser):
    """Checks every element is closed in order, and collects what must not be there."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in {"src", "href"} or (
                value and ("http://" in value or "https://" in value) and name != "xmlns"
            ):
                self.external.append(f"{tag} {name}={value}")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()


def test_reports_are_written_and_the_html_is_well_formed_and_self_contained(
    local_stack: LocalStack, writer: CaptureWriter, s3: Any, bucket: str
) -> None:
    frame = churn(600, seed=60, numeric_shift=25.0)
    ids = writer.predictions(frame)
    writer.feedback(ids[:300], frame["churned"].tolist()[:300], received=WINDOW_START)
    # The window an hour earlier has a report, the one before an unreadable one.
    earlier = {
        "model": {"name": "churn", "version": 1},
        "window": window(-1).as_dict(),
        "status": "OK",
        "performance": {"primary_metric": "roc_auc", "metrics": {"roc_auc": 0.81}, "baseline": {}},
    }
    for hours, body in ((-1, json.dumps(earlier).encode()), (-2, b"<html>")):
        key = f"reports/churn/windows/2026/11/26/{window(hours).key}/report.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    report = make_monitor(local_stack, RETRAINING_ENABLED="false").run(window())
    prefix = "reports/churn/windows/2026/11/26/20261126T120000Z-20261126T130000Z/"
    assert report["reports"] == {
        "json": f"s3://{bucket}/{prefix}report.json",
        "html": f"s3://{bucket}/{prefix}report.html",
    }

    stored = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "report.json")["Body"].read())
    assert stored["status"] == report["status"] and stored["counts"] == report["counts"]
    assert set(stored["drift"]["features"]) == set(report["drift"]["features"])
    # the trend: the earlier window, then this one; the unreadable report left out
    performance = report["performance"]
    assert [p["window"] for p in stored["trend"]] == [window(-1).as_dict(), window().as_dict()]
    assert stored["trend"][0]["realized"] == 0.81
    assert stored["trend"][1]["realized"] == performance["metrics"]["roc_auc"]
    assert stored["trend"][1]["status"] == report["status"]
    # the confusion matrix counts every evaluated row once, true class by row
    matrix = performance["confusion_matrix"]
    assert matrix["labels"] == ["no", "yes"]
    assert sum(map(sum, matrix["matrix"])) == performance["evaluated"] == 300
    truth = frame["churned"].tolist()[:300]
    assert [sum(row) for row in matrix["matrix"]] == [truth.count("no"), truth.count("yes")]
    # every counter the monitor writes has its meaning in the report
    assert all(COUNTER_MEANINGS.get(name) for name in report["counts"])

    html_object = s3.get_object(Bucket=bucket, Key=prefix + "report.html")
    assert html_object["ContentType"].startswith("text/html")
    page = html_object["Body"].read().decode()
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert parser.external == []
    # trend, drift scores, one distribution per feature plus the predictions, and the
    # metrics where higher is better and where lower is better on two charts
    features = report["drift"]["features"]
    assert parser.tags.count("svg") == 1 + 1 + len(features) + 1 + 2
    assert "monthly_charges" in page and "roc_auc" in page and report["status"] in page

    # Every chart is strict XML (SVG), with one bar per value: each metric of the performance
    # charts has a baseline and a current bar, each with its tooltip.
    svgs = [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", page, flags=re.DOTALL)]
    assert len(svgs) == parser.tags.count("svg")
    ns = "{http://www.w3.org/2000/svg}"
    metric_charts = [s for s in svgs if (s.get("aria-label") or "").startswith("Metrics where")]
    metrics = report["performance"]["metrics"]
    bars = [
        r for c in metric_charts for r in c.iter(f"{ns}rect") if r.find(f"{ns}title") is not None
    ]
    assert len(bars) == 2 * len(metrics)
    assert all(
        float(r.get("height", "nan")) >= 0 and float(r.get("width", "nan")) >= 0 for r in bars
    )
