"""The report as a browser shows it: Debian's chromium, headless, renders the page a monitor
writes; the DOM it built has the verdict's words and every chart, nothing logged an error, and
the screenshot has the requested size and the report's colours (not a blank page).

chromium comes from `make browser` (run by `make test`): apt-get installs it when missing and
the user is root. Elsewhere this test skips and says how to install it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from demo.screenshot import INSTALL_HINT, find_chromium, page_errors, run_chromium
from modelops.monitoring.html import render_html
from tests.monitoring.report_samples import legacy_report, rich_report, rollout_block

WIDTH, HEIGHT = 1100, 1500


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = find_chromium()
    if binary is None:
        pytest.skip(INSTALL_HINT)
    result = run_chromium(binary, tmp_path / "profile", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.mark.parametrize("build", [rich_report, legacy_report], ids=["current", "earlier-format"])
def test_chromium_builds_the_dom_the_report_promises(
    tmp_path: Path, build: Callable[[], dict[str, Any]]
) -> None:
    report = build()
    source = render_html(report)
    page = tmp_path / "report.html"
    page.write_text(source, encoding="utf-8")
    result = run(tmp_path, "--dump-dom", page.as_uri())
    dom = result.stdout
    assert page_errors(result.stderr) == []
    assert "<script" not in dom and "parsererror" not in dom
    # every inline chart survived the browser's parser as SVG
    assert dom.count("<svg") == source.count("<svg") >= 5
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    assert "DEGRADED" in text and "because" in text and "What was read" in text
    assert "late delivery" in text  # counters explained
    if build is rich_report:
        assert "An important feature drifted" in text and "Confusion matrix" in text
    else:
        assert "Share of drifted features" in text and "Confusion matrix" not in text


def test_chromium_shows_champion_and_challenger_side_by_side(tmp_path: Path) -> None:
    source = render_html({**rich_report(), "rollout": rollout_block("rejected")})
    page = tmp_path / "report.html"
    page.write_text(source, encoding="utf-8")
    result = run(tmp_path, "--dump-dom", page.as_uri())
    assert page_errors(result.stderr) == []
    dom = result.stdout
    assert dom.count("<svg") == source.count("<svg")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    # The section comes right after the verdict, before the window's own performance.
    assert (
        dom.index("<h2>Verdict")
        < dom.index("<h2>Champion vs challenger")
        < dom.index("<h2>Performance")
    )
    assert "REJECTED v3 against champion v2" in text
    assert "champion v2 challenger v3 challenger − champion" in text
    assert "roc_auc (primary, decides) 0.7184 0.527 -0.1914 (worse)" in text
    assert "with 95.0% confidence it lies above -0.2394 and below -0.1486" in text
    assert 'aria-label="challenger minus champion, with bounds"' in dom


def test_the_screenshot_is_the_requested_size_and_shows_the_report(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(rich_report()), encoding="utf-8")
    shot = tmp_path / "report.png"
    result = run(tmp_path, f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", page.as_uri())
    assert page_errors(result.stderr) == []
    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    colors = image.getcolors(maxcolors=WIDTH * HEIGHT) or []
    counts = {rgb: n for n, rgb in colors}
    white = counts.get((255, 255, 255), 0)
    assert 0.5 < white / (WIDTH * HEIGHT) < 0.97, "the page is blank or a solid colour"
    assert len(counts) > 50  # text anti-aliasing and charts, not a flat fill
    # the DEGRADED badge and the trend's realized line are painted, in their colours
    assert counts.get((0xB7, 0x1C, 0x1C), 0) > 500
    assert counts.get((0x1F, 0x5F, 0xA8), 0) > 100
    # the badge is at the top, where a reader looks first
    top = image.crop((0, 0, WIDTH, 300)).getcolors(maxcolors=WIDTH * 300) or []
    assert any(rgb == (0xB7, 0x1C, 0x1C) and n > 500 for n, rgb in top)
