"""Training data from production: captured inputs joined with ground-truth feedback.

What `modelops train --from-feedback` (and so every retraining run) trains on. Records are
JSON lines, optionally gzip, under the bucket's hour partitions (contracts sections 2 and 5):

    capture/<name>/YYYY/MM/DD/HH/...   {"eventMetadata": {"inferenceId": ..., "inferenceTime": ...},
                                        "input": {feature: value, ...}, "output": ..., "model": ...}
    feedback/<name>/YYYY/MM/DD/HH/...  {"inferenceId": ..., "label": ... | "value": ..., "receivedTime": ...}

Each capture with a feedback record for its inferenceId becomes one training row: its input
plus the label (or value) as the target column. The latest feedback for an id wins (by
receivedTime), as does the latest capture. The dataset spec (target name, features, which
are categorical, task) comes from the champion's metadata, so a retrained model has the
interface the stack serves. Malformed lines are skipped and counted (lineage.source).
Partitions are listed and streamed (gzip or not) and feedback is indexed with the monitor's
own readers (modelops.monitoring.objects and .join), so both join captures the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from modelops import aws
from modelops.capture import row_records
from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.objects import iter_line_batches, list_partition_keys
from modelops.registry import CHAMPION, ModelRegistry
from modelops.schema import FeatureKind, ModelSchema, Task
from modelops_train.data import TrainingData, TrainingDataSource
from modelops_train.errors import DataNotFoundError, InvalidTrainingData

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedbackDataSource:
    registry: ModelRegistry
    model_name: str
    since: datetime | None = None  # captures from this time on (hour partitions)
    until: datetime | None = None  # captures before this time
    include_data: TrainingDataSource | None = None  # earlier data to train on as well
    s3_client: Any = None

    @property
    def uri(self) -> str:
        return (
            f"s3://{self.registry.bucket}/capture/{self.model_name}/ + feedback/{self.model_name}/"
        )

    @property
    def _s3(self) -> Any:
        return self.s3_client if self.s3_client is not None else aws.client("s3")

    def load(self) -> TrainingData:
        champion = self.registry.get_alias(self.model_name, CHAMPION)
        if champion is None:
            raise DataNotFoundError(
                f"--from-feedback needs a champion of {self.model_name!r} to know the target and features: "
                "train the first version with --data"
            )
        metadata = self.registry.get_metadata(self.model_name, champion.version)
        schema = ModelSchema.from_metadata(metadata)
        target = str(metadata["target"])
        malformed = {"count": 0}
        captures = self._captures(malformed)
        # Labels arrive after their predictions: every feedback partition from `since` on,
        # indexed as the monitor does (the latest label of an id wins).
        labels = FeedbackIndex.load(self._s3, self.registry.bucket, self.model_name, self._first)
        malformed["count"] += labels.malformed
        ids = list(captures)
        rows = []
        for inference_id, position in zip(ids, labels.lookup(ids).tolist(), strict=True):
            if position < 0:
                continue  # no feedback yet
            # A "label" for a regression model, or a "value" for a classifier, is malformed.
            if (schema.task is Task.REGRESSION) != (int(labels.codes[position]) < 0):
                malformed["count"] += 1
                continue
            truth = labels.truth(position)
            row = {name: captures[inference_id].get(name) for name in schema.feature_names}
            row[target] = truth
            rows.append(row)
        columns = [*schema.feature_names, target]
        frame = pd.DataFrame(rows, columns=columns)
        for spec in schema.features:
            if spec.kind is FeatureKind.NUMERIC:
                frame[spec.name] = pd.to_numeric(frame[spec.name], errors="coerce")
        details: dict[str, Any] = {
            "kind": "feedback",
            "champion_version": champion.version,
            "captured": len(captures),
            "labeled": len(labels),
            "joined": len(frame),
            "malformed_records": malformed["count"],
            "since": _iso(self.since),
            "until": _iso(self.until),
        }
        uri = self.uri
        if self.include_data is not None:
            extra = self.include_data.load()
            missing = [c for c in columns if c not in extra.frame.columns]
            if missing:
                raise InvalidTrainingData(
                    f"--include-data {extra.uri} lacks the champion's columns: {', '.join(missing)}"
                )
            details["included_rows"] = len(extra.frame)
            details["included_uri"] = extra.uri
            frame = (
                pd.concat([frame, extra.frame[columns]], ignore_index=True)
                if len(frame)
                else extra.frame[columns]
            )
            uri = f"{uri} + {extra.uri}"
        if len(frame) == 0:
            raise InvalidTrainingData(
                f"no captured predictions of {self.model_name!r} have feedback labels yet "
                f"({len(captures)} captured, {len(labels)} labels): nothing to train on"
            )
        categorical = tuple(f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL)
        return TrainingData(
            frame=frame,
            uri=uri,
            target=target,
            features=schema.feature_names,
            categorical=categorical,
            # Clients of the champion may leave these out: the retrained version keeps them so.
            optional=tuple(f.name for f in schema.features if not f.required),
            details=details,
        )

    def _captures(self, malformed: dict[str, int]) -> dict[str, dict[str, Any]]:
        """The latest captured input of each inference id in [since, until)."""
        latest: dict[str, tuple[str, dict[str, Any]]] = {}
        # until is exclusive, list_partition_keys' last hour inclusive.
        last = self.until - timedelta(microseconds=1) if self.until is not None else None
        keys = list_partition_keys(
            self._s3, self.registry.bucket, f"capture/{self.model_name}/", self._first, last
        )
        for key in keys:
            for lines in iter_line_batches(self._s3, self.registry.bucket, key):
                for line in lines:
                    try:
                        rows = row_records(json.loads(line))  # a request record: its rows
                    except (ValueError, KeyError, TypeError):
                        malformed["count"] += 1
                        continue
                    for record in rows:
                        self._latest(record, latest, malformed)
        return {k: v[1] for k, v in latest.items()}

    @staticmethod
    def _latest(
        record: Any, latest: dict[str, tuple[str, dict[str, Any]]], malformed: dict[str, int]
    ) -> None:
        """Keep the record's input if it is the latest one of its inference id."""
        try:
            meta = record["eventMetadata"]
            inference_id, when, inputs = (
                str(meta["inferenceId"]),
                str(meta.get("inferenceTime", "")),
                record["input"],
            )
            if not isinstance(inputs, dict):
                raise TypeError("input")
        except (ValueError, KeyError, TypeError):
            malformed["count"] += 1
            return
        if inference_id not in latest or when >= latest[inference_id][0]:
            latest[inference_id] = (when, inputs)

    @property
    def _first(self) -> datetime:
        return self.since if self.since is not None else _EPOCH


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
