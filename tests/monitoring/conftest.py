"""Monitoring tests: the stack from template.yaml on in-process moto (Batch without Docker),
the real churn model as champion, and helpers writing capture and feedback objects in the
contract's exact shapes (the serving engineer's record builders)."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from embedded_aws.churn_data import TARGET, as_instances, generate_churn
from embedded_aws.provision import LocalStack, provision_stack
from modelops.capture import (
    encode_record,
    feedback_record,
    iso_timestamp,
    output_columns,
    prediction_record,
    request_record,
)
from modelops.inference import OnnxModel
from modelops.monitoring.monitor import Monitor, MonitorSettings
from modelops.registry import ModelRegistry
from modelops.schema import ModelSchema, class_key
from tests.conftest import BUCKET

MODEL = "churn"
WINDOW_START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WINDOW_END = WINDOW_START + timedelta(hours=1)
WINDOW_EVENT = {"window": {"start": "2026-11-26T12:00:00Z", "end": "2026-11-26T13:00:00Z"}}


@pytest.fixture
def mocked_aws() -> Iterator[None]:
    """Overrides the shared fixture: Batch must not try to start Docker containers."""
    with mock_aws(config={"batch": {"use_docker": False}}):
        yield


@pytest.fixture
def local_stack(mocked_aws: None) -> LocalStack:
    """Every resource of template.yaml the loop uses, with the test bucket's name."""
    return provision_stack(bucket_name=BUCKET)


@pytest.fixture
def bucket(s3: Any, local_stack: LocalStack) -> str:
    return local_stack.bucket


@dataclass
class CaptureWriter:
    """Writes capture and feedback objects as the serving side would, for one model."""

    s3: Any
    bucket: str
    registry: ModelRegistry
    name: str = MODEL
    _models: dict[int, OnnxModel] = field(default_factory=dict)

    def model(self, version: int) -> OnnxModel:
        if version not in self._models:
            metadata = self.registry.get_metadata(self.name, version)
            data = self.registry.get_model_bytes(
                self.name, version, expected_sha256=metadata["model_file"]["sha256"]
            )
            self._models[version] = OnnxModel(data, ModelSchema.from_metadata(metadata))
        return self._models[version]

    def predictions(
        self,
        frame: pd.DataFrame,
        *,
        version: int = 1,
        start: datetime = WINDOW_START,
        spread: timedelta = timedelta(minutes=55),
        compress: bool = False,
        objects: int = 1,
        ids: Sequence[str] | None = None,
        per_request: int = 0,
    ) -> list[str]:
        """Serve `frame`'s rows with the real model, write their capture records; their ids.
        `per_request` > 0: as format-2 records of that many rows each (the request's time is
        its first row's)."""
        model = self.model(version)
        schema = model.schema
        instances = as_instances(frame, schema.feature_names)
        predicted = model.predict_columns({f: frame[f].to_numpy() for f in schema.feature_names})
        keys = [class_key(c) for c in schema.classes or ()]
        if ids is None:
            ids = [f"inf-{uuid.uuid4().hex[:12]}" for _ in instances]
        step = spread / max(len(instances), 1)
        lines = []
        outputs = []
        for i in range(len(instances)):
            assert predicted.labels is not None and predicted.probabilities is not None
            outputs.append(
                {
                    "label": predicted.labels[i],
                    "probabilities": {
                        k: round(float(p), 6)
                        for k, p in zip(keys, predicted.probabilities[i], strict=True)
                    },
                }
            )
        for first in range(0, len(instances) if per_request else 0, per_request or 1):
            rows = range(first, min(first + per_request, len(instances)))
            record = request_record(
                event_id=str(uuid.uuid4()),
                inference_ids=[ids[i] for i in rows],
                inference_time=iso_timestamp(start + step * first),
                request_id=str(uuid.uuid4()),
                source="api",
                model_name=self.name,
                model_version=version,
                inputs={n: [instances[i].get(n) for i in rows] for n in schema.feature_names},
                outputs=output_columns([outputs[i] for i in rows]),
            )
            lines.append(encode_record(record))
        for i, (instance, inference_id) in enumerate(zip(instances, ids, strict=True)):
            if per_request:
                break
            output = outputs[i]
            record = prediction_record(
                inference_id=inference_id,
                inference_time=iso_timestamp(start + step * i),
                request_id=str(uuid.uuid4()),
                source="api",
                model_name=self.name,
                model_version=version,
                features=instance,
                output=output,
            )
            lines.append(encode_record(record))
        for part in np.array_split(np.arange(len(lines)), objects):
            self.put(
                f"capture/{self.name}/{start:%Y/%m/%d/%H}/",
                b"".join(lines[i] for i in part),
                compress=compress,
            )
        return ids

    def feedback(self, ids: Sequence[str], labels: Sequence[Any], *, received: datetime) -> None:
        records = [
            encode_record(
                feedback_record(inference_id=i, received_time=iso_timestamp(received), label=label)
            )
            for i, label in zip(ids, labels, strict=True)
        ]
        self.put(f"feedback/{self.name}/{received:%Y/%m/%d/%H}/", b"".join(records))

    def put(self, prefix: str, body: bytes, *, compress: bool = False) -> str:
        key = f"{prefix}{uuid.uuid4().hex}.jsonl" + (".gz" if compress else "")
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=gzip.compress(body) if compress else body
        )
        return key


@pytest.fixture
def writer(
    s3: Any, bucket: str, registry: ModelRegistry, binary_champion: dict[str, Any]
) -> CaptureWriter:
    return CaptureWriter(s3, bucket, registry)


def monitor_env(local_stack: LocalStack, **overrides: str) -> dict[str, str]:
    """MonitorFunction's environment as template.yaml sets it, resolved against the stack."""
    env = local_stack.function_environment("MonitorFunction")
    env.update(overrides)
    return env


def make_monitor(
    local_stack: LocalStack,
    *,
    now: datetime | None = None,
    s3_client: Any | None = None,
    batch_client: Any | None = None,
    **overrides: str,
) -> Monitor:
    settings = MonitorSettings.from_env(monitor_env(local_stack, **overrides))
    clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    return Monitor.from_settings(
        settings, s3_client=s3_client, batch_client=batch_client, clock=clock
    )


def churn(n: int, *, seed: int, **drift: float) -> pd.DataFrame:
    return generate_churn(n, seed=seed, **drift)


def truth(frame: pd.DataFrame) -> list[Any]:
    return frame[TARGET].tolist()
