"""The quick check of a REST event passes only events the itemised check finds nothing
wrong with, and passes the events API Gateway sends."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modelops.http import event_format, event_problems
from tests.serving.conftest import load_event
from tests.serving.http_door_cases import cases
from tests.serving.test_event_shapes import FIELDS  # the REST fields a client could break

REST = load_event("predict_api.json")
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=4),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.lists(st.text(max_size=3), max_size=2), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers() | st.none(), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=3), st.lists(st.integers(), min_size=1), min_size=1),
)


def details(event: dict[str, Any], *, quick: bool) -> list[dict[str, Any]]:
    return [p.as_dict() for p in event_problems(event, "1.0", quick=quick)]


@settings(max_examples=300, deadline=None)
@given(mutations=st.dictionaries(st.sampled_from(FIELDS), VALUES, min_size=1, max_size=3))
def test_the_quick_check_agrees_with_the_itemised_one(mutations: dict[str, Any]) -> None:
    event = {**REST, **mutations}
    assert details(event, quick=True) == details(event, quick=False)


def test_the_recorded_rest_events_are_passed_by_the_quick_check() -> None:
    rest = {name: e for name, e in cases().items() if event_format(e) == "1.0"}
    assert len(rest) > 30
    for name, event in rest.items():
        assert details(event, quick=True) == details(event, quick=False), name
    assert details(REST, quick=True) == []
