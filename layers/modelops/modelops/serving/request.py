"""Validation of a prediction request against the served model's schema (contract section 3).

Everything is checked before any inference and every problem is reported with its row and
field, so a client fixes a bad batch in one round trip. Whatever the request's format
(modelops.serving.formats), the rows become per-feature numpy columns as the model takes
them: no pandas on this path. A batch is checked a column at a time
(modelops.serving.columns); a batch with any problem is checked again cell by cell (the
exact path, `columnar=False`), which names each problem. A required feature a row leaves
out (or sends as null) is a problem; an optional one is imputed by the model and listed per
row. The words of every problem come from modelops.messages, shared with feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelops import messages
from modelops.capture import new_uuids
from modelops.errors import Problem, Problems
from modelops.messages import FLOAT32_MAX, describe
from modelops.schema import FeatureKind, ModelSchema
from modelops.serving.columns import FEW_ROWS, exact_columns, gather
from modelops.serving.columns import columnar as columnar_columns
from modelops.serving.formats import FORMATS, REPORTED, Rows, read_rows

__all__ = ["PredictRequest", "describe", "parse_predict_request"]

TOP_LEVEL_KEYS = (*FORMATS, "inference_ids")
_KNOWN_KEYS = frozenset(TOP_LEVEL_KEYS)
OBJECT_KEYS = 'one of "instances", "dataframe_split", "dataframe_records" or "inputs"'


@dataclass(frozen=True)
class PredictRequest:
    """A validated request: the model's input columns (modelops.serving.columns), one id
    per row, per row the optional features the model imputed (rows with none are left out),
    and the rows as sent (objects of features, built on first use for column-wise formats)."""

    columns: dict[str, np.ndarray]
    inference_ids: list[str]
    imputed: dict[int, list[str]]
    format: str
    sent: Rows
    # Each feature's values as sent (None for null or absent), when the columnar check took
    # them; None when the request went cell by cell.
    sent_columns: Mapping[str, Sequence[Any]] | None = None

    @property
    def instances(self) -> list[dict[str, Any]]:
        return self.sent.rows

    def feeds(self) -> dict[str, np.ndarray]:
        """The ONNX model's inputs: the columns as [n, 1] tensors."""
        return {name: column.reshape(-1, 1) for name, column in self.columns.items()}

    def __len__(self) -> int:
        return self.sent.count


def _numeric_problem(value: Any) -> str | None:
    return messages.number_problem(value, float32=True)


_CHECKS: dict[FeatureKind, Callable[[Any], str | None]] = {
    FeatureKind.NUMERIC: _numeric_problem,
    FeatureKind.CATEGORICAL: messages.category_problem,
}


def parse_predict_request(
    payload: Any,
    schema: ModelSchema,
    *,
    max_rows: int,
    new_inference_ids: Callable[[int], list[str]] = new_uuids,
    columnar: bool = True,
    few_rows: int = FEW_ROWS,
) -> PredictRequest:
    """Validate `payload` (the parsed body or direct-invocation event) or raise InvalidInput.
    `columnar`: check a batch a column at a time where it applies (False: cell by cell only,
    the reference the columnar path must agree with); `few_rows`: up to this many rows are
    checked cell by cell in one pass (modelops.serving.columns)."""
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise messages.not_an_object(payload, OBJECT_KEYS)
    problems = Problems()
    if not _KNOWN_KEYS.issuperset(payload):
        problems.extend(
            Problem(messages.unknown_name(str(key), TOP_LEVEL_KEYS, "key"), field=str(key))
            for key in payload
            if key not in TOP_LEVEL_KEYS
        )
    rows = read_rows(payload, schema, max_rows, problems)
    if rows is None:
        raise messages.invalid(problems)
    raw = _raw_columns(rows, schema) if columnar and not problems else None
    checked = None if raw is None else columnar_columns(raw, rows.count, schema, few_rows=few_rows)
    imputed = _check_rows(rows, schema, problems) if checked is None else checked[1]
    inference_ids = _inference_ids(
        payload.get("inference_ids"), rows.count, problems, new_inference_ids
    )
    if problems:
        raise messages.invalid(problems)
    columns = exact_columns(rows.rows, schema) if checked is None else checked[0]
    sent = raw if checked is not None else None
    return PredictRequest(columns, inference_ids, imputed, rows.format, rows, sent)


def _raw_columns(rows: Rows, schema: ModelSchema) -> Mapping[str, Sequence[Any]] | None:
    return rows.columns if rows.columns is not None else gather(rows.rows, schema.feature_names)


def _check_rows(rows: Rows, schema: ModelSchema, problems: Problems) -> dict[int, list[str]]:
    """Every value's problem, into `problems`; the imputed optional features of each row."""
    checks = {spec.name: _CHECKS[spec.kind] for spec in schema.features}
    numeric = {spec.name for spec in schema.features if spec.kind is FeatureKind.NUMERIC}
    required = set(schema.required_names)
    names = schema.feature_names
    unknown: dict[str, str] = {}  # the words for an unknown name, found once per request
    imputed: dict[int, list[str]] = {}
    locate = rows.locate
    for row, instance in enumerate(rows.rows):
        if type(instance) is not dict:
            if instance is not REPORTED:
                problems.append(
                    Problem(
                        f"expected an object of features, got {describe(instance)}",
                        row=row,
                        path=locate(row, None),
                    )
                )
            continue
        present = 0
        for name, value in instance.items():
            # Fast paths for the common valid values (this loop runs for every cell); the
            # range test also fails for NaN and infinities, which the checks then name. It is
            # strict so that the range's bounds themselves are decided by the one check only.
            if value is None:
                if name in checks:
                    continue
            elif name in numeric:
                kind = type(value)
                if (kind is float or kind is int) and -FLOAT32_MAX < value < FLOAT32_MAX:
                    present += 1
                    continue
            elif type(value) is str and name in checks:
                present += 1
                continue
            check = checks.get(name)
            if check is None:
                key = str(name)
                if key not in unknown:
                    unknown[key] = messages.unknown_name(key, names, "feature")
                problems.append(Problem(unknown[key], row=row, field=key, path=locate(row, key)))
                continue
            present += 1  # a bad value is not a missing one
            if (problem := check(value)) is not None:
                problems.append(Problem(problem, row=row, field=name, path=locate(row, name)))
        if present == len(names):
            continue
        for name in names:
            if instance.get(name) is not None:
                continue
            if name not in required:
                imputed.setdefault(row, []).append(name)
            elif name not in rows.reported:
                words = messages.REQUIRED_NULL if name in instance else messages.REQUIRED_MISSING
                problems.append(Problem(words, row=row, field=name, path=locate(row, name)))
    return imputed


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
            Problem(f"expected one id per row ({rows}), got {len(ids)}", field="inference_ids")
        )
    first_row: dict[str, int] = {}
    # Ids beyond the rows are already one problem (the count); they are not checked one by one.
    for row, value in enumerate(ids[:rows]):
        problem = messages.inference_id_problem(value, first_row, row)
        if problem is not None:
            problems.append(Problem(problem, row=row, field="inference_ids"))
    return ids
