"""What PredictFunction records of each request it answers: the capture (docs/API.md,
"Captured records"), sampled by row, in the configured format, to the configured sink; a
capture that fails never fails the prediction (it is logged and counted instead).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from modelops import aws
from modelops.capture import (
    CaptureError,
    FirehoseSink,
    LogSink,
    RecordSink,
    S3Sink,
    SpillingSink,
    dead_letter_prefix,
    iso_timestamp,
    new_uuid,
    new_uuids,
    output_columns,
    prediction_records,
    request_record,
)
from modelops.observability import emit_model_metric, logger
from modelops.rollout.serving import Served
from modelops.serving.model_cache import LoadedModel
from modelops.serving.request import PredictRequest
from modelops.serving.settings import ServingSettings


class RequestCapture:
    """The capture of a served request: every row, or a sample of them (`sample_rate`, each
    row drawn by `sample`), as a record per row (`capture_format` "rows") or one per request
    ("requests"), written to `sink` (None: nothing captured)."""

    def __init__(
        self,
        sink: RecordSink | None,
        *,
        sample_rate: float,
        capture_format: str = "rows",
        sample: Callable[[], float] = random.random,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sink = sink
        self.sample_rate = sample_rate
        self.capture_format = capture_format
        # The draw in [0, 1) that decides whether a row is captured (replaceable: a seam).
        self.sample = sample
        self._now = now

    def _sampled_rows(self, rows: int) -> Sequence[int]:
        if self.sample_rate >= 1.0:
            return range(rows)
        return [row for row in range(rows) if self.sample() < self.sample_rate]

    def capture(
        self,
        request: PredictRequest,
        outputs: list[dict[str, Any]],
        loaded: LoadedModel,
        *,
        source: str,
        request_id: str,
        served: Served | None = None,
    ) -> None:
        if self.sink is None:
            return
        inference_time = iso_timestamp(self._now())
        rows = self._sampled_rows(len(request))
        if self.capture_format == "requests" and served is None:
            # A rollout's rows stay one record each: they carry per-row rollout details.
            if rows:
                record = request_capture(
                    request,
                    outputs,
                    rows,
                    loaded,
                    inference_time=inference_time,
                    source=source,
                    request_id=request_id,
                )
                self._write([record], model_name=loaded.name)
            return
        instances, ids = request.instances, request.inference_ids
        versions = [loaded.version] * len(request) if served is None else served.versions
        every = isinstance(rows, range)  # every row: the request's own lists, not copies
        records = prediction_records(
            event_ids=new_uuids(len(rows)),
            inference_ids=ids if every else [ids[row] for row in rows],
            inference_time=inference_time,
            request_id=request_id,
            source=source,
            model_name=loaded.name,
            model_versions=versions if every else [versions[row] for row in rows],
            inputs=instances if every else [instances[row] for row in rows],
            outputs=outputs if every else [outputs[row] for row in rows],
        )
        if served is not None:
            for record, row in zip(records, rows, strict=True):
                record.update(served.capture_extras[row])
        self._write(records, model_name=loaded.name)

    def _write(self, records: list[dict[str, Any]], *, model_name: str) -> None:
        assert self.sink is not None
        try:
            self.sink.write(records)
        except Exception as exc:
            # Whatever went wrong (CaptureError from the sink, or an unencodable record), the
            # prediction stands; the loss is visible in the log and the CaptureFailures metric.
            failed = exc.failed if isinstance(exc, CaptureError) else len(records)
            logger.error(
                "capture failed",
                extra={"sink": self.sink.name, "failed_records": failed},
                exc_info=exc,
            )
            emit_model_metric("CaptureFailures", failed, model_name=model_name)


def request_capture(
    request: PredictRequest,
    outputs: list[dict[str, Any]],
    rows: Sequence[int],
    loaded: LoadedModel,
    *,
    inference_time: str,
    source: str,
    request_id: str,
) -> dict[str, Any]:
    """The request's captured rows as one format-2 record: the features' values as sent
    (one list each), the outputs as columns."""
    inputs = request.sent_columns
    if inputs is None:  # checked cell by cell: the columns from the rows
        instances = request.instances
        inputs = {n: [row.get(n) for row in instances] for n in loaded.schema.feature_names}
    ids = request.inference_ids
    if not isinstance(rows, range):  # a sample of the rows
        inputs = {name: [column[row] for row in rows] for name, column in inputs.items()}
        ids = [ids[row] for row in rows]
        outputs = [outputs[row] for row in rows]
    return request_record(
        event_id=new_uuid(),
        inference_ids=ids,
        inference_time=inference_time,
        request_id=request_id,
        source=source,
        model_name=loaded.name,
        model_version=loaded.version,
        inputs=inputs,
        outputs=output_columns(outputs),
    )


def sink_from_settings(settings: ServingSettings) -> RecordSink | None:
    """The configured sink, spilling what it cannot deliver to capture-dlq/<name>/."""
    if settings.capture_sink == "off":
        return None
    model_name = settings.stack.model_name
    primary: RecordSink
    if settings.capture_sink == "firehose":
        assert settings.capture_stream is not None  # ServingSettings requires it
        primary = FirehoseSink(settings.capture_stream, firehose_client=aws.client("firehose"))
    else:
        primary = LogSink()

    def on_spill(count: int, exc: CaptureError) -> None:
        logger.warning(
            "captured records spilled to the dead-letter prefix",
            extra={"sink": primary.name, "spilled_records": count, "reason": str(exc)},
        )
        emit_model_metric("CaptureSpilled", count, model_name=model_name)

    return SpillingSink(
        primary,
        S3Sink(settings.stack.bucket, dead_letter_prefix(model_name)),  # its client when it spills
        on_spill=on_spill,
        last_resort=None if isinstance(primary, LogSink) else LogSink(),
    )
