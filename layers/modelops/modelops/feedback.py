"""Ground-truth feedback: validation (contract section 4) and the records it becomes (section 5).

A request is all-or-nothing: every problem is collected (with the label's index and field)
and reported at once, and nothing is written unless the whole request is valid. The label
type must fit the served model: classification labels must be one of the champion's
classes (compared as strings, so "1" is class 1, and stored as the class itself); regression
values must be finite numbers. The champion's schema is cached and refreshed with a
conditional GET of its alias, so a promotion is picked up without reading metadata per call.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from modelops.capture import RecordSink, S3Sink, feedback_record, iso_timestamp
from modelops.config import StackSettings, env_int
from modelops.errors import InvalidInput, Problem
from modelops.registry import CHAMPION, ModelRegistry
from modelops.schema import ModelSchema, Task, class_key

ALLOWED_FIELDS = ("inference_id", "label", "value")
MAX_INFERENCE_ID_LENGTH = 256


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
    """The (inference id, truth) pairs of a valid body; InvalidInput listing every problem otherwise."""
    if not isinstance(body, Mapping):
        raise InvalidInput(
            "the body must be a JSON object", [Problem('expected {"labels": [...]}')]
        )
    problems: list[Problem] = [
        Problem(f"unknown field {key!r}", field=str(key)) for key in body if key != "labels"
    ]
    labels = body.get("labels")
    if not isinstance(labels, list) or not labels:
        problems.append(Problem("required: a non-empty list of labels", field="labels"))
        raise InvalidInput(f"{len(problems)} problem(s) in the request", problems)
    if len(labels) > max_labels:
        raise InvalidInput(
            "too many labels",
            [Problem(f"{len(labels)} labels; at most {max_labels} per request", field="labels")],
            status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )
    classes = {class_key(c): c for c in schema.classes or ()}
    seen: dict[str, int] = {}
    accepted: list[tuple[str, Any]] = []
    for row, item in enumerate(labels):
        if not isinstance(item, Mapping):
            problems.append(
                Problem("expected an object with inference_id and label or value", row=row)
            )
            continue
        row_problems = [
            Problem(f"unknown field {k!r}", row=row, field=str(k))
            for k in item
            if k not in ALLOWED_FIELDS
        ]
        inference_id = item.get("inference_id")
        if not isinstance(inference_id, str) or not inference_id.strip():
            row_problems.append(
                Problem("required: a non-empty string", row=row, field="inference_id")
            )
        elif len(inference_id) > MAX_INFERENCE_ID_LENGTH:
            row_problems.append(
                Problem(
                    f"longer than {MAX_INFERENCE_ID_LENGTH} characters",
                    row=row,
                    field="inference_id",
                )
            )
        elif inference_id in seen:
            row_problems.append(
                Problem(f"duplicate of row {seen[inference_id]}", row=row, field="inference_id")
            )
        else:
            seen[inference_id] = row
        truth, truth_problems = _truth(item, schema, classes, row)
        row_problems += truth_problems
        problems += row_problems
        if not row_problems:
            accepted.append((str(inference_id), truth))
    if problems:
        raise InvalidInput(f"{len(problems)} problem(s) in the request", problems)
    return accepted


def _truth(
    item: Mapping[str, Any], schema: ModelSchema, classes: dict[str, Any], row: int
) -> tuple[Any, list[Problem]]:
    if schema.task is Task.REGRESSION:
        if "label" in item:
            return None, [
                Problem('a regression model takes "value", not "label"', row=row, field="label")
            ]
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, [
                Problem(f"required: a number, got {_show(value)}", row=row, field="value")
            ]
        if not math.isfinite(value):
            return None, [Problem("must be a finite number", row=row, field="value")]
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
                f"must be one of the model's classes ({known}), got {_show(label)}",
                row=row,
                field="label",
            )
        ]
    return classes[class_key(label)], []


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    ) -> None:
        self.model_name = model_name
        self.registry = registry
        self.sink = sink
        self.max_labels = max_labels
        self._clock = clock
        self._lock = threading.Lock()
        self._etag: str | None = None
        self._schema: ModelSchema | None = None

    @classmethod
    def from_settings(
        cls, settings: FeedbackSettings, *, s3_client: Any | None = None
    ) -> FeedbackService:
        registry = ModelRegistry(settings.stack.bucket, s3_client=s3_client)
        sink = S3Sink(
            settings.stack.bucket, feedback_prefix(settings.stack.model_name), s3_client=s3_client
        )
        return cls(
            model_name=settings.stack.model_name,
            registry=registry,
            sink=sink,
            max_labels=settings.max_labels,
        )

    def schema(self) -> ModelSchema:
        """The champion's schema; re-read only when the champion alias changed (conditional GET)."""
        with self._lock:
            state = self.registry.get_alias_if_changed(self.model_name, CHAMPION, self._etag)
            if state is not None:
                metadata = self.registry.get_metadata(self.model_name, state.version)
                self._schema = ModelSchema.from_metadata(metadata)
                self._etag = state.etag
            assert self._schema is not None
            return self._schema

    def accept(self, body: Any) -> dict[str, int]:
        """Validate and write; returns the 202 body {"accepted": n}."""
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
        self.sink.write(records)
        return {"accepted": len(records)}
