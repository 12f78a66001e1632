"""A stack on moto's server with its state machines and the functions they invoke served
(embedded_aws.lambda_bridge), and the demo churn model published as champion."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from embedded_aws.lambda_bridge import serve_functions
from embedded_aws.provision import LocalStack, provision_stack
from modelops.registry import ModelRegistry


@dataclass
class ServedStack:
    stack: LocalStack
    s3: Any
    registry: ModelRegistry
    champion: dict[str, Any]

    @property
    def bucket(self) -> str:
        return self.stack.bucket


@pytest.fixture
def served_stack(on_moto_server: str) -> Iterator[ServedStack]:
    from tests.models import publish_trained

    stack = provision_stack(
        stack_name=f"scoring-{uuid.uuid4().hex[:8]}",
        parameters={
            "CaptureSink": "firehose",
            "MonitorShardThreshold": "0",
            "RetrainingEnabled": "false",
        },
    )
    s3 = boto3.client("s3")
    registry = ModelRegistry(stack.bucket, s3_client=s3)
    champion = publish_trained(registry, "binary", promote=True)
    with serve_functions(stack, ["PredictFunction", "BatchScoringFunction", "MonitorFunction"]):
        yield ServedStack(stack, s3, registry, champion)
