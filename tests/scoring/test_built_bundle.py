"""What `sam build` makes for BatchScoringFunction: within Lambda's 250 MB with its layers (the
ParquetLayer included), no training libraries, and the built function plans a Parquet input
and scores an item into Parquet results from its artifacts alone (Lambda's /var/task and
/opt/python, plus the runtime's boto3), PredictFunction answering through embedded AWS."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedded_aws.bundle import (
    FORBIDDEN_IN_SERVING,
    bundle_roots,
    bundle_size,
    packages_in,
    run_built_handler,
    unused_packages,
)
from tests.models import sample_rows
from tests.scoring.conftest import ServedStack

pytestmark = [pytest.mark.sam, pytest.mark.integration]
# Lambda's hard limit for a function and its layers, unzipped.
LAMBDA_LIMIT_MB = 250


def test_built_bundle_fits_lambda_and_only_batch_scoring_carries_pyarrow(
    sam_build_dir: Path,
) -> None:
    roots = bundle_roots(sam_build_dir, "BatchScoringFunction")
    for part in roots:
        assert not packages_in(part) & set(FORBIDDEN_IN_SERVING), part
    assert "pyarrow" in packages_in(sam_build_dir / "ParquetLayer" / "python")
    size_mb = bundle_size(sam_build_dir, "BatchScoringFunction") / 1e6
    assert size_mb < LAMBDA_LIMIT_MB, f"BatchScoringFunction + layers are {size_mb:.1f} MB"
    for function in ("PredictFunction", "PreTrafficHookFunction", "MonitorFunction"):
        assert not any("pyarrow" in packages_in(p) for p in bundle_roots(sam_build_dir, function))


def test_built_function_plans_and_scores_parquet_from_its_artifacts_alone(
    sam_build_dir: Path, served_stack: ServedStack, tmp_path: Path
) -> None:
    instances, _ = sample_rows("binary", 12)
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(instances), out, row_group_size=5)
    served_stack.s3.put_object(
        Bucket=served_stack.bucket, Key="in/rows.parquet", Body=out.getvalue()
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
        **served_stack.stack.function_environment("BatchScoringFunction"),
    }

    def invoke(event: dict[str, object], name: str) -> object:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(event))
        run = run_built_handler(
            sam_build_dir, "BatchScoringFunction", path, env=env, workdir=tmp_path
        )
        assert unused_packages(sam_build_dir, "BatchScoringFunction", run.modules) == {}
        return run.result

    request = {
        "input": f"s3://{served_stack.bucket}/in/",
        "run_id": "built",
        "output_format": "parquet",
        "chunk_bytes": 1024,
    }
    planned = invoke({"action": "plan", "request": request}, "plan")
    assert isinstance(planned, dict) and planned["output_format"] == "parquet"
    items_key = planned["items_key"]
    items = json.loads(
        served_stack.s3.get_object(Bucket=served_stack.bucket, Key=items_key)["Body"].read()
    )
    assert sum(i["rows"] for i in items) == 12 and items[0]["rows"] >= 5  # 3 groups: 5, 5, 2
    run = {k: planned[k] for k in ("output", "model", "id_column", "output_format")}
    counts = invoke({"action": "score", "item": items[0], "run": run}, "score")
    assert isinstance(counts, dict) and counts["scored"] == items[0]["rows"]
    body = served_stack.s3.get_object(
        Bucket=served_stack.bucket, Key="scoring/churn/built/results/part-00000.parquet"
    )["Body"].read()
    assert pq.read_table(io.BytesIO(body)).num_rows == items[0]["rows"]
