"""The request formats POST /predict and the direct door accept, read into rows of features.

`instances` is the contract's own; MLflow's scoring formats, which most model clients
already produce, are read too: `dataframe_split` ({"columns": [...], "data": [[...]],
"index": [...]}), `dataframe_records` (an array of objects) and `inputs` where it is
unambiguous (an array of objects, or an object of equally long columns). Every format
becomes the same row objects, so validation and the response are the same whatever was sent;
`locate` names a value's place in the format as sent ("dataframe_split.data[3][1]").
A column-wise format reports an unknown or missing column once, not once per row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from modelops import messages
from modelops.errors import Problem, Problems
from modelops.messages import describe
from modelops.schema import ModelSchema

FORMATS = ("instances", "dataframe_split", "dataframe_records", "inputs")
SPLIT_KEYS = ("columns", "data", "index")
# Stands in for a row whose problem the format already reported (a data row of wrong length).
REPORTED = object()


@dataclass
class Rows:
    """The request's rows as objects of features, and how to name a place in what was sent.
    A column-wise format that arrived well formed also keeps its known features' values as
    sent (`columns`), and builds the row objects only when asked (to capture them)."""

    format: str
    make_rows: Callable[[], list[Any]]
    count: int
    # (row, feature or None for the row itself) -> path as sent; None: row and field say it.
    locate: Callable[[int, str | None], str | None]
    # Required features whose absence was reported once for the whole request (a column).
    reported: set[str] = field(default_factory=set)
    columns: dict[str, Sequence[Any]] | None = None

    @cached_property
    def rows(self) -> list[Any]:
        return self.make_rows()


def read_rows(
    payload: Mapping[str, Any], schema: ModelSchema, max_rows: int, problems: Problems
) -> Rows | None:
    """The rows of whichever format `payload` uses; None when the problems added to
    `problems` leave no rows to check. A request over `max_rows` is a 413 (InvalidInput)."""
    sent = [name for name in FORMATS if name in payload]
    if len(sent) > 1:
        problems.append(Problem(f"send the rows in one format, got {' and '.join(sent)}"))
        return None
    name = sent[0] if sent else "instances"
    value: Any = payload.get(name)
    if name == "dataframe_split":
        return _split(value, schema, max_rows, problems)
    if name == "inputs" and isinstance(value, Mapping):
        return _columns(value, schema, max_rows, problems)
    if name == "inputs" and isinstance(value, list) and any(type(r) is list for r in value):
        problems.append(
            Problem(
                "an array of arrays does not say which value is which feature: send it as "
                'dataframe_split {"columns": [...], "data": [...]}',
                field="inputs",
            )
        )
        return None
    what = "objects" if sent else "objects (or send dataframe_split, dataframe_records or inputs)"
    if not _count_rows(value, name, what, max_rows, problems):
        return None
    if name == "instances":
        return Rows(name, lambda: value, len(value), lambda row, feature: None)
    return Rows(
        name,
        lambda: value,
        len(value),
        lambda row, feature: f"{name}[{row}]" + (f".{feature}" if feature is not None else ""),
    )


def _count_rows(value: Any, field: str, what: str, max_rows: int, problems: Problems) -> bool:
    problem = messages.array_problem(value, what, max_rows)
    if problem is not None:
        problems.append(Problem(problem, field=field))
        return False
    if len(value) > max_rows:
        raise messages.too_many(len(value), "rows", max_rows, field)
    return True


def _known_columns(
    columns: list[str], schema: ModelSchema, problems: Problems, path: Callable[[int, str], str]
) -> Rows:
    """Unknown and missing columns, each reported once; the Rows to fill (format set later)."""
    expected = schema.feature_names
    for i, column in enumerate(columns):
        if column not in expected:
            problem = messages.unknown_name(column, expected, "feature")
            problems.append(Problem(problem, field=column, path=path(i, column)))
    rows = Rows("", list, 0, lambda row, feature: None)
    for name in schema.required_names:
        if name not in columns:
            problems.append(Problem(messages.REQUIRED_MISSING, field=name, path=path(-1, name)))
            rows.reported.add(name)
    return rows


def _split(value: Any, schema: ModelSchema, max_rows: int, problems: Problems) -> Rows | None:
    if not isinstance(value, Mapping):
        problems.append(
            Problem(
                f"expected an object with columns and data, got {messages.got(value)}",
                field="dataframe_split",
            )
        )
        return None
    for key in value:
        if key not in SPLIT_KEYS:
            problem = messages.unknown_name(str(key), SPLIT_KEYS, "key")
            problems.append(Problem(problem, field=f"dataframe_split.{key}"))
    columns = value.get("columns")
    if not isinstance(columns, list) or not columns:
        problems.append(
            Problem(
                f"expected an array of feature names, got {messages.got(columns)}",
                field="dataframe_split.columns",
            )
        )
        return None
    first: dict[str, int] = {}
    for i, column in enumerate(columns):
        if type(column) is not str:
            problems.append(
                Problem(
                    f"expected a feature name, got {describe(column)}",
                    field=f"dataframe_split.columns[{i}]",
                )
            )
        elif column in first:
            problems.append(
                Problem(
                    f"duplicate of column {first[column]} ({describe(column)})",
                    field=f"dataframe_split.columns[{i}]",
                )
            )
        else:
            first[column] = i
    data: Any = value.get("data")
    if len(first) != len(columns) or not _count_rows(
        data, "dataframe_split.data", "arrays", max_rows, problems
    ):
        return None
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        shown = f"{len(index)} values" if isinstance(index, list) else describe(index)
        problems.append(
            Problem(
                f"expected an array of one index value per row ({len(data)}), got {shown}",
                field="dataframe_split.index",
            )
        )
    rows = _known_columns(
        columns,
        schema,
        problems,
        lambda i, c: f"dataframe_split.columns[{i}]" if i >= 0 else "dataframe_split.columns",
    )
    known = [(j, c) for j, c in enumerate(columns) if c in schema.by_name]
    rows.format, rows.count = "dataframe_split", len(data)
    well_formed = {*map(type, data)} == {list} and {*map(len, data)} == {len(columns)}
    if len(known) == len(columns) and well_formed:
        # The data's columns as they are; the row objects only if asked for.
        rows.columns = dict(zip(columns, zip(*data, strict=True), strict=True))
        rows.make_rows = lambda: [dict(zip(columns, values, strict=True)) for values in data]
    if rows.columns is None:
        rows.rows = [
            _split_row(r, values, columns, known, problems) for r, values in enumerate(data)
        ]
    rows.locate = lambda row, feature: (
        f"dataframe_split.data[{row}]" + (f"[{first[feature]}]" if feature is not None else "")
    )
    return rows


def _split_row(
    r: int, values: Any, columns: list[str], known: list[tuple[int, str]], problems: Problems
) -> Any:
    """One data row as an object of its known features, or REPORTED with its problem."""
    if type(values) is not list or len(values) != len(columns):
        shown = f"{len(values)} values" if type(values) is list else describe(values)
        problems.append(
            Problem(
                f"expected an array of {len(columns)} values (one per column), got {shown}",
                row=r,
                field=f"dataframe_split.data[{r}]",
            )
        )
        return REPORTED
    return {c: values[j] for j, c in known}


def _columns(
    value: Mapping[str, Any], schema: ModelSchema, max_rows: int, problems: Problems
) -> Rows | None:
    """`inputs` as an object of columns: {"feature": [one value per row], ...}."""
    lengths = {str(name): len(col) for name, col in value.items() if isinstance(col, list)}
    for name, col in value.items():
        if not isinstance(col, list):
            problems.append(
                Problem(
                    f"expected an array of one value per row, got {describe(col)}",
                    field=str(name),
                    path=f"inputs.{name}",
                )
            )
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n} ({name})" for name, n in lengths.items())
        problems.append(Problem(f"expected columns of one length, got {shown}", field="inputs"))
    if not value or len(lengths) != len(value) or len(set(lengths.values())) > 1:
        if not value:
            problems.append(
                Problem("expected an object of columns, got an empty object", field="inputs")
            )
        return None
    count = next(iter(lengths.values()))
    if count == 0:
        problems.append(Problem(f"expected columns of 1 to {max_rows} values", field="inputs"))
        return None
    if count > max_rows:
        raise messages.too_many(count, "rows", max_rows, "inputs")
    columns = list(lengths)
    rows = _known_columns(columns, schema, problems, lambda i, c: f"inputs.{c}")
    known = [c for c in columns if c in schema.by_name]
    rows.columns = {c: value[c] for c in known}
    rows.make_rows = lambda: [{c: value[c][r] for c in known} for r in range(count)]
    rows.format, rows.count = "inputs", count
    rows.locate = lambda row, feature: "inputs" if feature is None else f"inputs.{feature}[{row}]"
    return rows
