"""A monitoring window: which one (from the event), and one streaming pass over its captures.

Rows are grouped by the model version that served them; each version's rows feed that
version's accumulators (bins and samples from its own baseline). Feedback joins by
inference id through the FeedbackIndex. A line that is not a capture record of this model
(bad JSON, missing fields, wrong types) is skipped and counted as malformed; a record whose
inferenceTime is outside the window is skipped silently (neighbouring partitions are read
because records can land in the next hour's partition).
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress
from typing import Any, cast

import numpy as np
import orjson

from modelops.capture import REQUEST_EVENT_VERSION, OutputColumns, check_output_columns
from modelops.errors import InvalidInput, ModelNotFoundError, Problem
from modelops.estimation.accumulator import for_version
from modelops.monitoring.accumulators import CategoricalAccumulator, LabeledRows, NumericAccumulator
from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.objects import iso_millis, parse_time
from modelops.schema import FeatureKind, ModelSchema, Task

MAX_WINDOW = timedelta(days=31)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, str]:
        return {"start": _iso_seconds(self.start), "end": _iso_seconds(self.end)}

    @property
    def key(self) -> str:
        """A file-name-safe id of the window: 20261126T120000Z-20261126T130000Z."""
        return f"{self.start:%Y%m%dT%H%M%SZ}-{self.end:%Y%m%dT%H%M%SZ}"

    @classmethod
    def from_event(cls, event: Mapping[str, Any], *, window_minutes: int) -> Window:
        """`{"window": {"start", "end"}}` (direct) or a scheduled event: the last complete
        window of `window_minutes` (aligned to the epoch) before the event's `time`."""
        if not isinstance(event, Mapping):
            raise InvalidInput("the event must be a JSON object", [Problem("expected an object")])
        if "window" in event:
            return cls._explicit(event["window"])
        if isinstance(event.get("time"), str):
            try:
                now = parse_time(event["time"])
            except ValueError:
                raise InvalidInput(
                    "invalid scheduled event",
                    [Problem(f"not an ISO 8601 time: {event['time']!r}", field="time")],
                ) from None
            step = window_minutes * 60
            end_seconds = math.floor(now.timestamp() / step) * step
            end = datetime.fromtimestamp(end_seconds, UTC)
            return cls(end - timedelta(minutes=window_minutes), end)
        raise InvalidInput(
            "the event names no window",
            [
                Problem(
                    'expected {"window": {"start": ..., "end": ...}} or a scheduled event with "time"'
                )
            ],
        )

    @classmethod
    def _explicit(cls, raw: Any) -> Window:
        if not isinstance(raw, Mapping):
            raise InvalidInput(
                "invalid window", [Problem("expected an object with start and end", field="window")]
            )
        problems: list[Problem] = []
        bounds: dict[str, datetime] = {}
        for name in ("start", "end"):
            value = raw.get(name)
            if not isinstance(value, str):
                problems.append(Problem("required: an ISO 8601 time", field=f"window.{name}"))
                continue
            try:
                bounds[name] = parse_time(value)
            except ValueError:
                problems.append(Problem(f"not an ISO 8601 time: {value!r}", field=f"window.{name}"))
        if not problems:
            start, end = bounds["start"], bounds["end"]
            if end <= start:
                problems.append(Problem("end must be after start", field="window.end"))
            elif end - start > MAX_WINDOW:
                problems.append(
                    Problem(f"a window may span at most {MAX_WINDOW.days} days", field="window.end")
                )
        if problems:
            raise InvalidInput(f"{len(problems)} problem(s) in the window", problems)
        return cls(bounds["start"].astimezone(UTC), bounds["end"].astimezone(UTC))


def _iso_seconds(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ScanSettings:
    sample_size: int = 1000
    max_categories: int = 1000
    max_labeled_rows: int = 1_000_000
    seed: int = 0


class VersionWindow:
    """The window's rows served by one model version, against that version's baseline."""

    def __init__(self, version: int, metadata: Mapping[str, Any], settings: ScanSettings) -> None:
        self.version = version
        self.metadata = metadata
        self.schema = ModelSchema.from_metadata(metadata)
        self.baseline: dict[str, Any] = metadata["baseline"]
        self.rows = 0
        self.numeric: dict[str, NumericAccumulator] = {}
        self.categorical: dict[str, CategoricalAccumulator] = {}
        for i, spec in enumerate(self.schema.features):
            if spec.kind is FeatureKind.NUMERIC:
                self.numeric[spec.name] = NumericAccumulator.for_baseline(
                    self.baseline["features"][spec.name],
                    sample_size=settings.sample_size,
                    seed=settings.seed + i,
                )
            else:
                self.categorical[spec.name] = CategoricalAccumulator(
                    max_categories=settings.max_categories
                )
        self.prediction: NumericAccumulator | CategoricalAccumulator
        if self.schema.task is Task.REGRESSION:
            self.prediction = NumericAccumulator.for_baseline(
                self.baseline["prediction"],
                sample_size=settings.sample_size,
                # a seed of its own, past the features' (seed - 1 was negative at seed 0)
                seed=settings.seed + len(self.schema.features),
            )
        else:
            self.prediction = CategoricalAccumulator(max_categories=settings.max_categories)
        names = self.schema.feature_names
        self.feature_names = names
        # A row's feature values in schema order, in one C call (KeyError: a feature absent).
        self.extract: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
        )
        self.labeled = LabeledRows(capacity=settings.max_labeled_rows, seed=settings.seed)
        # Calibrated scores for the label-free estimate (None: why not, in words).
        self.estimation, self.estimation_unavailable = for_version(version, metadata, self.schema)

    def merge(self, other: VersionWindow) -> None:
        """Add the state another worker built for the same version."""
        self.rows += other.rows
        for name, acc in self.numeric.items():
            acc.merge(other.numeric[name])
        for name, cat in self.categorical.items():
            cat.merge(other.categorical[name])
        # The same version has the same task: both sides hold the same kind.
        if isinstance(self.prediction, NumericAccumulator):
            self.prediction.merge(cast(NumericAccumulator, other.prediction))
        else:
            self.prediction.merge(cast(CategoricalAccumulator, other.prediction))
        self.labeled.merge(other.labeled)
        if self.estimation is not None and other.estimation is not None:
            self.estimation.merge(other.estimation)

    def add(
        self, inputs: list[Any], outputs: list[Any], ids: list[str], feedback: FeedbackIndex
    ) -> int:
        """Add a batch of rows (feature dicts); returns how many were malformed (skipped)."""
        return self.add_values([self.row_values(row) for row in inputs], outputs, ids, feedback)

    def row_values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The row's feature values in schema order (None where the row lacks a feature)."""
        try:
            return self.extract(row)
        except KeyError:
            return tuple(map(row.get, self.feature_names))

    def add_values(
        self,
        values: list[tuple[Any, ...]],
        outputs: list[Any],
        ids: list[str],
        feedback: FeedbackIndex,
    ) -> int:
        """Add a batch of rows given as `row_values`; returns how many were malformed."""
        # The values were taken from each record while it was still in the CPU's cache; one
        # C-level zip makes the columns (10 % faster than a pass per feature over the row
        # dicts a batch later, which the cache has lost).
        transposed = zip(*values, strict=True) if values else [()] * len(self.feature_names)
        return self.add_columns(list(transposed), outputs, ids, feedback)

    def add_columns(
        self,
        features: Sequence[Sequence[Any]],
        outputs: Sequence[Any],
        ids: list[str],
        feedback: FeedbackIndex,
    ) -> int:
        """Add a batch of rows given as one list per feature (schema order); returns how many
        were malformed (skipped). `outputs`: the rows' output objects, or format 2's
        `OutputColumns` (read column by column; a row's object is made for labeled rows)."""
        columns, bad = self._columns(features, outputs)
        malformed = int(bad.sum()) if bad is not None else 0
        if bad is not None and malformed:
            good = (~bad).tolist()
            features = [list(compress(column, good)) for column in features]
            outputs = list(compress(outputs, good))
            ids = list(compress(ids, good))
            columns, _ = self._columns(features, outputs)
        self.rows += len(ids)
        for name, acc in self.numeric.items():
            acc.add(columns[name])
        for name, cat in self.categorical.items():
            cat.add_counts(columns[name])
        if isinstance(self.prediction, NumericAccumulator):
            self.prediction.add(columns["__prediction__"])
        else:
            self.prediction.add_counts(columns["__prediction__"])
        if self.estimation is not None:
            self.estimation.add_outputs(outputs, labels=columns.get("__labels__"))
        positions = feedback.lookup(ids)
        rows = np.flatnonzero(positions >= 0)
        if rows.size:
            labeled = rows.tolist()
            self.labeled.add_many(
                feedback.truths(positions[rows]),
                [outputs[row] for row in labeled],
                [ids[row] for row in labeled],
            )
        return malformed

    def _columns(
        self, features: Sequence[Sequence[Any]], outputs: Sequence[Any]
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        bad: np.ndarray | None = None
        columns: dict[str, Any] = {}
        for spec, column in zip(self.schema.features, features, strict=True):
            if spec.kind is FeatureKind.NUMERIC:
                columns[spec.name], column_bad = _numeric(column)
            else:
                columns[spec.name], column_bad = _categories(column)
            if column_bad is not None:
                bad = column_bad if bad is None else bad | column_bad
        output_bad: np.ndarray | None
        if self.schema.task is Task.REGRESSION:
            columns["__prediction__"], output_bad = _numeric(_field_or(outputs, "value", _ABSENT))
        else:
            labels = _field(outputs, "label")
            if labels is not None:
                columns["__labels__"] = labels  # also the estimate's predicted classes
            columns["__prediction__"], output_bad = _categories(
                labels if labels is not None else _field_or(outputs, "label", _ABSENT),
                allow_missing=False,
            )
        if output_bad is not None:
            bad = output_bad if bad is None else bad | output_bad
        return columns, bad


_ABSENT = object()  # a required output field that is not there


def _field(outputs: Sequence[Any], key: str) -> list[Any] | None:
    """Every output's `key` (one C-level pass, or format 2's column), or None when a row
    lacks it."""
    if outputs.__class__ is OutputColumns:
        return outputs.column(key)
    try:
        return list(map(operator.itemgetter(key), outputs))
    except KeyError:
        return None


def _field_or(outputs: Sequence[Any], key: str, default: Any) -> list[Any]:
    """Every output's `key`, `default` where a row lacks it."""
    if outputs.__class__ is OutputColumns:
        return outputs.column_or(key, default)
    return [o.get(key, default) for o in outputs]


def _numeric(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray | None]:
    # Types first: numpy would read a string such as "12" as a number, so a string in a
    # numeric feature would pass or not depending on the other values of its batch.
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            return np.fromiter(values, dtype=np.float64, count=len(values)), None
        except OverflowError:  # an integer past float64
            pass
    bad = np.array([not _is_number(v) for v in values], dtype=bool)
    clean = [v if not b else None for v, b in zip(values, bad.tolist(), strict=True)]
    return np.array(clean, dtype=np.float64), bad


def _is_number(value: Any) -> bool:
    """None (missing) or a number a float64 holds. A bool counts as 0 or 1, as numpy reads a
    column of them (serving never captures one for a numeric feature)."""
    if value is None or value.__class__ is float:
        return True
    if isinstance(value, int):
        return abs(value) <= _FLOAT64_INT_LIMIT
    return isinstance(value, float)


_FLOAT64_INT_LIMIT = int(np.finfo(np.float64).max)
_NUMBER_TYPES = frozenset({float, int, bool, type(None)})


def _categories(
    values: Sequence[Any], *, allow_missing: bool = True
) -> tuple[Counter[Any], np.ndarray | None]:
    """Counts of the raw values and the rows whose value is not a category (None when all are).

    Types are checked on the distinct values only: a column of a million strings is one
    Counter pass, not a million isinstance checks.
    """
    try:
        counts = Counter(values)
        if all(k.__class__ in _CATEGORY_TYPES for k in counts) and (
            allow_missing or None not in counts
        ):
            return counts, None
    except TypeError:  # an unhashable value: a list or an object
        pass
    bad = np.array(
        [v.__class__ not in _CATEGORY_TYPES or (v is None and not allow_missing) for v in values],
        dtype=bool,
    )
    return Counter(v for v, b in zip(values, bad.tolist(), strict=True) if not b), bad


_CATEGORY_TYPES = frozenset({str, int, float, bool, type(None)})


# Rows of a batch by model version: (feature values, outputs, inference ids, the version's
# window or None for a version the registry does not have, and how to take the values).
_Group = tuple[list[Any], list[Any], list[str], "VersionWindow | None", Callable[[Any], Any]]
_Grouped = dict[int, _Group]


# Rows of format-2 records by model version: one list per feature, outputs, inference ids
# and the version's window (None: only counted).
_Requests = dict[int, tuple[list[list[Any]], OutputColumns, list[str], "VersionWindow | None"]]


def _whole_row(row: dict[str, Any]) -> dict[str, Any]:
    return row  # rows of an unknown version are only counted


@dataclass
class ScanState:
    versions: dict[int, VersionWindow]
    malformed: int
    outside_window: int
    unknown_version: dict[int, int]


@dataclass
class WindowScan:
    """One pass over a window's capture lines, grouped by model version."""

    window: Window
    model_name: str
    feedback: FeedbackIndex
    load_metadata: Callable[[int], Mapping[str, Any]]
    settings: ScanSettings = field(default_factory=ScanSettings)
    versions: dict[int, VersionWindow] = field(default_factory=dict)
    malformed: int = 0
    outside_window: int = 0
    unknown_version: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._start = iso_millis(self.window.start)
        self._end = iso_millis(self.window.end)

    @property
    def predictions(self) -> int:
        return sum(v.rows for v in self.versions.values())

    @property
    def labeled(self) -> int:
        return sum(v.labeled.seen for v in self.versions.values())

    def state(self) -> ScanState:
        """What a worker process sends back: everything but the feedback index and loader."""
        return ScanState(self.versions, self.malformed, self.outside_window, self.unknown_version)

    def merge(self, state: ScanState) -> None:
        for version, part in state.versions.items():
            if version in self.versions:
                self.versions[version].merge(part)
            else:
                self.versions[version] = part
        self.malformed += state.malformed
        self.outside_window += state.outside_window
        for version, rows in state.unknown_version.items():
            self.unknown_version[version] = self.unknown_version.get(version, 0) + rows

    def add_lines(self, lines: Sequence[bytes | str]) -> None:
        requests: _Requests = {}
        grouped = self._group(lines, requests)
        for version, (values, outputs, ids, target, _) in grouped.items():
            if target is None:
                self.unknown_version[version] = self.unknown_version.get(version, 0) + len(values)
                continue
            self.malformed += target.add_values(values, outputs, ids, self.feedback)
        for version, (columns, request_outputs, ids, window) in requests.items():
            if window is None:
                self.unknown_version[version] = self.unknown_version.get(version, 0) + len(ids)
                continue
            self.malformed += window.add_columns(columns, request_outputs, ids, self.feedback)

    def _group(self, lines: Sequence[bytes | str], requests: _Requests) -> _Grouped:
        """Parse the lines, skip (and count) malformed ones and rows outside the window, and
        group the rest by model version.

        Record by record on purpose: each record is grouped while it is still in the CPU's
        cache. Parsing a whole batch first and then checking it column by column (at C
        speed) measured a third slower (docs/PERFORMANCE.md, "Monitoring")."""
        grouped: _Grouped = {}
        start, end, name = self._start, self._end, self.model_name
        loads = orjson.loads
        for line in lines:
            try:
                record = loads(line)
                meta = record["eventMetadata"]
                when = meta["inferenceTime"]
                inference_id = meta["inferenceId"]
                model = record["model"]
                version = model["version"]
                row = record["input"]
                output = record["output"]
                if (
                    model["name"] != name
                    or row.__class__ is not dict
                    or output.__class__ is not dict
                    or inference_id.__class__ is not str
                    or version.__class__ is not int
                ):
                    raise ValueError
                if len(when) != 24 or when[-1] != "Z":  # not the canonical form: compare as time
                    when = iso_millis(parse_time(when))
            except KeyError:
                # A format-2 record (a request's rows as columns) has no per-row id here.
                if not self._add_request(record, requests):
                    self.malformed += 1
                continue
            except (ValueError, TypeError, AttributeError):
                self.malformed += 1
                continue
            if not (start <= when < end):
                self.outside_window += 1
                continue
            group = grouped.get(version)
            if group is None:
                group = self._group_of(grouped, version)
            try:
                group[0].append(group[4](row))
            except KeyError:  # a feature absent: missing
                group[0].append(group[3].row_values(row))  # type: ignore[union-attr]
            group[1].append(output)
            group[2].append(inference_id)
        return grouped

    def _group_of(self, grouped: _Grouped, version: int) -> _Group:
        """The version's (new, empty) group of format-1 rows in this batch."""
        target = self._version(version)
        extract = target.extract if target is not None else _whole_row
        grouped[version] = ([], [], [], target, extract)
        return grouped[version]

    def _add_request(self, record: Any, requests: _Requests) -> bool:
        """Add a format-2 record's rows to their version's columns; False when the record is
        not one. A record that is one but not well formed is counted malformed once."""
        if record.get("eventVersion") != REQUEST_EVENT_VERSION:
            return False
        try:
            when = record["eventMetadata"]["inferenceTime"]
            model = record["model"]
            version = model["version"]
            ids = record["inferenceIds"]
            inputs = record["input"]
            if (
                model["name"] != self.model_name
                or version.__class__ is not int
                or ids.__class__ is not list
                or inputs.__class__ is not dict
                or not {*map(type, ids)} <= {str}
            ):
                raise ValueError
            count = len(ids)
            outputs = record["output"]
            check_output_columns(outputs, count)
            if len(when) != 24 or when[-1] != "Z":
                when = iso_millis(parse_time(when))
            if not (self._start <= when < self._end):
                self.outside_window += count
                return True
            group = requests.get(version)
            if group is None:
                window = self._version(version)
                names = window.feature_names if window is not None else ()
                group = requests[version] = ([[] for _ in names], OutputColumns(), [], window)
            if group[3] is not None:
                absent = [None] * count
                columns = [inputs.get(name, absent) for name in group[3].feature_names]
                if any(c.__class__ is not list or len(c) != count for c in columns):
                    raise ValueError
                for into, column in zip(group[0], columns, strict=True):
                    into.extend(column)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.malformed += 1
            return True
        group[1].add(outputs, count)
        group[2].extend(ids)
        return True

    def _version(self, version: int) -> VersionWindow | None:
        if version in self.versions:
            return self.versions[version]
        if version in self.unknown_version:
            return None
        try:
            metadata = self.load_metadata(version)
        except ModelNotFoundError:
            self.unknown_version[version] = 0
            return None
        self.versions[version] = VersionWindow(version, metadata, self.settings)
        return self.versions[version]
