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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics

from modelops import aws
from modelops.capture import RecordSink
from modelops.errors import InvalidInput, ModelNotFoundError, ModelUnavailableError, Problem
from modelops.jsonio import direct_payload
from modelops.model_card import describe
from modelops.observability import MetricUnit, count_invalid_request, emit_model_metric, logger
from modelops.observability import metrics as default_metrics
from modelops.registry import CHAMPION, ModelRegistry
from modelops.rollout.serving import ChallengerServer, RolloutServing
from modelops.serving.model_cache import LoadedModel, ModelCache
from modelops.serving.recording import RequestCapture, sink_from_settings
from modelops.serving.request import parse_predict_request
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
        # What is captured of each request, and where it goes (modelops.serving.recording).
        self.recording = RequestCapture(
            sink, sample_rate=sample_rate, capture_format=capture_format, sample=sample, now=now
        )
        self._metrics = metrics

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
        return _wired(cls, settings, registry=registry, sink=sink, metrics=metrics, clock=clock)

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
        self.recording.capture(
            request, outputs, loaded, source=source, request_id=request_id, served=served
        )
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


def _wired(
    cls: type[PredictService],
    settings: ServingSettings,
    *,
    registry: ModelRegistry | None,
    sink: RecordSink | None,
    metrics: Metrics,
    clock: Callable[[], float],
) -> PredictService:
    """PredictService.from_settings: the model cache, the challenger and the capture wired
    from configuration, each with the logs and metrics of its loads and failures."""

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
        # Serving only reads the registry (GetObject): the light reader where it serves, so
        # botocore's client machinery stays off the path to the first answer.
        registry = ModelRegistry(settings.stack.bucket, s3_client=aws.s3_reader())
        # Warm alias checks make one attempt: a failed one is retried after a back-off.
        probe = ModelRegistry(settings.stack.bucket, s3_client=aws.s3_reader(attempts=1))
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
