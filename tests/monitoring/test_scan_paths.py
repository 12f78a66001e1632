"""The scan's fast paths give exactly what the per-row paths give: columns of a batch in
which every row has every feature (one C-level transpose) against a batch in which one row
lacks a feature (a lookup per cell); lines of an object without concatenated records against
one with them; labels of joined rows looked up in bulk against one at a time; batches of
every shape against one line at a time."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.objects import iter_line_batches
from modelops.monitoring.window import ScanSettings, VersionWindow, Window, WindowScan


def _rows(n: int, seed: int, names: list[str], kinds: dict[str, str]) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row: dict[str, Any] = {}
        for name in names:
            if kinds[name] == "numeric":
                row[name] = None if rng.random() < 0.05 else float(rng.normal(50, 20))
            else:
                row[name] = str(rng.choice(["a", "b", "c", "Month-to-month"]))
        rows.append(row)
    return rows


def _state(window: VersionWindow) -> dict[str, Any]:
    return {
        "rows": window.rows,
        "numeric": {
            n: (
                a.counts.tolist(),
                a.missing,
                round(a.total, 6),
                a.fine.counts.tolist() if a.fine else None,
            )
            for n, a in window.numeric.items()
        },
        "categorical": {n: (dict(c.counts), c.missing) for n, c in window.categorical.items()},
        "prediction": dict(window.prediction.counts),  # type: ignore[union-attr]
    }


def test_a_row_lacking_a_feature_is_counted_as_missing_like_an_explicit_null(
    binary_champion: dict[str, Any],
) -> None:
    metadata = binary_champion
    window = VersionWindow(1, metadata, ScanSettings())
    names = list(window.schema.feature_names)
    kinds = {s.name: s.kind.value for s in window.schema.features}
    rows = _rows(300, 3, names, kinds)
    outputs = [{"label": "no", "probabilities": {"no": 0.7, "yes": 0.3}} for _ in rows]
    ids = [f"id-{i}" for i in range(len(rows))]
    numeric = next(n for n in names if kinds[n] == "numeric")
    rows[10][numeric] = None
    explicit = VersionWindow(1, metadata, ScanSettings())
    explicit.add(rows, outputs, ids, FeedbackIndex.empty())
    lacking_rows = [dict(r) for r in rows]
    del lacking_rows[10][numeric]
    lacking = VersionWindow(1, metadata, ScanSettings())
    lacking.add(lacking_rows, outputs, ids, FeedbackIndex.empty())
    assert _state(lacking) == _state(explicit)
    assert explicit.numeric[numeric].missing >= 1
    # and the per-cell path equals the row-at-a-time result of the same rows
    single = VersionWindow(1, metadata, ScanSettings())
    for row, output, i in zip(rows, outputs, ids, strict=True):
        single.add([row], [output], [i], FeedbackIndex.empty())
    assert _state(single) == _state(explicit)


class _Body(io.BytesIO):
    pass


class _S3:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": _Body(self.body)}


@pytest.mark.parametrize("compress", [False, True])
def test_blank_lines_and_concatenated_records_are_read_alike(compress: bool) -> None:
    records = [b'{"n":%d}' % i for i in range(20_000)]
    plain = b"\n".join(records[:10_000]) + b"\n \n\r\n\n" + b"\n".join(records[10_000:]) + b"\n"
    joined = b"\n".join(records[:10_000]) + b"\n \n\r\n\n" + b"".join(records[10_000:]) + b"\n"
    read = {}
    for name, body in (("plain", plain), ("joined", joined)):
        data = gzip.compress(body) if compress else body
        batches = list(iter_line_batches(_S3(data), "b", "k", batch_lines=3_000))
        read[name] = [line for batch in batches for line in batch]
    assert read["plain"] == records
    assert read["joined"] == records


@pytest.mark.parametrize("compress", [False, True])
def test_batches_of_large_lines_are_bounded_by_bytes_not_only_lines(compress: bool) -> None:
    """Request records (many rows a line): 3,000 lines of 10 kB are 30 MB, under the 5,000
    lines of a batch; each batch stays within its bytes (plus one read's worth of text)."""
    rng = np.random.default_rng(7)  # hex digits: gzip keeps about half of them
    lines = [b'{"n":%d,"pad":"%s"}' % (i, rng.bytes(5_000).hex().encode()) for i in range(3_000)]
    body = b"\n".join(lines) + b"\n"
    data = gzip.compress(body, compresslevel=1) if compress else body
    batches = list(iter_line_batches(_S3(data), "b", "k", batch_bytes=2 << 20))
    assert [line for batch in batches for line in batch] == lines
    sizes = [sum(map(len, batch)) for batch in batches]
    assert len(batches) >= 8  # 30 MB in batches of 2-4 MB
    # A read gives at most 1 MiB, about 2 MiB of these lines once gunzipped.
    bound = (2 << 20) + (1 << 20) * (1 if not compress else 3) + 2 * len(lines[0])
    assert max(sizes) <= bound


def test_labels_looked_up_in_bulk_equal_one_at_a_time() -> None:
    lines = [
        b'{"inferenceId":"a","receivedTime":"2026-11-26T12:00:00Z","label":"yes"}',
        b'{"inferenceId":"b","receivedTime":"2026-11-26T12:00:00Z","label":1}',
        b'{"inferenceId":"c","receivedTime":"2026-11-26T12:00:00Z","value":2.5}',
        b'{"inferenceId":"d","receivedTime":"2026-11-26T12:00:00Z","label":true}',
    ]
    index = FeedbackIndex.from_records([lines])
    positions = index.lookup(["d", "c", "x", "a", "b"])
    found = positions[positions >= 0]
    bulk = index.truths(found)
    single = [index.truth(int(p)) for p in found]
    assert bulk == single == [True, 2.5, "yes", 1]
    assert [type(v) for v in bulk] == [bool, float, str, int]


def _capture_lines(metadata: dict[str, Any], n: int, seed: int) -> list[bytes]:
    from modelops.capture import encode_record, iso_timestamp, prediction_record

    schema = VersionWindow(1, metadata, ScanSettings()).schema
    names = list(schema.feature_names)
    kinds = {s.name: s.kind.value for s in schema.features}
    start = datetime(2026, 11, 26, 11, 50, tzinfo=UTC)  # 10 minutes before the window
    lines = []
    for i, row in enumerate(_rows(n, seed, names, kinds)):
        record = prediction_record(
            inference_id=f"id-{seed}-{i}",
            inference_time=iso_timestamp(start + timedelta(seconds=i * 7)),
            request_id="r",
            source="api",
            model_name="churn",
            model_version=1 + i % 2,  # two versions, interleaved
            features=row,
            output={"label": "no", "probabilities": {"no": 0.6, "yes": 0.4}},
        )
        lines.append(encode_record(record).rstrip(b"\n"))
    return lines


def _scan(metadata: dict[str, Any]) -> WindowScan:
    window = Window(datetime(2026, 11, 26, 12, tzinfo=UTC), datetime(2026, 11, 26, 13, tzinfo=UTC))
    return WindowScan(
        window=window,
        model_name="churn",
        feedback=FeedbackIndex.empty(),
        load_metadata=lambda version: metadata,
    )


def _scan_state(scan: WindowScan) -> dict[str, Any]:
    return {
        "versions": {v: _state(part) for v, part in scan.versions.items()},
        "counts": (scan.malformed, scan.outside_window, scan.predictions),
    }


def test_batches_are_grouped_exactly_as_line_by_line(
    binary_champion: dict[str, Any],
) -> None:
    """Batches all inside, all outside, straddling the window's start, of two versions, with
    a malformed line, another model's record and a non-canonical time: one batch at a time
    equals one line at a time."""
    lines = _capture_lines(binary_champion, 1_200, seed=5)  # 11:50 to 14:10
    other_model = lines[700].replace(b'"name":"churn"', b'"name":"other"')
    offset_time = lines[300].replace(b'.000Z"', b'.000+00:00"', 1)  # 12:25, inside
    assert offset_time != lines[300] and other_model != lines[700]
    batches = [
        lines[:80],  # all before the window
        lines[80:200],  # straddles its start
        lines[200:500],  # all inside, two versions
        [*lines[500:600], b"not json", b"[1, 2]"],
        [*lines[600:700], other_model, offset_time],
        lines[702:],  # straddles its end
    ]
    whole, single = _scan(binary_champion), _scan(binary_champion)
    for batch in batches:
        whole.add_lines(batch)
        for line in batch:
            single.add_lines([line])
    assert _scan_state(whole) == _scan_state(single)
    malformed, outside, inside = whole.malformed, whole.outside_window, whole.predictions
    assert malformed == 3  # not JSON, not a record, another model
    assert inside == 1 + sum(1 for i in range(1_200) if 600 <= i * 7 < 4200)
    assert outside == 1_200 + 2 - malformed - inside
    assert set(whole.versions) == {1, 2}


@pytest.mark.parametrize("value", [[1.0], {"x": 1}, 10**400, "abc"])
def test_a_numeric_value_that_is_not_a_number_makes_its_row_malformed_in_any_batch(
    binary_champion: dict[str, Any], value: Any
) -> None:
    """In every row of a batch (the fast path must not turn `[1.0]` into a 2-D column) or in
    one row of it: that row is skipped and counted, the others are kept."""
    schema = VersionWindow(1, binary_champion, ScanSettings()).schema
    names = list(schema.feature_names)
    kinds = {s.name: s.kind.value for s in schema.features}
    numeric = next(n for n in names if kinds[n] == "numeric")
    outputs = [{"label": "no", "probabilities": {"no": 0.7, "yes": 0.3}}] * 40
    ids = [f"id-{i}" for i in range(40)]
    everywhere = _rows(40, 5, names, kinds)
    for row in everywhere:
        row[numeric] = value
    window = VersionWindow(1, binary_champion, ScanSettings())
    assert window.add(everywhere, outputs, ids, FeedbackIndex.empty()) == 40
    assert window.rows == 0
    one = _rows(40, 5, names, kinds)
    one[7][numeric] = value
    window = VersionWindow(1, binary_champion, ScanSettings())
    assert window.add(one, outputs, ids, FeedbackIndex.empty()) == 1
    assert window.rows == 39
    assert window.numeric[numeric].rows == 39


def test_a_bool_in_a_numeric_column_counts_as_0_or_1_in_any_batch(
    binary_champion: dict[str, Any],
) -> None:
    schema = VersionWindow(1, binary_champion, ScanSettings()).schema
    names = list(schema.feature_names)
    kinds = {s.name: s.kind.value for s in schema.features}
    numeric = next(n for n in names if kinds[n] == "numeric")
    outputs = [{"label": "no", "probabilities": {"no": 0.7, "yes": 0.3}}] * 3
    rows = _rows(3, 6, names, kinds)
    rows[0][numeric], rows[1][numeric], rows[2][numeric] = True, False, "x"
    window = VersionWindow(1, binary_champion, ScanSettings())
    assert window.add(rows, outputs, ["a", "b", "c"], FeedbackIndex.empty()) == 1
    assert window.numeric[numeric].total == 1.0
