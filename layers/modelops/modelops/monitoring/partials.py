"""The monitor's partial state on S3: what one shard of a window's capture objects scanned.

A MonitorStateMachine child scans a shard of the window's objects (scanning.scan_shard) and
writes the mergeable state as one JSON document; the reduce step reads every shard's document
and merges them (WindowScan.merge) into exactly what one pass over all objects holds, then
analyses it like a single-function run. Format version 1 (docs/MONITORING.md, "Partial state"):

    {"partial_format_version": 1, "model": name, "window": {"start", "end"}, "shard": i,
     "keys": [the shard's capture objects], "malformed": n, "outside_window": n,
     "unknown_version": {"<version>": rows},
     "versions": {"<version>": {
         "rows": n,
         "numeric": {feature: NUMERIC}, "categorical": {feature: CATEGORICAL},
         "prediction": NUMERIC | CATEGORICAL,
         "labeled": {"seen": n, "entries": [[key, truth, output], ...]},
         "estimation": {"rows", "unscored", "confusion", "bin_rows", "bin_positives"} | null}}}
    NUMERIC = {"counts": [per baseline bin], "rows", "missing",
               "sums": [EXACT of the values, EXACT of their squares],
               "minimum", "maximum" (null: no value), "fine_counts", "fine_sums": [EXACT per
               fine bin] (null without fine bins), "sample", "sample_keys" (the bounded
               sample of a format 1 baseline)}
    EXACT = [m, k]: the exact sum m * 2^k of float64 values (modelops.monitoring.exact)
    CATEGORICAL = {"counts": {category: n}, "overflow", "rows", "missing"}

Counts are integers, sums exact (so any split of the objects merges to the same sums, in any
order); other floats are written with Python's shortest round-trip repr, so a document read
back holds bit for bit what was written. Its size grows with features, bins,
categories and labeled rows, never with the window's rows.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from modelops.estimation.accumulator import EstimationAccumulator
from modelops.monitoring.accumulators import CategoricalAccumulator, NumericAccumulator
from modelops.monitoring.exact import decode_exact, encode_exact
from modelops.monitoring.window import ScanSettings, ScanState, VersionWindow, Window

PARTIAL_FORMAT_VERSION = 1


class PartialFormatError(ValueError):
    """A partial document this code cannot read (another format version, a wrong window)."""


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _numeric(acc: NumericAccumulator) -> dict[str, Any]:
    sample, keys = acc.sample_with_keys()
    return {
        "counts": acc.counts.tolist(),
        "rows": acc.rows,
        "missing": acc.missing,
        "sums": [encode_exact(t) for t in acc.moment_totals()],
        "minimum": _finite(acc.minimum),
        "maximum": _finite(acc.maximum),
        "fine_counts": acc.fine.counts.tolist() if acc.fine is not None else None,
        "fine_sums": [encode_exact(t) for t in acc.fine.exact_sums.totals()]
        if acc.fine is not None
        else None,
        "sample": sample.tolist(),
        "sample_keys": keys.tolist(),
    }


def _load_numeric(acc: NumericAccumulator, doc: Mapping[str, Any]) -> None:
    acc.counts = np.asarray(doc["counts"], dtype=np.int64)
    acc.rows, acc.missing = int(doc["rows"]), int(doc["missing"])
    acc.carry_moments([decode_exact(pair) for pair in doc["sums"]])
    acc.minimum = math.inf if doc["minimum"] is None else float(doc["minimum"])
    acc.maximum = -math.inf if doc["maximum"] is None else float(doc["maximum"])
    if acc.fine is not None:
        acc.fine.counts = np.asarray(doc["fine_counts"], dtype=np.int64)
        acc.fine.exact_sums.carry([decode_exact(pair) for pair in doc["fine_sums"]])
    acc.offer_sample(
        np.asarray(doc["sample"], dtype=np.float64),
        np.asarray(doc["sample_keys"], dtype=np.float64),
    )


def _categorical(acc: CategoricalAccumulator) -> dict[str, Any]:
    return {
        "counts": dict(acc.counts),
        "overflow": acc.overflow,
        "rows": acc.rows,
        "missing": acc.missing,
    }


def _load_categorical(acc: CategoricalAccumulator, doc: Mapping[str, Any]) -> None:
    acc.counts = Counter({str(k): int(v) for k, v in doc["counts"].items()})
    acc.overflow, acc.rows, acc.missing = (
        int(doc["overflow"]),
        int(doc["rows"]),
        int(doc["missing"]),
    )


def _either(acc: NumericAccumulator | CategoricalAccumulator) -> dict[str, Any]:
    return _numeric(acc) if isinstance(acc, NumericAccumulator) else _categorical(acc)


def _estimation(acc: EstimationAccumulator | None) -> dict[str, Any] | None:
    if acc is None:
        return None
    return {
        "rows": acc.rows,
        "unscored": acc.unscored,
        "confusion": acc.confusion.tolist(),
        "bin_rows": acc.bin_rows.tolist(),
        "bin_positives": acc.bin_positives.tolist(),
    }


def encode(
    state: ScanState, *, model_name: str, window: Window, shard: int, keys: list[str]
) -> dict[str, Any]:
    """The JSON document of a shard's scan state."""
    versions = {}
    for version, part in state.versions.items():
        versions[str(version)] = {
            "rows": part.rows,
            "numeric": {name: _numeric(acc) for name, acc in part.numeric.items()},
            "categorical": {name: _categorical(acc) for name, acc in part.categorical.items()},
            "prediction": _either(part.prediction),
            "labeled": {"seen": part.labeled.seen, "entries": part.labeled.entries()},
            "estimation": _estimation(part.estimation),
        }
    return {
        "partial_format_version": PARTIAL_FORMAT_VERSION,
        "model": model_name,
        "window": window.as_dict(),
        "shard": shard,
        "keys": list(keys),
        "malformed": state.malformed,
        "outside_window": state.outside_window,
        "unknown_version": {str(v): n for v, n in state.unknown_version.items()},
        "versions": versions,
    }


def decode(
    doc: Mapping[str, Any],
    *,
    model_name: str,
    window: Window,
    settings: ScanSettings,
    load_metadata: Callable[[int], Mapping[str, Any]],
) -> ScanState:
    """The scan state a partial document holds; PartialFormatError when it is not one of
    this window's (another format version, model or window)."""
    found = doc.get("partial_format_version")
    if found != PARTIAL_FORMAT_VERSION:
        raise PartialFormatError(
            f"partial format version {found!r}; this monitor reads {PARTIAL_FORMAT_VERSION}"
        )
    if doc.get("model") != model_name or doc.get("window") != window.as_dict():
        raise PartialFormatError(
            f"partial of {doc.get('model')!r} {doc.get('window')}, expected {model_name!r} "
            f"{window.as_dict()}"
        )
    versions: dict[int, VersionWindow] = {}
    for raw_version, vdoc in doc["versions"].items():
        version = int(raw_version)
        part = VersionWindow(version, load_metadata(version), settings)
        part.rows = int(vdoc["rows"])
        for name, acc in part.numeric.items():
            _load_numeric(acc, vdoc["numeric"][name])
        for name, cat in part.categorical.items():
            _load_categorical(cat, vdoc["categorical"][name])
        if isinstance(part.prediction, NumericAccumulator):
            _load_numeric(part.prediction, vdoc["prediction"])
        else:
            _load_categorical(part.prediction, vdoc["prediction"])
        part.labeled.add_entries(int(vdoc["labeled"]["seen"]), vdoc["labeled"]["entries"])
        estimation = vdoc.get("estimation")
        if part.estimation is not None and estimation is not None:
            part.estimation.rows = int(estimation["rows"])
            part.estimation.unscored = int(estimation["unscored"])
            part.estimation.confusion = np.asarray(estimation["confusion"], dtype=np.int64)
            part.estimation.bin_rows = np.asarray(estimation["bin_rows"], dtype=np.int64)
            part.estimation.bin_positives = np.asarray(estimation["bin_positives"], dtype=np.int64)
        versions[version] = part
    return ScanState(
        versions=versions,
        malformed=int(doc["malformed"]),
        outside_window=int(doc["outside_window"]),
        unknown_version={int(v): int(n) for v, n in doc["unknown_version"].items()},
    )
