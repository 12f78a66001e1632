"""Parquet through BatchScoringStateMachine's own definition on moto: files split into row
group items, typed columns validated by the direct door row by row, a corrupt file named in
the manifest while the others score, and Parquet results equal to the JSON Lines results of
the same input."""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedded_aws.state_machines import run_execution
from modelops.scoring.parquet import parquet_row_id
from modelops_train.cli import main as modelops_main
from tests.models import sample_rows
from tests.scoring.conftest import ServedStack
from tests.scoring.test_batch_scoring import _direct_labels, _jsonl_under

pytestmark = pytest.mark.integration

PREFIX = "datasets/parquet/"


def _put(served: ServedStack, name: str, table: pa.Table, **options: Any) -> None:
    out = io.BytesIO()
    pq.write_table(table, out, **options)
    served.s3.put_object(Bucket=served.bucket, Key=f"{PREFIX}{name}", Body=out.getvalue())


def _write_inputs(served: ServedStack) -> dict[str, Any]:
    """60 rows with ids in 6 row groups; 3 rows without ids, one of them a numeric feature
    given as text and one as a boolean (typed columns: a file each); an empty file; a corrupt
    file."""
    instances, _ = sample_rows("binary", 60)
    numeric = next(f["name"] for f in served.champion["features"] if f["kind"] == "numeric")
    table = pa.Table.from_pylist([{"customer": f"c{i}", **r} for i, r in enumerate(instances)])
    _put(served, "many-groups.parquet", table, row_group_size=10)
    good = pa.Table.from_pylist(instances[:1])
    text = good.set_column(
        good.schema.get_field_index(numeric), numeric, pa.array(["abc"], pa.string())
    )
    flag = good.set_column(good.schema.get_field_index(numeric), numeric, pa.array([True]))
    _put(served, "typed-text.parquet", pa.concat_tables([text]))
    _put(served, "typed-bool.parquet", flag)
    _put(served, "no-ids.parquet", good)
    _put(served, "empty.parquet", table.slice(0, 0))
    served.s3.put_object(Bucket=served.bucket, Key=f"{PREFIX}corrupt.parquet", Body=b"PAR1garbage")
    return {"instances": instances, "ids": [f"c{i}" for i in range(60)], "numeric": numeric}


def _manifest(served: ServedStack, output: str) -> dict[str, Any]:
    key = f"{output.removeprefix(f's3://{served.bucket}/')}manifest.json"
    return json.loads(served.s3.get_object(Bucket=served.bucket, Key=key)["Body"].read())


def test_parquet_files_are_scored_by_row_groups_and_a_corrupt_one_is_named(
    served_stack: ServedStack,
) -> None:
    data = _write_inputs(served_stack)
    bucket = served_stack.bucket
    summary = run_execution(
        served_stack.stack.ref("BatchScoringStateMachine"),
        {
            "input": f"s3://{bucket}/{PREFIX}",
            "id_column": "customer",
            "chunk_bytes": 1024,
            # 1 corrupt object among 6 objects' items: tolerated
            "tolerated_failure_percentage": 20,
        },
    )
    assert summary["status"] == "PARTIAL"
    counts = summary["counts"]
    assert (counts["rows"], counts["scored"], counts["rejected"]) == (63, 61, 2)
    assert counts["failed_objects"] == 1 and counts["failed_items"] == 0
    assert counts["items"] >= 3 + 4  # the 6 row groups split; one item per small file

    output = summary["output"].removeprefix(f"s3://{bucket}/")
    by_id = {
        r["inference_id"]: r for r in _jsonl_under(served_stack.s3, bucket, f"{output}results/")
    }
    no_id = parquet_row_id(bucket, f"{PREFIX}no-ids.parquet", 0)
    assert set(by_id) == {*data["ids"], no_id}
    expected = _direct_labels(served_stack, data["instances"])
    assert [by_id[i]["label"] for i in data["ids"]] == expected
    assert by_id[no_id]["label"] == expected[0]

    rejected = _jsonl_under(served_stack.s3, bucket, f"{output}rejected/")
    problems = {r["key"].removeprefix(PREFIX): r for r in rejected}
    assert set(problems) == {"typed-text.parquet", "typed-bool.parquet"}
    for name, what in (("typed-text.parquet", 'got "abc"'), ("typed-bool.parquet", "a boolean")):
        row = problems[name]
        assert row["row"] == 0 and "offset" not in row
        assert row["inference_id"] == parquet_row_id(bucket, f"{PREFIX}{name}", 0)
        assert data["numeric"] in row["problem"] and "expected a number" in row["problem"]
        assert what in row["problem"]

    manifest = _manifest(served_stack, summary["output"])
    [corrupt] = manifest["failed_objects"]
    assert corrupt["key"] == f"{PREFIX}corrupt.parquet"
    assert corrupt["problem"].startswith("unreadable Parquet file: ")
    plan_key = f"{output}_plan/plan.json"
    planned = json.loads(served_stack.s3.get_object(Bucket=bucket, Key=plan_key)["Body"].read())
    rows = {o["key"].removeprefix(PREFIX): o.get("rows") for o in planned["objects"]}
    assert rows["many-groups.parquet"] == 60 and rows["empty.parquet"] == 0

    captured = _jsonl_under(served_stack.s3, bucket, "capture/churn/")
    batch = {
        c["eventMetadata"]["inferenceId"]
        for c in captured
        if c["eventMetadata"]["source"] == "batch"
    }
    assert batch == set(by_id)


def test_parquet_results_read_back_equal_the_json_lines_results(
    served_stack: ServedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_inputs(served_stack)
    served_stack.s3.delete_object(Bucket=served_stack.bucket, Key=f"{PREFIX}corrupt.parquet")
    bucket, arn = served_stack.bucket, served_stack.stack.ref("BatchScoringStateMachine")
    source = f"s3://{bucket}/{PREFIX}"
    as_jsonl = run_execution(arn, {"input": source, "id_column": "customer", "run_id": "as-jsonl"})
    code = modelops_main(
        [
            "score",
            "--input",
            source,
            "--state-machine",
            arn,
            "--id-column",
            "customer",
            "--run-id",
            "as-parquet",
            "--output-format",
            "parquet",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    as_parquet = json.loads(out.strip().splitlines()[-1])
    assert as_parquet["counts"] == as_jsonl["counts"] and as_parquet["status"] == "SUCCEEDED"

    expected = _jsonl_under(served_stack.s3, bucket, "scoring/churn/as-jsonl/results/")
    parts = served_stack.s3.list_objects_v2(
        Bucket=bucket, Prefix="scoring/churn/as-parquet/results/"
    )
    keys = [o["Key"] for o in parts["Contents"]]
    assert keys and all(k.endswith(".parquet") for k in keys)
    tables = [
        pq.read_table(io.BytesIO(served_stack.s3.get_object(Bucket=bucket, Key=k)["Body"].read()))
        for k in keys
    ]
    assert len({t.schema for t in tables}) == 1  # every part (an empty one too) alike
    # a null "imputed" column is a JSON line without the key
    read_back = [
        {k: v for k, v in row.items() if not (k == "imputed" and v is None)}
        for t in tables
        for row in t.to_pylist()
    ]
    assert any("imputed" in row for row in read_back)
    assert len(read_back) == len(expected) == as_jsonl["counts"]["scored"]
    key = lambda r: r["inference_id"]  # noqa: E731
    assert sorted(read_back, key=key) == sorted(expected, key=key)
    assert tables[0].schema.field("model").type == pa.struct(
        [("name", pa.string()), ("version", pa.int64())]
    )

    code = modelops_main(
        ["score", "--input", source, "--state-machine", arn, "--output-format", "csv"]
    )
    assert code == 2
    assert "--output-format" in capsys.readouterr().err
