"""One batch-scoring run: plan, score each item, finish (BatchScoringStateMachine's steps).

Layout of a run under its output prefix (default s3://<bucket>/scoring/<model>/<run id>/):
    _plan/plan.json            the run: input, model version, objects, skipped objects
    _plan/items.json           the Distributed Map's items: one per object row range
    results/part-NNNNN.jsonl   {"inference_id", <prediction>, "model": {...}} per scored row
                               (output_format "parquet": part-NNNNN.parquet, typed columns)
    rejected/part-NNNNN.jsonl  {"inference_id", "key", "offset" | "row", "problem"} per rejected row
    _parts/part-NNNNN.json     an item's counts (written last: an item is done when it exists)
    _failed/part-NNNNN.json    why an item's last attempt failed (read by the manifest)
    manifest.json              the run's counts, failed items and objects, skipped objects
Every file an item writes has a name of its own, so a retried item overwrites only itself.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from modelops.errors import InvalidInput, ModelOpsError, Problem
from modelops.registry import CHAMPION, ModelRegistry
from modelops.schema import ModelSchema
from modelops.scoring import parquet
from modelops.scoring.inputs import (
    Row,
    S3Location,
    byte_ranges,
    input_format,
    instance,
    jsonl,
    parse_rows,
    read_header,
    read_lines,
    unsupported_reason,
)

MANIFEST_VERSION = 1
OUTPUT_FORMATS = ("jsonl", "parquet")
# Parquet rows decoded at a time (a record batch), whatever the row groups' size.
READ_BATCH_ROWS = 10_000
DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")

# PredictFunction's direct door: the event in, its 200 body out; raises what it raised.
Predict = Callable[[dict[str, Any]], dict[str, Any]]


class PredictError(ModelOpsError):
    """PredictFunction answered with an error; `error_type` is Lambda's errorType."""

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        super().__init__(f"{error_type}: {message}")


class UnreadableInput(ModelOpsError):  # noqa: N818 - the errorType a failed item names
    """An item's rows could not be decoded (a corrupt or truncated file)."""


class IncompleteRun(ModelOpsError):  # noqa: N818 - the public errorType of the state machine
    """More items failed than the run tolerates; the manifest lists them."""


@dataclass(frozen=True)
class ScoringSettings:
    bucket: str
    model_name: str
    max_batch_rows: int
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    # Map children at once: each calls PredictFunction, so this bounds what a run takes of
    # its concurrency (live traffic shares it).
    max_concurrency: int = 10


def _part(index: int) -> str:
    return f"part-{index:05d}"


def _read_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _put_json(s3: Any, bucket: str, key: str, value: Any) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(value, indent=1).encode(),
        ContentType="application/json",
    )


def plan(
    event: dict[str, Any],
    settings: ScoringSettings,
    *,
    s3: Any,
    registry: ModelRegistry,
    default_run_id: str | None = None,
) -> dict[str, Any]:
    """List the input, split it into items, pin the model version; write _plan/."""
    if not isinstance(event, dict):
        raise InvalidInput(
            "1 problem in the request", [Problem('expected a JSON object with "input"')]
        )
    problems: list[Problem] = []
    try:
        given = event.get("input")
        if not isinstance(given, str):
            raise ValueError(f"required: an s3://bucket/prefix URI, got {given!r}")
        source = S3Location.parse(given, what="input")
    except ValueError as exc:
        raise InvalidInput("1 problem in the request", [Problem(str(exc), field="input")]) from None
    run_id = str(
        event.get("run_id") or default_run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    )
    if not RUN_ID.match(run_id):
        problems.append(Problem("letters, digits, _ . - (at most 80)", field="run_id"))
    output_uri = event.get("output") or (
        f"s3://{settings.bucket}/scoring/{settings.model_name}/{run_id}/"
    )
    try:
        output = S3Location.parse(output_uri, what="output")
    except ValueError as exc:
        problems.append(Problem(str(exc), field="output"))
    chunk = event.get("chunk_bytes", settings.chunk_bytes)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1024:
        problems.append(Problem("expected a whole number of bytes >= 1024", field="chunk_bytes"))
    id_column = event.get("id_column", "inference_id")
    if not isinstance(id_column, str) or not id_column:
        problems.append(Problem("expected a column name", field="id_column"))
    tolerated = event.get("tolerated_failure_percentage", 0)
    if (
        isinstance(tolerated, bool)
        or not isinstance(tolerated, int | float)
        or not 0 <= tolerated <= 100
    ):
        problems.append(
            Problem("expected a number from 0 to 100", field="tolerated_failure_percentage")
        )
    concurrency = event.get("max_concurrency", settings.max_concurrency)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        problems.append(Problem("expected a whole number >= 1", field="max_concurrency"))
    output_format = event.get("output_format", "jsonl")
    if output_format not in OUTPUT_FORMATS:
        problems.append(Problem(f"expected one of {OUTPUT_FORMATS}", field="output_format"))
    requested = event.get("model_version")
    if requested is not None and (
        isinstance(requested, bool) or not isinstance(requested, int) or requested < 1
    ):
        problems.append(
            Problem("expected a version number >= 1 (or none: the champion)", field="model_version")
        )
    if problems:
        raise InvalidInput(f"{len(problems)} problems in the request", problems)
    version = registry.resolve(settings.model_name, CHAMPION) if requested is None else requested
    registry.get_metadata(settings.model_name, version)  # ModelNotFoundError names a missing one

    items: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    unreadable: list[dict[str, Any]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=source.bucket, Prefix=source.prefix):
        for entry in page.get("Contents", []):
            key, size = entry["Key"], int(entry["Size"])
            if key.endswith("/") or size == 0:
                continue
            fmt = input_format(key)
            if fmt is None:
                skipped.append({"key": key, "reason": unsupported_reason(key)})
                continue
            where = {"bucket": source.bucket, "key": key, "size": size, "format": fmt}
            if fmt == "parquet":
                try:
                    groups = parquet.row_group_items(s3, source.bucket, key, size, chunk)
                except parquet.READ_ERRORS as exc:
                    unreadable.append({"key": key, "problem": f"unreadable Parquet file: {exc}"})
                    continue
                rows = sum(g["rows"] for g in groups)
                objects.append({"key": key, "size": size, "format": fmt, "rows": rows})
                items += [{"index": len(items) + i, **where, **g} for i, g in enumerate(groups)]
                continue
            header = read_header(s3, source.bucket, key, size) if fmt == "csv" else None
            objects.append({"key": key, "size": size, "format": fmt})
            for start, end in byte_ranges(size, chunk):
                items.append(
                    {"index": len(items), **where, "start": start, "end": end, "header": header}
                )
    if not items:
        found = [Problem(f"{u['key']}: {u['problem']}", field="input") for u in unreadable]
        raise InvalidInput(
            "nothing to score",
            [
                Problem(f"no CSV, JSON Lines or Parquet rows under {source.uri()}", field="input"),
                *found,
            ],
        )
    run = {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id,
        "input": source.uri(),
        "output": output.uri(),
        "model": {"name": settings.model_name, "version": version},
        "id_column": id_column,
        "tolerated_failure_percentage": tolerated,
        "objects": objects,
        "skipped_objects": skipped,
        "failed_objects": unreadable,
        "output_format": output_format,
        "items": len(items),
        "planned_at": datetime.now(UTC).isoformat(),
    }
    _put_json(s3, output.bucket, output.key("_plan/plan.json"), run)
    _put_json(s3, output.bucket, output.key("_plan/items.json"), items)
    return {
        "run_id": run_id,
        "output": output.uri(),
        "model": run["model"],
        "id_column": id_column,
        "output_format": output_format,
        "items": len(items),
        "max_concurrency": concurrency,
        "tolerated_failure_percentage": tolerated,
        "items_bucket": output.bucket,
        "items_key": output.key("_plan/items.json"),
    }


def score_item(
    item: dict[str, Any],
    run: dict[str, Any],
    settings: ScoringSettings,
    *,
    s3: Any,
    schema: ModelSchema,
    predict: Predict,
) -> dict[str, Any]:
    """Score one item's rows through `predict` in batches; write its results and counts.
    When it fails, why is written first (_failed/), for the manifest to say."""
    output = S3Location.parse(run["output"], what="output")
    part = _part(int(item["index"]))
    try:
        return _score_item(item, run, settings, output, part, s3=s3, schema=schema, predict=predict)
    except Exception as exc:
        failure = {"error": type(exc).__name__, "message": str(exc)[:2000]}
        _put_json(s3, output.bucket, output.key(f"_failed/{part}.json"), failure)
        raise


def _read_rows(
    s3: Any, item: dict[str, Any], run: dict[str, Any], schema: ModelSchema
) -> Iterator[Row]:
    """The item's rows, one at a time: an item is scored batch by batch, so its rows are
    never all held at once (a Parquet item is decoded a batch at a time too)."""
    id_column = run.get("id_column", "inference_id")
    if item["format"] == "parquet":
        try:
            yield from parquet.iter_rows(
                s3, item, list(schema.feature_names), id_column, batch_rows=READ_BATCH_ROWS
            )
        except parquet.READ_ERRORS as exc:
            raise UnreadableInput(
                f"s3://{item['bucket']}/{item['key']} row groups {item['start']} to "
                f"{int(item['end']) - 1}: {exc}"
            ) from exc
        return
    lines = read_lines(s3, item["bucket"], item["key"], item["start"], item["end"], item["size"])
    yield from parse_rows(
        lines,
        fmt=item["format"],
        header=item.get("header"),
        bucket=item["bucket"],
        key=item["key"],
        id_column=id_column,
    )


def _score_item(
    item: dict[str, Any],
    run: dict[str, Any],
    settings: ScoringSettings,
    output: S3Location,
    part: str,
    *,
    s3: Any,
    schema: ModelSchema,
    predict: Predict,
) -> dict[str, Any]:
    version = int(run["model"]["version"])
    # Where a rejected row is: a line's byte offset, or a Parquet file's row number.
    position = "row" if item["format"] == "parquet" else "offset"
    rejected: list[dict[str, Any]] = []

    def reject(row: Row, problem: str) -> None:
        rejected.append(
            {
                "inference_id": row.inference_id,
                "key": item["key"],
                position: row.offset,
                "problem": problem,
            }
        )

    as_parquet = run.get("output_format", "jsonl") == "parquet"
    # Each batch's answers are encoded as they come (JSON Lines bytes or an Arrow record
    # batch, a tenth of the objects' memory), so an item's peak memory is its encoded
    # results, not every row and answer as Python objects.
    encoded: list[Any] = []
    rows = scored = 0
    csv_strings = item["format"] == "csv"
    for batch in itertools.batched(
        _read_rows(s3, item, run, schema), settings.max_batch_rows, strict=False
    ):
        rows += len(batch)
        readable = []
        for row in batch:
            if row.values is None:
                reject(row, str(row.problem))
            else:
                readable.append(row)
        results: list[dict[str, Any]] = []
        _score(readable, version, schema, csv_strings, predict, results, reject)
        scored += len(results)
        encoded.append(parquet.results_batch(results, schema) if as_parquet else jsonl(results))
    if as_parquet:
        name, body = f"results/{part}.parquet", parquet.results_file(encoded, schema)
    else:
        name, body = f"results/{part}.jsonl", b"".join(encoded)
    s3.put_object(Bucket=output.bucket, Key=output.key(name), Body=body)
    if rejected:
        s3.put_object(
            Bucket=output.bucket, Key=output.key(f"rejected/{part}.jsonl"), Body=jsonl(rejected)
        )
    counts = {
        "index": item["index"],
        "key": item["key"],
        "start": item["start"],
        "end": item["end"],
        "rows": rows,
        "scored": scored,
        "rejected": len(rejected),
    }
    _put_json(s3, output.bucket, output.key(f"_parts/{part}.json"), counts)
    return counts


def _score(
    batch: list[Row],
    version: int,
    schema: ModelSchema,
    csv_strings: bool,
    predict: Predict,
    results: list[dict[str, Any]],
    reject: Callable[[Row, str], None],
) -> None:
    """One request for the batch; a rejected request is halved until the bad rows are alone
    (each is then rejected with the door's own message), so no good row is lost."""
    if not batch:
        return
    event = {
        "instances": [instance(r.values or {}, schema, csv_strings=csv_strings) for r in batch],
        "inference_ids": [r.inference_id for r in batch],
        "batch": {"model_version": version},
    }
    try:
        response = predict(event)
    except PredictError as exc:
        if exc.error_type != "InvalidInput":
            raise  # the item fails (and is retried by the state machine)
        if len(batch) == 1:
            reject(batch[0], str(exc))
            return
        half = len(batch) // 2
        _score(batch[:half], version, schema, csv_strings, predict, results, reject)
        _score(batch[half:], version, schema, csv_strings, predict, results, reject)
        return
    model = response["model"]
    for prediction in response["predictions"]:
        results.append({**prediction, "model": prediction.get("model", model)})


def finish(run: dict[str, Any], *, s3: Any) -> dict[str, Any]:
    """Count what every item wrote; write manifest.json. IncompleteRun when more items
    failed (wrote no counts) than the run tolerates; an object that could not be read when
    the run was planned (a corrupt Parquet footer) counts as one failed item."""
    output = S3Location.parse(run["output"], what="output")
    planned = _read_json(s3, output.bucket, output.key("_plan/plan.json"))
    items = _read_json(s3, output.bucket, output.key("_plan/items.json"))
    totals = {"items": len(items), "rows": 0, "scored": 0, "rejected": 0}
    failed: list[dict[str, Any]] = []
    for item in items:
        key = output.key(f"_parts/{_part(int(item['index']))}.json")
        try:
            counts = _read_json(s3, output.bucket, key)
        except s3.exceptions.NoSuchKey:
            failed.append(_failed_item(s3, output, item))
            continue
        for name in ("rows", "scored", "rejected"):
            totals[name] += int(counts[name])
    unreadable = planned.get("failed_objects", [])
    units, failures = len(items) + len(unreadable), len(failed) + len(unreadable)
    tolerated = float(planned.get("tolerated_failure_percentage", 0))
    share = 100.0 * failures / units if units else 0.0
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "run_id": planned["run_id"],
        "status": "SUCCEEDED" if not failures else ("PARTIAL" if share <= tolerated else "FAILED"),
        "input": planned["input"],
        "output": planned["output"],
        "model": planned["model"],
        "counts": {**totals, "failed_items": len(failed), "failed_objects": len(unreadable)},
        "failed_items": failed,
        "failed_objects": unreadable,
        "skipped_objects": planned["skipped_objects"],
        "results": output.key("results/"),
        "rejected": output.key("rejected/") if totals["rejected"] else None,
        "finished_at": datetime.now(UTC).isoformat(),
    }
    _put_json(s3, output.bucket, output.key("manifest.json"), manifest)
    summary = {k: manifest[k] for k in ("run_id", "status", "output", "model", "counts")}
    if manifest["status"] == "FAILED":
        objects = f" and {len(unreadable)} objects could not be read" if unreadable else ""
        raise IncompleteRun(
            f"{len(failed)} of {len(items)} items failed{objects} ({share:.1f}% > {tolerated}% "
            f"tolerated); see {output.uri().rstrip('/')}/manifest.json"
        )
    return summary


def _failed_item(s3: Any, output: S3Location, item: dict[str, Any]) -> dict[str, Any]:
    """A failed item as the manifest lists it: where it is, and why its last attempt failed
    when it could say (its _failed file)."""
    entry = {k: item[k] for k in ("index", "key", "start", "end")}
    try:
        failure = _read_json(
            s3, output.bucket, output.key(f"_failed/{_part(int(item['index']))}.json")
        )
    except s3.exceptions.NoSuchKey:
        return entry
    return {**entry, "problem": f"{failure['error']}: {failure['message']}"}


def invoke_predict(lambda_client: Any, function: str) -> Predict:
    """PredictFunction's direct door through Lambda's Invoke API."""

    def predict(event: dict[str, Any]) -> dict[str, Any]:
        response = lambda_client.invoke(FunctionName=function, Payload=orjson.dumps(event))
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            error = payload if isinstance(payload, dict) else {}
            raise PredictError(
                str(error.get("errorType", "Unhandled")), str(error.get("errorMessage", payload))
            )
        result: dict[str, Any] = payload
        return result

    return predict
