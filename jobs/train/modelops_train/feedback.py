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
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from modelops import aws
from modelops.registry import CHAMPION, ModelRegistry
from modelops.schema import FeatureKind, ModelSchema, Task
from modelops_train.data import TrainingData, TrainingDataSource
from modelops_train.errors import DataNotFoundError, InvalidTrainingData

_PARTITION = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


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
        labels = self._labels(schema.task, malformed)
        rows = []
        for inference_id, features in captures.items():
            if inference_id in labels:
                row = {name: features.get(name) for name in schema.feature_names}
                row[target] = labels[inference_id]
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
            details=details,
        )

    def _captures(self, malformed: dict[str, int]) -> dict[str, dict[str, Any]]:
        latest: dict[str, tuple[str, dict[str, Any]]] = {}
        for record in self._records(
            f"capture/{self.model_name}/", self.since, self.until, malformed
        ):
            try:
                meta = record["eventMetadata"]
                inference_id, when, inputs = (
                    str(meta["inferenceId"]),
                    str(meta.get("inferenceTime", "")),
                    record["input"],
                )
            except (KeyError, TypeError):
                malformed["count"] += 1
                continue
            if not isinstance(inputs, dict):
                malformed["count"] += 1
                continue
            if inference_id not in latest or when >= latest[inference_id][0]:
                latest[inference_id] = (when, inputs)
        return {k: v[1] for k, v in latest.items()}

    def _labels(self, task: Task, malformed: dict[str, int]) -> dict[str, Any]:
        field = "value" if task is Task.REGRESSION else "label"
        latest: dict[str, tuple[str, Any]] = {}
        # Labels arrive after their predictions: read every feedback partition from `since` on.
        for record in self._records(f"feedback/{self.model_name}/", self.since, None, malformed):
            if (
                not isinstance(record, dict)
                or "inferenceId" not in record
                or record.get(field) is None
            ):
                malformed["count"] += 1
                continue
            inference_id, when = str(record["inferenceId"]), str(record.get("receivedTime", ""))
            if inference_id not in latest or when >= latest[inference_id][0]:
                latest[inference_id] = (when, record[field])
        return {k: v[1] for k, v in latest.items()}

    def _records(
        self, prefix: str, since: datetime | None, until: datetime | None, malformed: dict[str, int]
    ) -> Any:
        """JSON records under `prefix` whose hour partition lies in [since, until)."""
        kwargs: dict[str, Any] = {"Bucket": self.registry.bucket, "Prefix": prefix}
        if since is not None:
            # Keys sort by partition time: start listing at the `since` hour.
            kwargs["StartAfter"] = f"{prefix}{_hour(since):%Y/%m/%d/%H}"
        for page in self._s3.get_paginator("list_objects_v2").paginate(**kwargs):
            for obj in page.get("Contents", []):
                hour = _partition_hour(obj["Key"])
                if hour is None:
                    continue
                if (since is not None and hour < _hour(since)) or (
                    until is not None and hour >= until
                ):
                    continue
                yield from self._parse(obj["Key"], malformed)

    def _parse(self, key: str, malformed: dict[str, int]) -> Any:
        try:
            body: bytes = self._s3.get_object(Bucket=self.registry.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "S3 error")
            raise DataNotFoundError(
                f"cannot read s3://{self.registry.bucket}/{key}: {code}"
            ) from None
        if body[:2] == b"\x1f\x8b":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):  # a truncated object: count it, keep the rest
                malformed["count"] += 1
                return
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                malformed["count"] += 1


def _partition_hour(key: str) -> datetime | None:
    m = _PARTITION.search(key)
    if not m:
        return None
    year, month, day, hour = (int(g) for g in m.groups())
    try:
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


def _hour(moment: datetime) -> datetime:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
