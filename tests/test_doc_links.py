"""Every link in the project's Markdown resolves to a file or folder inside the repository
(and, with a #fragment, to a heading of that file): no doc points outside it or at
something that was renamed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from embedded_aws.template import REPO_ROOT

# Tool environments, caches and build output are not the project's docs: any hidden
# directory (.git, .venv*, .aws-sam, .pytest_cache's README, ...) and these. The set of
# files so does not depend on what an earlier run left behind.
SKIP_DIRS = {"node_modules", "demo-output"}
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    return sorted(
        p
        for p in REPO_ROOT.rglob("*.md")
        if not any(
            part in SKIP_DIRS or part.startswith(".") for part in p.relative_to(REPO_ROOT).parts
        )
    )


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to '-'."""
    found = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text)))
    return found


def broken_links(path: Path) -> list[str]:
    problems = []
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code blocks hold no links
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.is_relative_to(REPO_ROOT):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            problems.append(f"{target}: no heading #{fragment}")
    return problems


def test_the_link_checker_catches_what_it_must(tmp_path: Path) -> None:
    doc = REPO_ROOT / "docs" / "_link_checker_probe.md"
    doc.write_text(
        "[ok](LOCAL.md) [gone](NOPE.md) [out](../../etc/passwd) [web](https://aws.amazon.com) "
        "[bad anchor](LOCAL.md#no-such-heading) ![img](images/none.png)\n"
    )
    try:
        assert broken_links(doc) == [
            "NOPE.md: no such file",
            "../../etc/passwd: outside the repository",
            "LOCAL.md#no-such-heading: no heading #no-such-heading",
            "images/none.png: no such file",
        ]
    finally:
        doc.unlink()


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_link_resolves_inside_the_repository(path: Path) -> None:
    assert broken_links(path) == []


def test_no_doc_or_code_comment_points_outside_the_repository() -> None:
    offenders = []
    roots = [
        "docs",
        "README.md",
        "template.yaml",
        "layers/modelops",
        "jobs/train",
        "functions",
        "embedded_aws",
    ]
    for root in roots:
        base = REPO_ROOT / root
        for path in [base] if base.is_file() else sorted(base.rglob("*")):
            if path.suffix in {".md", ".py", ".yaml"} and path.is_file():
                text = path.read_text()
                if "/work/" in text or "shared/contracts" in text or "CONTRACT.md" in text:
                    offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


def test_template_and_docs_name_no_work_items() -> None:
    pattern = re.compile(r"\bissue\s*#?\d+|\(issue\b", re.I)
    paths = [
        REPO_ROOT / "template.yaml",
        REPO_ROOT / "README.md",
        *sorted((REPO_ROOT / "docs").glob("*.md")),
    ]
    assert [str(p.relative_to(REPO_ROOT)) for p in paths if pattern.search(p.read_text())] == []
