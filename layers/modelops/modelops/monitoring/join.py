"""The feedback index: ground truth by inference id, for joining with captured predictions.

Bounded-memory strategy (docs/MONITORING.md): feedback for a prediction can only arrive
after the prediction, so only feedback partitions from the window's start hour onwards are
read: every label received so far for the window's rows, and nothing older. Each record is
kept as three numbers (64-bit hash of the inference id, label code or value, received
time), about 24 bytes per label instead of a dict of Python strings, and looked up for a
whole batch of captured rows with one `searchsorted`. When an id was labeled twice the
latest received label wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress, repeat
from typing import Any

import numpy as np
import orjson

from modelops.monitoring.objects import iter_line_batches, list_partition_keys, parse_time

_NO_CODE = -1


# A 64-bit hash of an inference id, stable within a process (all the index needs): the
# builtin itself, so that a batch of ids is hashed from C, without a Python frame per id.
id_hash = hash
_LABEL_TYPES = frozenset({str, int, float, bool})


def _received_seconds(times: list[str]) -> tuple[np.ndarray, list[bool] | None]:
    """Each receivedTime as seconds since the epoch (only their order matters), and which
    are times at all (None: all are). The canonical form (2026-11-26T13:05:45.123Z, as the
    API writes it) is parsed by numpy in one call, 5x faster than a datetime per record;
    any other form record by record (`parse_time`)."""
    if times and set(map(len, times)) == {24} and all(map(str.endswith, times, repeat("Z"))):
        try:
            stamps = np.array([t[:-1] for t in times], dtype="datetime64[ms]")
            return stamps.astype(np.int64) / 1000.0, None
        except ValueError:
            pass
    seconds: list[float] = []
    good: list[bool] = []
    for text in times:
        try:
            seconds.append(parse_time(text).timestamp())
            good.append(True)
        except ValueError:
            good.append(False)
    return np.asarray(seconds, dtype=np.float64), (None if all(good) else good)


@dataclass
class FeedbackIndex:
    hashes: np.ndarray  # int64, sorted, unique
    codes: np.ndarray  # int32 index into `labels`, or -1 for a regression value
    values: np.ndarray  # float64 regression values (NaN for labels)
    labels: list[Any]
    malformed: int = 0

    @classmethod
    def empty(cls) -> FeedbackIndex:
        return cls(np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.float64), [])

    def __len__(self) -> int:
        return int(self.hashes.size)

    @classmethod
    def from_records(cls, batches: Iterable[Sequence[bytes | str]]) -> FeedbackIndex:
        """Build from batches of feedback JSON lines (contract section 5)."""
        label_codes: dict[tuple[type, Any], int] = {}
        labels: list[Any] = []
        hash_chunks, time_chunks, code_chunks, value_chunks = [], [], [], []
        malformed = 0
        loads, nan = orjson.loads, float("nan")
        for lines in batches:
            ids: list[str] = []
            received: list[str] = []
            codes: list[int] = []
            values: list[float] = []
            for line in lines:
                try:
                    record = loads(line)
                    inference_id = record["inferenceId"]
                    at = record["receivedTime"]
                    if inference_id.__class__ is not str or not inference_id:
                        raise ValueError("inferenceId")
                    if at.__class__ is not str:
                        raise ValueError("receivedTime")
                    label = record.get("label")
                    if label is not None:
                        if label.__class__ not in _LABEL_TYPES:
                            raise ValueError("label")
                        key = (label.__class__, label)
                        code = label_codes.get(key)
                        if code is None:
                            code = label_codes[key] = len(labels)
                            labels.append(label)
                        value = nan
                    else:
                        value = float(record["value"])
                        code = _NO_CODE
                except (ValueError, KeyError, TypeError, AttributeError):
                    malformed += 1
                    continue
                ids.append(inference_id)
                received.append(at)
                codes.append(code)
                values.append(value)
            times, good = _received_seconds(received)
            if good is not None:  # some times are not times: those records are malformed
                malformed += len(good) - sum(good)
                ids = list(compress(ids, good))
                codes = list(compress(codes, good))
                values = list(compress(values, good))
            hash_chunks.append(np.fromiter(map(id_hash, ids), dtype=np.int64, count=len(ids)))
            time_chunks.append(times)
            code_chunks.append(np.asarray(codes, dtype=np.int32))
            value_chunks.append(np.asarray(values, dtype=np.float64))
        if not hash_chunks:
            return cls.empty()
        all_hashes = np.concatenate(hash_chunks)
        all_times = np.concatenate(time_chunks)
        # Sort by id, then time: the last entry of each id is its latest label.
        order = np.lexsort((all_times, all_hashes))
        sorted_hashes = all_hashes[order]
        last = np.ones(sorted_hashes.size, dtype=bool)
        last[:-1] = sorted_hashes[1:] != sorted_hashes[:-1]
        keep = order[last]
        return cls(
            hashes=all_hashes[keep],
            codes=np.concatenate(code_chunks)[keep],
            values=np.concatenate(value_chunks)[keep],
            labels=labels,
            malformed=malformed,
        )

    @classmethod
    def load(cls, s3: Any, bucket: str, model_name: str, since: datetime) -> FeedbackIndex:
        """Every feedback record of the model received from `since`'s hour on."""
        prefix = f"feedback/{model_name}/"
        keys = list_partition_keys(s3, bucket, prefix, since)
        return cls.from_records(
            batch for key in keys for batch in iter_line_batches(s3, bucket, key)
        )

    def lookup(self, inference_ids: Sequence[str]) -> np.ndarray:
        """Position in the index of each id, -1 where it has no feedback."""
        if not self.hashes.size or not inference_ids:
            return np.full(len(inference_ids), -1, dtype=np.int64)
        wanted = np.fromiter(map(id_hash, inference_ids), dtype=np.int64, count=len(inference_ids))
        positions = np.searchsorted(self.hashes, wanted)
        positions[positions >= self.hashes.size] = 0
        found = self.hashes[positions] == wanted
        return np.where(found, positions, -1)

    def truth(self, position: int) -> Any:
        code = int(self.codes[position])
        return self.labels[code] if code != _NO_CODE else float(self.values[position])

    def truths(self, positions: np.ndarray) -> list[Any]:
        """`truth` of each position, converted in bulk (no numpy scalar per row)."""
        labels = self.labels
        return [
            labels[code] if code != _NO_CODE else value
            for code, value in zip(
                self.codes[positions].tolist(), self.values[positions].tolist(), strict=True
            )
        ]
