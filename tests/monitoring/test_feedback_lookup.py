"""Joining a window's captures with their labels (docs/MONITORING.md): an id with feedback
finds its label, an id without finds none, whatever the ids sort like next to the labeled
ones (before, between or after every labeled id in the index's order)."""

from __future__ import annotations

import orjson
import pytest

from modelops.monitoring.join import FeedbackIndex


def label(inference_id: str, value: str) -> bytes:
    record = {"inferenceId": inference_id, "label": value, "receivedTime": "2026-11-26T12:00:00Z"}
    return orjson.dumps(record)


@pytest.mark.parametrize("labeled", [1, 2, 5])
def test_ids_without_feedback_find_none_wherever_they_sort(labeled: int) -> None:
    ids = [f"labeled-{i}" for i in range(labeled)]
    index = FeedbackIndex.from_records([[label(i, f"class-{i}") for i in ids]])
    unlabeled = [f"unlabeled-{i}" for i in range(64)]  # some sort past the last labeled id
    positions = index.lookup([*ids, *unlabeled])
    assert index.truths(positions[:labeled]) == [f"class-{i}" for i in ids]
    assert positions[labeled:].tolist() == [-1] * len(unlabeled)
