"""`make mutate` runs, for each mutant, only the tests that run the mutated line
(docs/TESTING.md). These hold the rules that keep that selection sound: a line outside every
function body (a constant, a signature, a default) needs every test and fresh models; a line
run while a shared fixture was set up needs every test; a line run while a test model was
trained needs every test and a model trained afresh; a line no test runs needs none."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutate.py"


@pytest.fixture(scope="module")
def mutate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


SOURCE = """\
LIMIT = 3


class Box:
    size: int = 2

    def grow(self, by: int = 1) -> int:
        total = (
            self.size
            + by
        )
        if total > LIMIT:
            return LIMIT
        return total


@decorated
def check(values):
    for value in values:
        try:
            float(value)
        except (TypeError,
                ValueError):
            return False
    return True
"""


def test_only_lines_inside_function_bodies_are_grouped(mutate: ModuleType) -> None:
    groups = mutate.line_groups(SOURCE)
    # module statements, class statements, decorators, signatures with their defaults
    for outside in (1, 4, 5, 7, 17, 18):
        assert outside not in groups
    # a statement spanning lines is one group, whichever of its lines is mutated
    assert groups[8] == groups[9] == groups[10] == groups[11] == frozenset({8, 9, 10, 11})
    # a compound statement's group is its header only; its body has groups of its own
    assert groups[12] == frozenset({12})
    assert groups[13] == frozenset({13})
    assert groups[19] == frozenset({19})
    assert groups[21] == frozenset({21})
    # an except clause's header, over two lines
    assert groups[22] == groups[23] == frozenset({22, 23})
    assert groups[24] == frozenset({24})


def test_the_tests_that_run_the_mutated_line_are_chosen(mutate: ModuleType) -> None:
    groups = mutate.line_groups(SOURCE)
    covered = {"t::a": {8, 12, 14}, "t::b": {8, 12, 13}, "t::c": {19, 21, 25}}
    assert mutate.select_tests({12}, groups, covered) == ({"t::a", "t::b"}, True)
    assert mutate.select_tests({13}, groups, covered) == ({"t::b"}, True)
    # a continuation line of a statement counts as the statement (recorded on its first line)
    assert mutate.select_tests({10}, groups, covered) == ({"t::a", "t::b"}, True)
    assert mutate.select_tests({13, 21}, groups, covered) == ({"t::b", "t::c"}, True)


def test_a_line_no_test_runs_needs_no_test(mutate: ModuleType) -> None:
    groups = mutate.line_groups(SOURCE)
    assert mutate.select_tests({24}, groups, {"t::a": {8}}) == (set(), True)


@pytest.mark.parametrize("line", [1, 5, 7, 17, 18])
def test_a_line_outside_function_bodies_needs_every_test_and_fresh_models(
    mutate: ModuleType, line: int
) -> None:
    groups = mutate.line_groups(SOURCE)
    assert mutate.select_tests({line}, groups, {"t::a": {8}}) == (None, False)
    assert mutate.select_tests({13, line}, groups, {"t::a": {13}}) == (None, False)


def test_a_line_run_by_a_shared_fixture_needs_every_test(mutate: ModuleType) -> None:
    groups = mutate.line_groups(SOURCE)
    covered = {mutate.SHARED: {13}, "t::a": {13}}
    assert mutate.select_tests({13}, groups, covered) == (None, True)


def test_a_line_run_in_training_needs_every_test_and_fresh_models(mutate: ModuleType) -> None:
    groups = mutate.line_groups(SOURCE)
    covered = {mutate.TRAINED: {21}, "t::a": {13, 21}}
    assert mutate.select_tests({21}, groups, covered) == (None, False)
    assert mutate.select_tests({13}, groups, covered) == ({"t::a"}, True)


def test_the_changed_lines_are_found_in_the_pristine_numbering(mutate: ModuleType) -> None:
    pristine = ["a = 1", "b = 2", "c = 3"]
    assert mutate.changed_lines(pristine, ["a = 1", "b = 3", "c = 3"]) == {2}
    assert mutate.changed_lines(pristine, list(pristine)) == set()
    assert mutate.changed_lines(pristine, ["a = 1", "b = 2", "x", "c = 3"]) >= {2, 3}
    assert mutate.changed_lines(pristine, ["a = 1", "c = 3"]) == {2}
