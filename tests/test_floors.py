"""No import runs back up a floor: modelops is the ground floor, the training job stands on
it, embedded AWS on both, the demo on top. Read from the source (every import statement,
also those inside functions), so a lazy import cannot hide a violation."""

from __future__ import annotations

import ast

import pytest

from embedded_aws.template import REPO_ROOT

FLOORS = {
    "modelops": (
        REPO_ROOT / "layers/modelops/modelops",
        {"modelops_train", "embedded_aws", "demo"},
    ),
    "modelops_train": (REPO_ROOT / "jobs/train/modelops_train", {"embedded_aws", "demo"}),
    "embedded_aws": (REPO_ROOT / "embedded_aws", {"demo"}),
    "functions": (REPO_ROOT / "functions", {"modelops_train", "embedded_aws", "demo"}),
}


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_imported_roots_sees_imports_inside_functions() -> None:
    assert imported_roots("def f():\n    from demo.loop import x\n    import embedded_aws.y\n") == {
        "demo",
        "embedded_aws",
    }


@pytest.mark.parametrize("floor", sorted(FLOORS))
def test_no_import_runs_back_up_a_floor(floor: str) -> None:
    folder, forbidden = FLOORS[floor]
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(imported_roots(path.read_text()) & forbidden)
        for path in sorted(folder.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
