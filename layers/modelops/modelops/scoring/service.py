"""BatchScoringFunction's work: one entry point for the state machine's three steps."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from modelops import aws
from modelops.config import StackSettings, env_int, env_str
from modelops.errors import InvalidInput, Problem
from modelops.registry import ModelRegistry
from modelops.schema import ModelSchema
from modelops.scoring.job import (
    DEFAULT_CHUNK_BYTES,
    Predict,
    ScoringSettings,
    finish,
    invoke_predict,
    plan,
    score_item,
)

ACTIONS = ("plan", "score", "finish")


class BatchScoring:
    def __init__(
        self, settings: ScoringSettings, *, s3: Any, registry: ModelRegistry, predict: Predict
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.registry = registry
        self.predict = predict
        self._schemas: dict[int, ModelSchema] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BatchScoring:
        source = os.environ if env is None else env
        stack = StackSettings.from_env(source)
        settings = ScoringSettings(
            bucket=stack.bucket,
            model_name=stack.model_name,
            max_batch_rows=env_int("MAX_BATCH_ROWS", source, minimum=1),
            chunk_bytes=env_int(
                "SCORING_CHUNK_MIB", source, default=DEFAULT_CHUNK_BYTES >> 20, minimum=1
            )
            << 20,
            max_concurrency=env_int("SCORING_MAX_CONCURRENCY", source, default=10, minimum=1),
        )
        predict = invoke_predict(aws.client("lambda"), env_str("PREDICT_FUNCTION", source))
        return cls(
            settings,
            s3=aws.client("s3"),
            registry=ModelRegistry(stack.bucket),
            predict=predict,
        )

    def schema(self, version: int) -> ModelSchema:
        if version not in self._schemas:
            metadata = self.registry.get_metadata(self.settings.model_name, version)
            self._schemas[version] = ModelSchema.from_metadata(metadata)
        return self._schemas[version]

    def handle(self, event: Any) -> dict[str, Any]:
        action = event.get("action") if isinstance(event, dict) else None
        if action == "plan":
            return plan(
                event.get("request") or {},
                self.settings,
                s3=self.s3,
                registry=self.registry,
                default_run_id=event.get("execution"),
            )
        if action == "score":
            run = event["run"]
            return score_item(
                event["item"],
                run,
                self.settings,
                s3=self.s3,
                schema=self.schema(int(run["model"]["version"])),
                predict=self.predict,
            )
        if action == "finish":
            return finish(event["run"], s3=self.s3)
        raise InvalidInput(
            "1 problem in the event", [Problem(f"expected one of {ACTIONS}", field="action")]
        )
