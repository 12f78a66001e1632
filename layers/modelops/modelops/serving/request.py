"""Validation of a prediction request against the served model's schema (contract section 3).

Everything is checked before any inference and every problem is reported with its row and
field, so a client fixes a bad batch in one round trip. The validated instances go straight
to per-feature columns (lists of raw values, None for missing): no pandas on this path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from modelops.capture import new_uuids
from modelops.errors import InvalidInput, Problem, Problems
from modelops.jsonio import NonFiniteNumber
from modelops.schema import FeatureKind, ModelSchema

FLOAT32_MAX = 3.4028234663852886e38
MAX_INFERENCE_ID_LENGTH = 256
TOP_LEVEL_KEYS = ("instances", "inference_ids")


@dataclass(frozen=True)
class PredictRequest:
    """A validated request: the instances as sent, per-feature columns and one id per row."""

    instances: list[dict[str, Any]]
    columns: dict[str, list[Any]]
    inference_ids: list[str]

    def __len__(self) -> int:
        return len(self.instances)


def describe(value: Any) -> str:
    """A short, JSON-like rendering of a client's value for a problem message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, NonFiniteNumber):
        return value.token
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str) and len(value) > 60:
        value = value[:60]  # a client's string can be megabytes long; only 57 are shown
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _numeric_problem(value: Any) -> str | None:
    kind = type(value)
    if kind is int or kind is float:
        if kind is float and not math.isfinite(value):
            return f"expected a finite number, got {describe(value)}"
        if abs(value) > FLOAT32_MAX:
            return f"number {describe(value)} is out of range (the model computes in float32)"
        return None
    if kind is bool:
        return f"expected a number, got a boolean ({describe(value)})"
    if kind is NonFiniteNumber:
        return f"expected a finite number, got {value.token}"
    return f"expected a number, got {describe(value)}"


def _categorical_problem(value: Any) -> str | None:
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return None
    return f"expected a string (a category), got {describe(value)}"


_CHECKS: dict[FeatureKind, Callable[[Any], str | None]] = {
    FeatureKind.NUMERIC: _numeric_problem,
    FeatureKind.CATEGORICAL: _categorical_problem,
}


def parse_predict_request(
    payload: Any,
    schema: ModelSchema,
    *,
    max_rows: int,
    new_inference_ids: Callable[[int], list[str]] = new_uuids,
) -> PredictRequest:
    """Validate `payload` (the parsed body or direct-invocation event) or raise InvalidInput."""
    if not isinstance(payload, Mapping):
        raise InvalidInput(
            "1 problem in the request",
            [Problem(f'expected a JSON object with "instances", got {describe(payload)}')],
        )
    problems = Problems(
        Problem(f"unknown key; expected {' and '.join(TOP_LEVEL_KEYS)}", field=str(key))
        for key in payload
        if key not in TOP_LEVEL_KEYS
    )
    instances = payload.get("instances")
    if not isinstance(instances, list):
        got = "nothing" if instances is None else describe(instances)
        problems.append(
            Problem(f"expected an array of 1 to {max_rows} objects, got {got}", field="instances")
        )
        raise _invalid(problems)
    if not instances:
        problems.append(
            Problem(f"expected 1 to {max_rows} instances, got an empty array", field="instances")
        )
        raise _invalid(problems)
    if len(instances) > max_rows:
        raise InvalidInput(
            "too many rows in the request",
            [
                Problem(
                    f"{len(instances)} instances; at most {max_rows} per request", field="instances"
                )
            ],
            status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )

    checks = {spec.name: _CHECKS[spec.kind] for spec in schema.features}
    numeric = {spec.name for spec in schema.features if spec.kind is FeatureKind.NUMERIC}
    for row, instance in enumerate(instances):
        if type(instance) is not dict:
            problems.append(
                Problem(f"expected an object of features, got {describe(instance)}", row=row)
            )
            continue
        for name, value in instance.items():
            # Fast paths for the common valid values (this loop runs for every cell); the
            # range test also fails for NaN and infinities, which the checks then name. It is
            # strict so that the range's bounds themselves are decided by _numeric_problem only.
            if value is None:
                if name in checks:
                    continue
            elif name in numeric:
                kind = type(value)
                if (kind is float or kind is int) and -FLOAT32_MAX < value < FLOAT32_MAX:
                    continue
            elif type(value) is str and name in checks:
                continue
            check = checks.get(name)
            if check is None:
                problems.append(Problem("unknown feature", row=row, field=str(name)))
            elif (problem := check(value)) is not None:
                problems.append(Problem(problem, row=row, field=name))

    inference_ids = _inference_ids(
        payload.get("inference_ids"), len(instances), problems, new_inference_ids
    )
    if problems:
        raise _invalid(problems)
    columns = {name: [instance.get(name) for instance in instances] for name in checks}
    return PredictRequest(instances=instances, columns=columns, inference_ids=inference_ids)


def _inference_ids(
    ids: Any, rows: int, problems: Problems, new_inference_ids: Callable[[int], list[str]]
) -> list[str]:
    if ids is None:
        return new_inference_ids(rows)
    if not isinstance(ids, list):
        problems.append(
            Problem(
                f"expected an array of {rows} strings, got {describe(ids)}", field="inference_ids"
            )
        )
        return []
    if len(ids) != rows:
        problems.append(
            Problem(f"expected one id per instance ({rows}), got {len(ids)}", field="inference_ids")
        )
    first_row: dict[str, int] = {}
    # Ids beyond the rows are already one problem (the count); they are not checked one by one.
    for row, value in enumerate(ids[:rows]):
        if type(value) is not str:
            problems.append(
                Problem(f"expected a string, got {describe(value)}", row=row, field="inference_ids")
            )
        elif not value.strip():
            problems.append(Problem("must not be empty", row=row, field="inference_ids"))
        elif len(value) > MAX_INFERENCE_ID_LENGTH:
            problems.append(
                Problem(
                    f"longer than {MAX_INFERENCE_ID_LENGTH} characters",
                    row=row,
                    field="inference_ids",
                )
            )
        elif value in first_row:
            problems.append(
                Problem(
                    f"duplicate of row {first_row[value]} ({describe(value)})",
                    row=row,
                    field="inference_ids",
                )
            )
        else:
            first_row[value] = row
    return ids


def _invalid(problems: Problems) -> InvalidInput:
    count = len(problems)
    return InvalidInput(f"{count} problem{'s' if count != 1 else ''} in the request", problems)
