"""Ground-truth feedback: validation (contract section 4) and the records it becomes (section 5).

A request is all-or-nothing: every problem is collected (with the label's index and field)
and reported at once, and nothing is written unless the whole request is valid. The label
type must fit the served model: classification labels must be one of the champion's
classes (compared as strings, so "1" is class 1, and stored as the class itself); regression
values must be finite numbers. The champion's schema is cached and refreshed with a
conditional GET of its alias, so a promotion is picked up without reading metadata per call.

A failing registry does not fail the requests a cached schema can answer: the failed check
is counted (ModelLoadFailures) and retried after an exponential back-off. Without a schema,
or when the records cannot be stored, the answer is 503 (nothing was accepted; the client
sends the same labels again) and UnavailableRequests is counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelops import aws, messages, resilience
from modelops.capture import CaptureError, RecordSink, S3Sink, feedback_record, iso_timestamp
from modelops.config import StackSettings, env_int
from modelops.errors import (
    DependencyUnavailableError,
    ModelNotFoundError,
    ModelUnavailableError,
    Problem,
    Problems,
)
from modelops.observability import emit_model_metric, logger
from modelops.registry import CHAMPION, ModelRegistry
from modelops.schema import ModelSchema, Task, class_key

ALLOWED_FIELDS = ("inference_id", "label", "value")
SCHEMA_RETRY_CAP_SECONDS = 60.0


@dataclass(frozen=True)
class FeedbackSettings:
    stack: StackSettings
    max_labels: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FeedbackSettings:
        return cls(
            stack=StackSettings.from_env(env),
            max_labels=env_int("MAX_FEEDBACK_LABELS", env, default=1000, minimum=1),
        )


def feedback_prefix(model_name: str) -> str:
    return f"feedback/{model_name}/"


def validate_feedback(body: Any, schema: ModelSchema, *, max_labels: int) -> list[tuple[str, Any]]:
    """The (inference id, truth) pairs of a valid body; InvalidInput listing every problem
    otherwise, in the words predictions use for the same problems (modelops.messages)."""
    if not isinstance(body, Mapping):
        raise messages.not_an_object(body, '"labels"')
    problems = Problems(
        Problem(messages.unknown_name(str(key), ("labels",), "key"), field=str(key))
        for key in body
        if key != "labels"
    )
    labels: Any = body.get("labels")
    if (problem := messages.array_problem(labels, "labels", max_labels)) is not None:
        problems.append(Problem(problem, field="labels"))
        raise messages.invalid(problems)
    if len(labels) > max_labels:
        raise messages.too_many(len(labels), "labels", max_labels, "labels")
    classes = {class_key(c): c for c in schema.classes or ()}
    truth_field = "value" if schema.task is Task.REGRESSION else "label"
    seen: dict[str, int] = {}
    accepted: list[tuple[str, Any]] = []
    for row, item in enumerate(labels):
        if not isinstance(item, Mapping):
            problems.append(
                Problem(
                    f"expected an object with inference_id and {truth_field}, got "
                    f"{messages.describe(item)}",
                    row=row,
                )
            )
            continue
        row_problems = [
            Problem(messages.unknown_name(str(k), ALLOWED_FIELDS, "key"), row=row, field=str(k))
            for k in item
            if k not in ALLOWED_FIELDS
        ]
        inference_id = item.get("inference_id")
        problem = messages.inference_id_problem(
            inference_id, seen, row, sent="inference_id" in item
        )
        if problem is not None:
            row_problems.append(Problem(problem, row=row, field="inference_id"))
        truth, truth_problems = _truth(item, schema, classes, row)
        row_problems += truth_problems
        problems.extend(row_problems)
        if not row_problems:
            accepted.append((str(inference_id), truth))
    if problems:
        raise messages.invalid(problems)
    return accepted


def _truth(
    item: Mapping[str, Any], schema: ModelSchema, classes: dict[str, Any], row: int
) -> tuple[Any, list[Problem]]:
    if schema.task is Task.REGRESSION:
        if "label" in item:
            return None, [
                Problem('a regression model takes "value", not "label"', row=row, field="label")
            ]
        value: Any = item.get("value")
        problem = messages.number_problem(value, float32=False)
        if problem is not None:
            return None, [Problem(problem, row=row, field="value")]
        return float(value), []
    if "value" in item:
        return None, [
            Problem(f'a {schema.task} model takes "label", not "value"', row=row, field="value")
        ]
    label = item.get("label")
    if label is None or isinstance(label, (dict, list)) or class_key(label) not in classes:
        known = ", ".join(sorted(classes))
        return None, [
            Problem(
                f"expected one of the model's classes ({known}), got {messages.got(label)}",
                row=row,
                field="label",
            )
        ]
    return classes[class_key(label)], []


class FeedbackService:
    """Validates feedback against the champion's schema and writes the records."""

    def __init__(
        self,
        *,
        model_name: str,
        registry: ModelRegistry,
        sink: RecordSink,
        max_labels: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        probe: ModelRegistry | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        retry_cap_seconds: float = SCHEMA_RETRY_CAP_SECONDS,
    ) -> None:
        self.model_name = model_name
        self.registry = registry
        self._probe = probe or registry
        self.sink = sink
        self.max_labels = max_labels
        self._clock = clock
        self._lock = threading.Lock()
        self._etag: str | None = None
        self._schema: ModelSchema | None = None
        # Checked on every request while S3 answers; backing off while it does not.
        self._schedule = resilience.RetrySchedule(
            interval=0.0, base=1.0, cap=max(retry_cap_seconds, 1.0), clock=monotonic
        )
        # After a failed write, requests answer 503 at once until the next attempt is due.
        self._writes = resilience.RetrySchedule(
            interval=0.0, base=1.0, cap=max(retry_cap_seconds, 1.0), clock=monotonic
        )

    @classmethod
    def from_settings(
        cls, settings: FeedbackSettings, *, s3_client: Any | None = None
    ) -> FeedbackService:
        registry = ModelRegistry(settings.stack.bucket, s3_client=s3_client)
        # The alias check makes one attempt: a failed one is retried after the back-off.
        probe = ModelRegistry(
            settings.stack.bucket,
            s3_client=s3_client if s3_client is not None else aws.client("s3", attempts=1),
        )
        sink = S3Sink(
            settings.stack.bucket, feedback_prefix(settings.stack.model_name), s3_client=s3_client
        )
        return cls(
            model_name=settings.stack.model_name,
            registry=registry,
            sink=sink,
            max_labels=settings.max_labels,
            probe=probe,
        )

    def schema(self) -> ModelSchema:
        """The champion's schema; re-read only when the champion alias changed (conditional GET)."""
        with self._lock:
            if self._schedule.due():
                self._check_schema()
            if self._schema is None:
                raise DependencyUnavailableError(
                    f"the schema of model {self.model_name!r} could not be read; nothing was "
                    f"accepted: send the labels again in "
                    f"{max(1.0, self._schedule.seconds_until_due()):.0f} s"
                )
            return self._schema

    def _check_schema(self) -> None:
        try:
            resilience.ensure_time_for("check the champion alias")
            state = self._probe.get_alias_if_changed(self.model_name, CHAMPION, self._etag)
            if state is not None:
                resilience.ensure_time_for("read the champion's schema")
                metadata = self.registry.get_metadata(self.model_name, state.version)
                self._schema = ModelSchema.from_metadata(metadata)
                self._etag = state.etag
        except ModelNotFoundError:
            raise  # no champion yet: 503 from the caller's mapping, not a dependency failure
        except Exception as exc:  # S3 down or hanging, an unreadable alias or metadata
            self._schedule.failed()
            logger.error(
                "champion schema check failed; using the cached schema if any",
                extra={"error_type": type(exc).__name__, "cached": self._schema is not None},
                exc_info=exc,
            )
            emit_model_metric("ModelLoadFailures", 1, model_name=self.model_name)
            return
        self._schedule.succeeded()

    def accept(self, body: Any) -> dict[str, int]:
        """Validate and write; returns the 202 body {"accepted": n}."""
        try:
            return self._accept(body)
        except ModelUnavailableError:
            emit_model_metric("UnavailableRequests", 1, model_name=self.model_name)
            raise

    def _accept(self, body: Any) -> dict[str, int]:
        if not self._writes.due():  # storage failed recently: answer before any S3 call
            raise DependencyUnavailableError(
                f"feedback storage failed recently; nothing was accepted: send the labels "
                f"again in {max(1.0, self._writes.seconds_until_due()):.0f} s"
            )
        schema = self.schema()
        truths = validate_feedback(body, schema, max_labels=self.max_labels)
        received = iso_timestamp(self._clock())
        regression = schema.task is Task.REGRESSION
        records = [
            feedback_record(inference_id=i, received_time=received, value=t)
            if regression
            else feedback_record(inference_id=i, received_time=received, label=t)
            for i, t in truths
        ]
        try:
            resilience.ensure_time_for("store the labels")
            self.sink.write(records)
        except (CaptureError, resilience.DeadlineError) as exc:
            if isinstance(exc, CaptureError):
                self._writes.failed()
            logger.error("feedback not stored", extra={"labels": len(records)}, exc_info=exc)
            raise DependencyUnavailableError(
                f"the {len(records)} label(s) could not be stored; nothing was accepted: "
                "send them again"
            ) from exc
        self._writes.succeeded()
        return {"accepted": len(records)}
