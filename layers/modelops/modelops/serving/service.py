"""The prediction core both doors of PredictFunction share (API Gateway and direct invocation).

`PredictService.predict(payload, source=..., request_id=...)` takes the request object (the
parsed HTTP body or the direct-invocation event), validates it against the served model's
schema, predicts, captures and returns the contract's 200 body. It raises InvalidInput for
bad input and NoChampionError / ModelUnavailableError when there is nothing to serve; the
doors map those to HTTP statuses or Lambda errors.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics

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
from modelops.errors import InvalidInput, ModelNotFoundError, ModelUnavailableError, Problem
from modelops.jsonio import direct_payload
from modelops.model_card import describe
from modelops.observability import MetricUnit, count_invalid_request, emit_model_metric, logger
from modelops.observability import metrics as default_metrics
from modelops.registry import CHAMPION, ModelRegistry
from modelops.rollout.serving import ChallengerServer, RolloutServing, Served
from modelops.serving.model_cache import LoadedModel, ModelCache
from modelops.serving.request import PredictRequest, parse_predict_request
from modelops.serving.response import prediction_outputs
from modelops.serving.settings import ServingSettings

SOURCE_API = "api"
SOURCE_DIRECT = "direct"
SOURCE_BATCH = "batch"
# Pinned versions a warm environment keeps loaded for batch-scoring runs (besides its own).
MAX_PINNED_MODELS = 2


class PredictService:
    def __init__(
        self,
        cache: ModelCache,
        *,
        max_batch_rows: int,
        sink: RecordSink | None,
        sample_rate: float,
        capture_format: str = "rows",
        metrics: Metrics = default_metrics,
        sample: Callable[[], float] = random.random,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rollout: RolloutServing | None = None,
        pinned_cache: Callable[[int], ModelCache] | None = None,
    ) -> None:
        self.cache = cache
        # Batch-scoring runs name the version they score with; a cache per pinned version.
        self._pinned_cache = pinned_cache
        self._pinned: dict[int, ModelCache] = {}
        self.rollout = rollout  # the challenger beside the champion (shadow or canary)
        self.max_batch_rows = max_batch_rows
        self.sink = sink
        self.sample_rate = sample_rate
        self.capture_format = capture_format
        self._metrics = metrics
        # The draw in [0, 1) that decides whether a row is captured (replaceable: a seam).
        self.sample = sample
        self._now = now

    @classmethod
    def from_settings(
        cls,
        settings: ServingSettings,
        *,
        registry: ModelRegistry | None = None,
        sink: RecordSink | None = None,
        metrics: Metrics = default_metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> PredictService:
        """Wire the service from configuration (once per execution environment)."""

        def on_load(loaded: LoadedModel) -> None:
            logger.info(
                "model loaded",
                extra={
                    "model_version": loaded.version,
                    "load_seconds": round(loaded.load_seconds, 4),
                },
            )
            metrics.add_metric(name="ModelLoads", unit=MetricUnit.Count, value=1)
            metrics.add_metric(
                name="ModelLoadTime", unit=MetricUnit.Milliseconds, value=loaded.load_seconds * 1000
            )

        def on_load_failure(version: int | None, exc: BaseException) -> None:
            logger.error(
                "model refresh or load failed; serving the previous model if any",
                extra={"model_version": version, "error_type": type(exc).__name__},
                exc_info=exc,
            )
            emit_model_metric("ModelLoadFailures", 1, model_name=settings.stack.model_name)

        if registry is None:
            registry = ModelRegistry(settings.stack.bucket)
            # Warm alias checks make one attempt: a failed one is retried after a back-off.
            probe = ModelRegistry(settings.stack.bucket, s3_client=aws.client("s3", attempts=1))
        else:
            probe = registry
        cache = ModelCache(
            registry,
            settings.stack.model_name,
            alias=settings.model_alias,
            pinned_version=settings.pinned_version,
            refresh_seconds=settings.refresh_seconds,
            clock=clock,
            on_load=on_load,
            on_load_failure=on_load_failure,
            probe=probe,
        )
        metrics.set_default_dimensions(ModelName=settings.stack.model_name)
        rollout = None
        # A challenger only runs beside the champion alias, never beside a pinned version.
        if settings.pinned_version is None and settings.model_alias == CHAMPION:

            def on_challenger_failure(exc: BaseException) -> None:
                logger.warning(
                    "the challenger failed; the champion answers",
                    extra={"error_type": type(exc).__name__, "reason": str(exc)},
                )
                emit_model_metric("ChallengerFailures", 1, model_name=settings.stack.model_name)

            server = ChallengerServer(
                registry,
                settings.stack.model_name,
                refresh_seconds=settings.refresh_seconds,
                clock=clock,
                on_load=on_load,
                on_failure=lambda version, exc: on_challenger_failure(exc),
                probe=probe,
                registry_healthy=lambda: cache.consecutive_failures == 0,
            )
            rollout = RolloutServing(server, on_failure=on_challenger_failure)

        def pinned_cache(version: int) -> ModelCache:
            return ModelCache(
                registry,
                settings.stack.model_name,
                alias=settings.model_alias,
                pinned_version=version,
                refresh_seconds=settings.refresh_seconds,
                clock=clock,
                on_load=on_load,
                on_load_failure=on_load_failure,
                probe=probe,
            )

        return cls(
            cache,
            max_batch_rows=settings.max_batch_rows,
            sink=sink if sink is not None else sink_from_settings(settings),
            sample_rate=settings.capture_sample_rate,
            capture_format=settings.capture_format,
            metrics=metrics,
            rollout=rollout,
            pinned_cache=pinned_cache,
        )

    def warm(self) -> None:
        """Load the model during initialisation, so the first request (and every provisioned-
        concurrency environment) finds it ready. Nothing to load yet, or a failure, is only
        logged here: the request path retries and answers 503 or 500 as it should."""
        try:
            self.cache.get()
        except Exception as exc:
            logger.warning(
                "no model loaded at initialisation; requests will retry",
                extra={"error_type": type(exc).__name__, "reason": str(exc)},
            )

    def predict(
        self, payload: Any, *, source: str, request_id: str, version: int | None = None
    ) -> dict[str, Any]:
        """`version`: answer with exactly that version (batch scoring), no challenger."""
        started = time.perf_counter()
        try:
            loaded = self._model(version)
        except (ModelNotFoundError, ModelUnavailableError):
            emit_model_metric("UnavailableRequests", 1, model_name=self.cache.model_name)
            raise
        self._metrics.add_dimension(name="ModelVersion", value=str(loaded.version))
        request = parse_predict_request(payload, loaded.schema, max_rows=self.max_batch_rows)
        scoring = time.perf_counter()
        outputs = prediction_outputs(loaded.schema, loaded.model.run(request.feeds()))
        served = (
            self.rollout.serve(
                loaded,
                request.columns,
                request.inference_ids,
                outputs,
                champion_ms=(time.perf_counter() - scoring) * 1000,
            )
            if self.rollout is not None and version is None
            else None
        )
        self._capture(request, outputs, loaded, source=source, request_id=request_id, served=served)
        predictions = [
            {"inference_id": inference_id, **output}
            for inference_id, output in zip(request.inference_ids, outputs, strict=True)
        ]
        for row, names in request.imputed.items():
            # Only rows with imputed features say so: a complete row's answer is unchanged.
            predictions[row]["imputed"] = names
        if served is not None and served.mode == "canary":
            # A canary answers some rows: each prediction says which version answered it.
            for prediction, version in zip(predictions, served.versions, strict=True):
                prediction["model"] = {"name": loaded.name, "version": version}
        response = {
            "model": {"name": loaded.name, "version": loaded.version},
            "predictions": predictions,
        }
        # Two metrics per request (each Powertools metric costs microseconds on the hot path):
        # the request count is PredictionLatency's SampleCount.
        self._metrics.add_metric(name="PredictedRows", unit=MetricUnit.Count, value=len(request))
        if request.imputed:
            imputed = sum(map(len, request.imputed.values()))
            self._metrics.add_metric(name="ImputedValues", unit=MetricUnit.Count, value=imputed)
        self._metrics.add_metric(
            name="PredictionLatency",
            unit=MetricUnit.Milliseconds,
            value=(time.perf_counter() - started) * 1000,
        )
        return response

    def model_card(self, name: str) -> dict[str, Any] | None:
        """What a client needs to call the served model (modelops.model_card), or None when
        `name` is not the model this function serves. NoChampionError when none is."""
        if name != self.cache.model_name:
            return None
        loaded = self.cache.get()
        return {
            "model": {"name": loaded.name, "version": loaded.version},
            **describe(loaded.metadata),
        }

    def predict_direct(self, event: Any, *, request_id: str) -> dict[str, Any]:
        """The direct-invocation door: InvalidInput propagates (Lambda's errorType is its
        class name), counted like the API door counts its 4xx responses (modelops.http).
        A batch-scoring run adds {"batch": {"model_version": N}}: rows captured with source
        "batch", answered by version N (docs/SCORING.md); the HTTP door has no such key."""
        try:
            payload, batch_version = split_batch_options(direct_payload(event))
            source = SOURCE_DIRECT if batch_version is None else SOURCE_BATCH
            return self.predict(
                payload, source=source, request_id=request_id, version=batch_version
            )
        except InvalidInput:
            count_invalid_request()
            raise

    def _model(self, version: int | None) -> LoadedModel:
        current = self.cache.loaded
        if version is None or self._pinned_cache is None:
            return self.cache.get()
        if current is not None and current.version == version:
            return current
        cache = self._pinned.pop(version, None) or self._pinned_cache(version)
        self._pinned[version] = cache  # most recently used last
        while len(self._pinned) > MAX_PINNED_MODELS:
            del self._pinned[next(iter(self._pinned))]
        return cache.get()

    def _sampled_rows(self, rows: int) -> Sequence[int]:
        if self.sample_rate >= 1.0:
            return range(rows)
        return [row for row in range(rows) if self.sample() < self.sample_rate]

    def _capture(
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


def split_batch_options(payload: Any) -> tuple[Any, int | None]:
    """The direct event without its optional "batch" object, and the version it names."""
    if not isinstance(payload, dict) or "batch" not in payload:
        return payload, None
    rest = {k: v for k, v in payload.items() if k != "batch"}
    batch = payload["batch"]
    version = batch.get("model_version") if isinstance(batch, dict) else None
    if (
        not isinstance(batch, dict)
        or set(batch) - {"model_version"}
        or isinstance(version, bool)
        or not isinstance(version, int)
        or version < 1
    ):
        raise InvalidInput(
            "1 problem in the request",
            [Problem('expected {"model_version": <a version number >= 1>}', field="batch")],
        )
    return rest, version


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
        S3Sink(settings.stack.bucket, dead_letter_prefix(model_name), s3_client=aws.client("s3")),
        on_spill=on_spill,
        last_resort=None if isinstance(primary, LogSink) else LogSink(),
    )
