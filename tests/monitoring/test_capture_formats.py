"""The monitor reads both capture formats alike: a window captured a record per row (format
1), a record per request (format 2), or both mixed, gives one report, in one process, with
workers and in shards; a malformed format-2 record is counted once and skipped."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from typing import Any

import orjson
import pytest

from embedded_aws.provision import LocalStack
from modelops.capture import encode_record, request_record, request_rows
from modelops.monitoring.accumulators import NumericAccumulator
from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.window import ScanSettings, VersionWindow, Window, WindowScan
from tests.monitoring.conftest import (
    WINDOW_END,
    WINDOW_START,
    CaptureWriter,
    churn,
    make_monitor,
    truth,
)
from tests.monitoring.test_scan_paths import _rows
from tests.monitoring.test_sharded import _comparable, _differences, _sharded, _steps

WINDOW = Window(WINDOW_START, WINDOW_END)


def _clear(writer: CaptureWriter) -> None:
    listed = writer.s3.list_objects_v2(Bucket=writer.bucket, Prefix="capture/")
    for item in listed.get("Contents", []):
        writer.s3.delete_object(Bucket=writer.bucket, Key=item["Key"])


def _write(writer: CaptureWriter, per_request: tuple[int, int]) -> None:
    """Drifted and plain rows (the second part starting later), ids fixed, half labeled."""
    drifted = churn(900, seed=21, numeric_shift=12.0, new_category_share=0.1)
    plain = churn(300, seed=22)
    ids = [f"d-{i}" for i in range(len(drifted))]
    writer.predictions(drifted, ids=ids, objects=3, per_request=per_request[0])
    writer.predictions(
        plain,
        ids=[f"p-{i}" for i in range(len(plain))],
        start=WINDOW_START + timedelta(minutes=2),
        per_request=per_request[1],
    )


def _report(local_stack: LocalStack, **overrides: str) -> dict[str, Any]:
    return make_monitor(local_stack, RETRAINING_ENABLED="false", **overrides).run(WINDOW)


def test_rows_requests_and_both_mixed_give_one_report(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    drifted = churn(900, seed=21, numeric_shift=12.0, new_category_share=0.1)
    writer.feedback([f"d-{i}" for i in range(450)], truth(drifted)[:450], received=WINDOW_START)
    _write(writer, (0, 0))
    expected = _comparable(_report(local_stack))
    assert expected["counts"]["predictions"] == 1200
    assert expected["counts"]["malformed"] == 0
    for layout in [(1, 1), (7, 300), (100, 0), (0, 13)]:
        _clear(writer)
        _write(writer, layout)
        report = _comparable(_report(local_stack))
        assert _differences(report, expected) == [], layout
        workers = _comparable(_report(local_stack, MONITOR_WORKERS="3"))
        assert _differences(workers, expected) == [], layout
    sharded = _comparable(_steps(_sharded(local_stack), 3))
    assert _differences(sharded, expected) == []


@pytest.mark.parametrize(
    "broken",
    [
        b'{"eventVersion":"2","eventMetadata":{"inferenceTime":"2026-11-26T12:30:00.000Z"}}',
        b'{"eventVersion":"2","eventMetadata":{"inferenceTime":"2026-11-26T12:30:00.000Z"},'
        b'"model":{"name":"churn","version":1},"inferenceIds":["a","b"],'
        b'"input":{"tenure_months":[1]},"output":{"label":["no","no"]}}',
        b'{"eventVersion":"2","eventMetadata":{"inferenceTime":"2026-11-26T12:30:00.000Z"},'
        b'"model":{"name":"churn","version":1},"inferenceIds":["a",7],'
        b'"input":{},"output":{"label":["no","no"]}}',
        b'{"eventVersion":"3","eventMetadata":{"inferenceTime":"2026-11-26T12:30:00.000Z"}}',
    ],
)
def test_a_malformed_request_record_is_counted_once_and_skipped(
    local_stack: LocalStack, writer: CaptureWriter, broken: bytes
) -> None:
    writer.predictions(churn(50, seed=3), per_request=10)
    writer.put(f"capture/churn/{WINDOW_START:%Y/%m/%d/%H}/", broken + b"\n")
    report = _report(local_stack)
    assert report["counts"]["predictions"] == 50
    assert report["counts"]["malformed"] == 1


def test_a_request_outside_the_window_counts_each_of_its_rows_outside(
    local_stack: LocalStack, writer: CaptureWriter
) -> None:
    writer.predictions(churn(40, seed=4), per_request=8)
    writer.predictions(
        churn(30, seed=5), per_request=10, start=WINDOW_END, spread=timedelta(minutes=1)
    )
    report = _report(local_stack)
    assert report["counts"]["predictions"] == 40
    assert report["counts"]["outside_window"] == 30


# ---------------------------------------------------------------- one scan, both formats
# A format-2 record's outputs are read as columns (a row's object is made only for a labeled
# row); these hold that they give exactly the state the same rows give as format-1 records,
# whatever shape a record's outputs take.

_TIME = "2026-11-26T12:30:00.000Z"


def _request(model: str, first: int, rows: list[dict[str, Any]], outputs: Any) -> dict[str, Any]:
    names = sorted({n for row in rows for n in row})
    return request_record(
        event_id=f"e-{first}",
        inference_ids=[f"id-{first + i}" for i in range(len(rows))],
        inference_time=_TIME,
        request_id="r",
        source="api",
        model_name=model,
        model_version=1,
        inputs={n: [row.get(n) for row in rows] for n in names},
        outputs=outputs,
    )


def _both_formats(records: list[dict[str, Any] | bytes]) -> tuple[list[bytes], list[bytes]]:
    """Format-2 lines, and the same rows as format-1 lines (a broken line stays as it is)."""
    requests, rows = [], []
    for record in records:
        if isinstance(record, bytes):
            requests.append(record)
            rows.append(record)
            continue
        requests.append(encode_record(record).rstrip(b"\n"))
        rows.extend(encode_record(row).rstrip(b"\n") for row in request_rows(record))
    return requests, rows


def _scan_both(
    metadata: dict[str, Any], records: list[dict[str, Any] | bytes], feedback: list[bytes]
) -> tuple[dict[str, Any], dict[str, Any]]:
    states = []
    for lines in _both_formats(records):
        scan = WindowScan(
            window=WINDOW,
            model_name=metadata["name"],
            feedback=FeedbackIndex.from_records([feedback]),
            load_metadata=lambda version: metadata,
        )
        for start in range(0, len(lines), 3):  # several records per batch, and across batches
            scan.add_lines(lines[start : start + 3])
        states.append(_full_state(scan))
    return states[0], states[1]


def _numeric_state(acc: NumericAccumulator) -> Any:
    return (
        acc.counts.tolist(),
        acc.missing,
        acc.total,
        acc.fine.counts.tolist() if acc.fine else None,
    )


def _full_state(scan: WindowScan) -> dict[str, Any]:
    versions = {}
    for version, part in scan.versions.items():
        estimation = part.estimation
        prediction = part.prediction
        versions[version] = {
            "rows": part.rows,
            "numeric": {n: _numeric_state(a) for n, a in part.numeric.items()},
            "categorical": {n: (dict(c.counts), c.missing) for n, c in part.categorical.items()},
            "prediction": _numeric_state(prediction)
            if isinstance(prediction, NumericAccumulator)
            else dict(prediction.counts),
            "labeled": (part.labeled.seen, sorted(map(repr, part.labeled.entries()))),
            "estimation": None
            if estimation is None
            else (
                estimation.rows,
                estimation.unscored,
                estimation.confusion.tolist(),
                estimation.bin_rows.tolist(),
                estimation.bin_positives.tolist(),
            ),
        }
    return {"versions": versions, "counts": (scan.malformed, scan.outside_window, scan.predictions)}


def _features(metadata: dict[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
    window = VersionWindow(1, metadata, ScanSettings())
    kinds = {s.name: s.kind.value for s in window.schema.features}
    return _rows(n, seed, list(window.schema.feature_names), kinds)


def _labels_feedback(ids: range, labels: list[Any], key: str = "label") -> list[bytes]:
    return [
        orjson.dumps({"inferenceId": f"id-{i}", "receivedTime": _TIME, key: label})
        for i, label in zip(ids, labels, strict=True)
    ]


def test_requests_whose_outputs_differ_in_shape_give_the_rows_state(
    binary_champion: dict[str, Any],
) -> None:
    """One version's records with probabilities in either key order, as per-row objects,
    missing a class or missing altogether, a null or nested label in one row, a bad score,
    a column one row short, and no rows at all: the state (counts, labeled rows with their
    output objects, the label-free estimate) equals that of the same rows as format 1."""
    rows = _features(binary_champion, 80, seed=31)

    def probabilities(first: int, n: int, order: tuple[str, str]) -> dict[str, list[float]]:
        yes = [round(0.1 + 0.8 * ((first + i) % 7) / 6, 3) for i in range(n)]
        both = {"yes": yes, "no": [round(1 - p, 3) for p in yes]}
        return {k: both[k] for k in order}

    def labels(first: int, n: int) -> list[Any]:
        return ["yes" if (first + i) % 3 else "no" for i in range(n)]

    records: list[dict[str, Any] | bytes] = [
        _request(
            "churn",
            0,
            rows[0:10],
            {"label": labels(0, 10), "probabilities": probabilities(0, 10, ("no", "yes"))},
        ),
        _request(
            "churn",
            10,
            rows[10:20],
            {"probabilities": probabilities(10, 10, ("yes", "no")), "label": labels(10, 10)},
        ),
        _request("churn", 20, rows[20:25], {"label": labels(20, 5)}),  # unscored
        _request(
            "churn", 25, rows[25:30], {"label": labels(25, 5), "probabilities": {"no": [0.5] * 5}}
        ),
        _request(
            "churn",
            30,
            rows[30:40],
            {
                "label": [None, *labels(31, 8), "yes"],
                "probabilities": [
                    {"no": 0.25, "yes": 0.75},
                    *({"no": 0.4, "yes": 0.6} for _ in range(8)),
                    {"no": 0.8, "yes": "x"},
                ],
            },
        ),
        _request(
            "churn",
            40,
            rows[40:50],
            {"label": {"k": labels(40, 10)}, "probabilities": probabilities(40, 10, ("no", "yes"))},
        ),
        _request(
            "churn",
            50,
            rows[50:60],
            {
                "label": labels(50, 10),
                "probabilities": probabilities(50, 10, ("no", "yes")),
                "extra": list(range(10)),
            },
        ),
        _request("churn", 60, [], {}),
        _request(
            "churn",
            60,
            rows[60:80],
            {"label": labels(60, 20), "probabilities": probabilities(60, 20, ("no", "yes"))},
        ),
    ]
    short = _request(
        "churn",
        80,
        rows[0:4],
        {"label": labels(0, 4), "probabilities": {"no": [0.5] * 3, "yes": [0.5] * 4}},
    )
    broken = encode_record(short).rstrip(b"\n")
    feedback = _labels_feedback(range(0, 80, 2), labels(0, 80)[::2]) + _labels_feedback(
        range(80, 84), ["no"] * 4
    )
    requests, rows_state = _scan_both(binary_champion, [*records, broken], feedback)
    counts = requests["counts"]
    # The record one row short is malformed once in format 2 and its line once in format 1
    # (the same bytes); the null label and the nested labels make 1 + 10 rows malformed.
    assert counts == (1 + 1 + 10, 0, 80 - 11)
    assert requests == rows_state
    version = requests["versions"][1]
    assert version["estimation"] is not None
    scored, unscored = version["estimation"][:2]
    # unscored: no probabilities (5), a missing class (5), a score that is not a number (1)
    assert unscored == 11 and scored == 80 - 11 - 11
    assert version["labeled"][0] == 40 - 1 - 5  # joined rows of the malformed ones skipped


def test_a_regression_models_requests_give_the_rows_state(
    regression_champion: dict[str, Any],
) -> None:
    """A regression model's format-2 records ({"value": [...]}: one a string, one null,
    one a record without the column, another with an extra one) equal the same rows as
    format 1."""
    rows = _features(regression_champion, 40, seed=32)
    values = [round(50.0 + 3.5 * i, 2) for i in range(40)]
    records: list[dict[str, Any] | bytes] = [
        _request("diabetes", 0, rows[0:10], {"value": values[0:10]}),
        _request("diabetes", 10, rows[10:20], {"value": [*values[10:18], "big", None]}),
        _request("diabetes", 20, rows[20:25], {"label": values[20:25]}),
        _request("diabetes", 25, rows[25:40], {"extra": [1] * 15, "value": values[25:40]}),
    ]
    feedback = _labels_feedback(range(0, 40, 3), values[0:40:3], key="value")
    requests, rows_state = _scan_both(regression_champion, records, feedback)
    # malformed: the string and the 5 rows without a value; a null value is a missing one
    assert requests["counts"] == (1 + 5, 0, 40 - 6)
    assert requests == rows_state
    assert requests["versions"][1]["labeled"][0] == 14 - 3  # 18, 21 and 24 skipped


def test_numeric_columns_at_the_edges_give_the_rows_state(
    binary_champion: dict[str, Any],
) -> None:
    """Format-2 numeric columns holding what JSON can: null, integers (past 2^53, 2^64 - 1,
    beyond 64 bits), the largest and smallest doubles, negative zero, a bool; and what a numeric
    feature must not hold (a string, a bool, a list, an object): each row is read, or
    skipped as malformed, exactly as the same row in format 1; a column that is not a list,
    or one row short, makes its record malformed once."""
    window = VersionWindow(1, binary_champion, ScanSettings())
    numeric = [s.name for s in window.schema.features if s.kind.value == "numeric"]
    first, second = numeric[:2]
    edges: list[Any] = [
        None,
        0,
        -0.0,
        7,
        -12,
        2**53 + 1,
        2**64 - 1,
        -(2**63) - 1,
        10**30,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        5e-324,
        2.2250738585072014e-308,
        1e-320,
        123456.789e3,
        0.1,
        True,  # read as 1, as numpy reads a bool
    ]
    bad: list[Any] = ["12", [1.0], {"v": 1.0}]
    n = len(edges) + len(bad)
    rows = _features(binary_champion, n + 8, seed=33)
    for i, v in enumerate(edges + bad):
        rows[i][first] = v
    for i in range(len(edges)):  # the second feature: the edges in reverse
        rows[i][second] = edges[-1 - i]

    def request(first_id: int, part: list[dict[str, Any]]) -> dict[str, Any]:
        k = len(part)
        return _request(
            "churn",
            first_id,
            part,
            {"label": ["no"] * k, "probabilities": {"no": [0.6] * k, "yes": [0.4] * k}},
        )

    not_a_list = request(n, rows[n : n + 4])
    not_a_list["input"][first] = 1.5
    one_short = request(n + 4, rows[n + 4 : n + 8])
    one_short["input"][first] = one_short["input"][first][:3]
    records: list[dict[str, Any] | bytes] = [
        request(0, rows[:7]),
        request(7, rows[7:n]),
        encode_record(not_a_list).rstrip(b"\n"),
        encode_record(one_short).rstrip(b"\n"),
    ]
    feedback = _labels_feedback(range(0, n + 8), ["yes", "no"] * ((n + 8) // 2))
    requests, rows_state = _scan_both(binary_champion, records, feedback)
    # each bad value makes its row malformed; the two broken records are malformed once each
    assert requests["counts"] == (len(bad) + 2, 0, len(edges))
    assert requests == rows_state
    assert requests["versions"][1]["labeled"][0] == len(edges)
    state = requests["versions"][1]["numeric"][first]
    assert state[1] == 1  # the null: missing, not malformed
    # every accepted value summed exactly (the largest doubles cancel), rounded once
    exact = sum(Fraction(float(v)) for v in edges if v is not None)
    assert state[2] == float(exact)
