"""Parquet inputs and outputs of batch scoring, on real files written with pyarrow: items are
runs of row groups cut at the chunk size (at its boundary), every row is read once with its
row number, cells become the values a request carries, results round-trip, and an unreadable
file or page is named in the manifest."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelops.errors import InvalidInput
from modelops.registry import ModelRegistry
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task
from modelops.scoring import parquet
from modelops.scoring.job import (
    IncompleteRun,
    ScoringSettings,
    UnreadableInput,
    finish,
    plan,
    score_item,
)

KEY = "in/data.parquet"


def _put(s3: Any, bucket: str, table: pa.Table, key: str = KEY, **options: Any) -> int:
    out = io.BytesIO()
    pq.write_table(table, out, **options)
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue())
    return len(out.getvalue())


def _numbers(n: int) -> pa.Table:
    return pa.table({"x": list(range(n)), "name": [f"row-{i:04d}" for i in range(n)]})


def _group_bytes(s3: Any, bucket: str, size: int) -> list[int]:
    metadata = parquet.open_file(s3, bucket, KEY, size).metadata
    return [metadata.row_group(g).total_byte_size for g in range(metadata.num_row_groups)]


def _item(bucket: str, size: int, group: dict[str, int], index: int = 0) -> dict[str, Any]:
    return {
        "index": index,
        "bucket": bucket,
        "key": KEY,
        "size": size,
        "format": "parquet",
        **group,
    }


def _results_file(records: list[dict[str, Any]], schema: ModelSchema) -> bytes:
    return parquet.results_file([parquet.results_batch(records, schema)], schema)


def _read_rows(s3: Any, item: dict[str, Any], columns: list[str], id_column: str) -> list[Any]:
    return list(parquet.iter_rows(s3, item, columns, id_column, batch_rows=3))


def _read_all(s3: Any, bucket: str, size: int, chunk: int) -> list[tuple[int, str, Any]]:
    rows = []
    for group in parquet.row_group_items(s3, bucket, KEY, size, chunk):
        read = _read_rows(s3, _item(bucket, size, group), ["x"], "name")
        assert len(read) == group["rows"]
        rows += [(r.offset, r.inference_id, (r.values or {}).get("x")) for r in read]
    return rows


def test_a_file_without_row_groups_has_no_items_and_an_empty_table_one_empty_item(
    s3: Any, bucket: str
) -> None:
    out = io.BytesIO()
    pq.ParquetWriter(out, pa.schema([("x", pa.int64())])).close()  # a footer, no row group
    s3.put_object(Bucket=bucket, Key=KEY, Body=out.getvalue())
    assert parquet.row_group_items(s3, bucket, KEY, len(out.getvalue()), 1024) == []

    size = _put(s3, bucket, _numbers(0))  # pyarrow writes one row group of 0 rows
    items = parquet.row_group_items(s3, bucket, KEY, size, 1024)
    assert items == [{"start": 0, "end": 1, "first_row": 0, "rows": 0}]
    assert _read_rows(s3, _item(bucket, size, items[0]), ["x"], "name") == []


def test_one_row_group_is_one_item_whatever_the_chunk(s3: Any, bucket: str) -> None:
    size = _put(s3, bucket, _numbers(50))
    for chunk in (1, 1024, 10**9):  # a group larger than the chunk is still one item
        assert parquet.row_group_items(s3, bucket, KEY, size, chunk) == [
            {"start": 0, "end": 1, "first_row": 0, "rows": 50}
        ]
    rows = _read_all(s3, bucket, size, 1)
    assert [(offset, name, x) for offset, name, x in rows] == [
        (i, f"row-{i:04d}", i) for i in range(50)
    ]


def test_many_groups_are_cut_at_the_chunk_size_and_every_row_is_read_once(
    s3: Any, bucket: str
) -> None:
    size = _put(s3, bucket, _numbers(100), row_group_size=7)  # 14 groups of 7, one of 2
    sizes = _group_bytes(s3, bucket, size)
    assert len(sizes) == 15
    two = sizes[0] + sizes[1]
    # Equal to two groups' bytes: they share an item; a byte less: each group alone.
    equal = parquet.row_group_items(s3, bucket, KEY, size, two)
    below = parquet.row_group_items(s3, bucket, KEY, size, two - 1)
    above = parquet.row_group_items(s3, bucket, KEY, size, two + 1)
    assert (equal[0]["start"], equal[0]["end"], equal[0]["rows"]) == (0, 2, 14)
    assert (below[0]["start"], below[0]["end"], below[0]["rows"]) == (0, 1, 7)
    assert (above[0]["start"], above[0]["end"]) == (0, 2)
    assert len(below) == 14  # 14 groups of 7 rows alone; the last two (7 + 2 rows) together
    assert (below[-1]["start"], below[-1]["end"], below[-1]["rows"]) == (13, 15, 9)
    assert equal[1]["first_row"] == 14
    for chunk in (1, two - 1, two, two + 1, 5 * two, 10**9):
        items = parquet.row_group_items(s3, bucket, KEY, size, chunk)
        # consecutive runs of groups covering the file once
        assert [i["start"] for i in items] == [0] + [i["end"] for i in items[:-1]]
        assert items[-1]["end"] == 15
        for item in items:  # greedy: within the chunk (or one group), and no group more fits
            held = sum(sizes[item["start"] : item["end"]])
            assert held <= chunk or item["end"] - item["start"] == 1
            if item["end"] < 15:
                assert held + sizes[item["end"]] > chunk
        rows = _read_all(s3, bucket, size, chunk)
        assert [offset for offset, _, _ in rows] == list(range(100)), chunk
        assert [x for _, _, x in rows] == list(range(100))


def test_cells_become_request_values_and_ids_come_from_the_id_column_or_the_row(
    s3: Any, bucket: str
) -> None:
    table = pa.table(
        {
            "id": pa.array([7, None, 9], pa.int64()),
            "n": pa.array([1.5, float("nan"), None], pa.float64()),
            "i": pa.array([1, 2, None], pa.int32()),
            "flag": pa.array([True, False, None]),
            "city": pa.array(["a", None, "c"]).dictionary_encode(),
            "price": pa.array([Decimal("1.25"), None, Decimal("-3.50")], pa.decimal128(6, 2)),
            "when": pa.array([dt.date(2026, 11, 30), None, None], pa.date32()),
            "blob": pa.array([b"text", None, b"\xff\xfe"], pa.binary()),
            "unused": [1, 2, 3],
        }
    )
    size = _put(s3, bucket, table)
    item = _item(bucket, size, parquet.row_group_items(s3, bucket, KEY, size, 1024)[0])
    columns = ["n", "i", "flag", "city", "price", "when", "blob", "absent"]
    rows = _read_rows(s3, item, columns, "id")
    assert [r.inference_id for r in rows] == ["7", parquet.parquet_row_id(bucket, KEY, 1), "9"]
    assert parquet.parquet_row_id(bucket, KEY, 1) != parquet.parquet_row_id(bucket, KEY, 2)
    assert rows[0].values == {
        "id": 7,
        "n": 1.5,
        "i": 1,
        "flag": True,
        "city": "a",
        "price": 1.25,
        "when": "2026-11-30",
        "blob": "text",
    }
    assert rows[0].problem is None
    assert rows[1].values == {
        "id": None,
        "n": None,  # NaN: JSON's null, a missing value, as a request would carry it
        "i": 2,
        "flag": False,
        "city": None,
        "price": None,
        "when": None,
        "blob": None,
    }
    assert rows[2].values is None
    assert rows[2].problem == "column 'blob': a binary value that is not UTF-8 text"


SCHEMA = ModelSchema(
    features=(FeatureSpec("x", FeatureKind.NUMERIC),),
    task=Task.BINARY,
    classes=("no", "yes"),
)


def _records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "inference_id": f"r{i}",
            "label": "yes" if i % 2 else "no",
            "probabilities": {"no": round(1 - i / n, 6), "yes": round(i / n, 6)},
            "model": {"name": "churn", "version": 3},
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [0, 1, 5])
def test_results_parquet_reads_back_as_the_records_with_typed_columns(n: int) -> None:
    records = _records(n)
    if n > 1:
        records[1]["imputed"] = ["x"]
    body = _results_file(records, SCHEMA)
    table = pq.read_table(io.BytesIO(body))
    # every row has every column: "imputed" is null where a JSON line has none
    expected = [{**r, "imputed": r.get("imputed")} for r in records]
    assert table.to_pylist() == expected
    assert table.schema.field("label").type == pa.string()
    assert table.schema.field("probabilities").type == pa.struct(
        [("no", pa.float64()), ("yes", pa.float64())]
    )
    assert table.schema.field("model").type == pa.struct(
        [("name", pa.string()), ("version", pa.int64())]
    )


def test_results_parquet_refuses_a_field_it_would_drop() -> None:
    with pytest.raises(ValueError, match=r"\['variant'\]"):
        _results_file([{**_records(1)[0], "variant": "b"}], SCHEMA)
    nested = _records(1)[0]
    nested["model"] = {**nested["model"], "alias": "champion"}
    with pytest.raises(ValueError, match="do not fit the Parquet columns"):
        _results_file([nested], SCHEMA)
    regression = ModelSchema(features=SCHEMA.features, task=Task.REGRESSION)
    body = _results_file(
        [{"inference_id": "a", "value": 1.5, "model": {"name": "m", "version": 1}}], regression
    )
    assert pq.read_table(io.BytesIO(body)).schema.field("value").type == pa.float64()


# ---------------------------------------------------------------- the run's steps


def _settings(bucket: str) -> ScoringSettings:
    return ScoringSettings(bucket=bucket, model_name="churn", max_batch_rows=400)


def _registry_with_a_champion(s3: Any, bucket: str) -> ModelRegistry:
    from tests.models import publish_trained

    registry = ModelRegistry(bucket, s3_client=s3)
    publish_trained(registry, "binary", promote=True)
    return registry


def test_an_unreadable_parquet_file_is_named_and_counted_as_a_failure(s3: Any, bucket: str) -> None:
    registry = _registry_with_a_champion(s3, bucket)
    _put(s3, bucket, _numbers(3), key="in/good.parquet")
    s3.put_object(Bucket=bucket, Key="in/bad.parquet", Body=b"PAR1 not a parquet file")
    run = plan(
        {"input": f"s3://{bucket}/in/", "run_id": "r"}, _settings(bucket), s3=s3, registry=registry
    )
    assert run["items"] == 1 and run["output_format"] == "jsonl"
    planned = json.loads(
        s3.get_object(Bucket=bucket, Key="scoring/churn/r/_plan/plan.json")["Body"].read()
    )
    [failed] = planned["failed_objects"]
    assert failed["key"] == "in/bad.parquet"
    assert failed["problem"].startswith("unreadable Parquet file: ")
    assert planned["objects"] == [
        {
            "key": "in/good.parquet",
            "size": planned["objects"][0]["size"],
            "format": "parquet",
            "rows": 3,
        }
    ]
    # the good file's item is done: 1 of 2 units failed (50 %)
    counts = {"rows": 3, "scored": 3, "rejected": 0}
    s3.put_object(
        Bucket=bucket, Key="scoring/churn/r/_parts/part-00000.json", Body=json.dumps(counts)
    )
    with pytest.raises(
        IncompleteRun,
        match=r"0 of 1 items failed and 1 objects could not be read \(50.0% > 49.9% tolerated\)",
    ):
        _finish_with(s3, bucket, run, tolerated=49.9)
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key="scoring/churn/r/manifest.json")["Body"].read()
    )
    assert manifest["status"] == "FAILED"
    assert manifest["failed_objects"] == [failed]
    assert manifest["counts"]["failed_objects"] == 1 and manifest["counts"]["scored"] == 3
    assert _finish_with(s3, bucket, run, tolerated=50)["status"] == "PARTIAL"

    s3.delete_object(Bucket=bucket, Key="in/good.parquet")
    with pytest.raises(InvalidInput) as nothing:
        plan({"input": f"s3://{bucket}/in/"}, _settings(bucket), s3=s3, registry=registry)
    assert "in/bad.parquet: unreadable Parquet file" in json.dumps(nothing.value.details())


def _finish_with(s3: Any, bucket: str, run: dict[str, Any], *, tolerated: float) -> dict[str, Any]:
    key = "scoring/churn/r/_plan/plan.json"
    planned = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    planned["tolerated_failure_percentage"] = tolerated
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(planned))
    return finish(run, s3=s3)


def test_a_corrupt_page_fails_its_item_and_the_manifest_says_why(s3: Any, bucket: str) -> None:
    registry = _registry_with_a_champion(s3, bucket)
    table = pa.table(
        {"inference_id": [f"r{i}" for i in range(2000)], "x": [i * 1.1 for i in range(2000)]}
    )
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=1000, compression="snappy")
    body = bytearray(out.getvalue())
    metadata = pq.ParquetFile(io.BytesIO(bytes(body))).metadata
    column = metadata.row_group(1).column(0)  # the second group's id pages: garbage
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    body[start : start + column.total_compressed_size] = b"\x07" * column.total_compressed_size
    s3.put_object(Bucket=bucket, Key=KEY, Body=bytes(body))
    run = plan(
        {
            "input": f"s3://{bucket}/in/",
            "run_id": "r",
            "output_format": "parquet",
            "chunk_bytes": 1024,
        },
        _settings(bucket),
        s3=s3,
        registry=registry,
    )
    assert run["items"] == 2 and run["output_format"] == "parquet"
    items = json.loads(s3.get_object(Bucket=bucket, Key=run["items_key"])["Body"].read())
    calls: list[int] = []

    def predict(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(len(event["instances"]))
        return {
            "model": {"name": "churn", "version": 1},
            "predictions": [
                {"inference_id": i, "label": "no", "probabilities": {"no": 1.0, "yes": 0.0}}
                for i in event["inference_ids"]
            ],
        }

    schema = ModelSchema.from_metadata(registry.get_metadata("churn", 1))
    runs = {
        "output": run["output"],
        "model": run["model"],
        "id_column": "inference_id",
        "output_format": "parquet",
    }
    counts = score_item(items[0], runs, _settings(bucket), s3=s3, schema=schema, predict=predict)
    assert counts["scored"] == 1000 and calls == [400, 400, 200]
    results = pq.read_table(
        io.BytesIO(
            s3.get_object(Bucket=bucket, Key="scoring/churn/r/results/part-00000.parquet")[
                "Body"
            ].read()
        )
    )
    assert results.column("inference_id").to_pylist() == [f"r{i}" for i in range(1000)]
    with pytest.raises(UnreadableInput, match=rf"s3://{bucket}/{KEY} row groups 1 to 1: "):
        score_item(items[1], runs, _settings(bucket), s3=s3, schema=schema, predict=predict)
    with pytest.raises(IncompleteRun, match="1 of 2 items failed"):
        finish(run, s3=s3)
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key="scoring/churn/r/manifest.json")["Body"].read()
    )
    [failed] = manifest["failed_items"]
    assert (failed["index"], failed["start"], failed["end"]) == (1, 1, 2)
    assert failed["problem"].startswith(f"UnreadableInput: s3://{bucket}/{KEY} row groups 1 to 1")
    assert manifest["counts"]["rows"] == 1000


@pytest.mark.parametrize(
    ("classes", "label_type"),
    [((0, 1, 2), pa.int64()), (("a", "b", "c"), pa.string()), ((False, True), pa.bool_())],
)
def test_results_columns_take_the_classes_type_and_keys(
    classes: tuple[Any, ...], label_type: pa.DataType
) -> None:
    from modelops.schema import class_key

    schema = ModelSchema(features=SCHEMA.features, task=Task.MULTICLASS, classes=classes)
    share = round(1 / len(classes), 6)
    records = [
        {
            "inference_id": f"r{i}",
            "label": label,
            "probabilities": {class_key(c): share for c in classes},
            "model": {"name": "wine", "version": 2},
        }
        for i, label in enumerate(classes)
    ]
    table = pq.read_table(io.BytesIO(_results_file(records, schema)))
    assert table.schema.field("label").type == label_type
    assert table.schema.field("probabilities").type.names == [class_key(c) for c in classes]
    assert table.to_pylist() == [{**r, "imputed": None} for r in records]
