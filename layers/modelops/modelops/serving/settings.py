"""PredictFunction's configuration, read and validated once at cold start.

Every variable is set by template.yaml; only MAX_BATCH_ROWS has a default here, because
the public contract fixes it (1000). A missing or malformed variable raises
ConfigurationError naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from modelops.capture import CAPTURE_FORMATS
from modelops.config import StackSettings, env_choice, env_float, env_int, env_str
from modelops.errors import ConfigurationError
from modelops.registry import ALIAS_PATTERN

CAPTURE_SINKS = ("log", "firehose", "off")
DEFAULT_MAX_BATCH_ROWS = 1000


@dataclass(frozen=True)
class ServingSettings:
    stack: StackSettings
    model_alias: str
    pinned_version: int | None  # MODEL_VERSION: serve exactly this version, never refresh
    refresh_seconds: int
    max_batch_rows: int
    capture_sink: str
    capture_sample_rate: float
    capture_stream: str | None  # the Firehose delivery stream (firehose sink only)
    # rows: a record per served row (format 1); requests: a record per request (format 2).
    capture_format: str = "rows"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServingSettings:
        source = os.environ if env is None else env
        alias = env_str("MODEL_ALIAS", source)
        if not ALIAS_PATTERN.match(alias):
            raise ConfigurationError(
                f"environment variable MODEL_ALIAS is not a valid alias: {alias!r}"
            )
        pinned_raw = source.get("MODEL_VERSION", "").strip()
        pinned: int | None = None
        if pinned_raw:
            pinned = env_int("MODEL_VERSION", source, minimum=1)
        sink = env_choice("CAPTURE_SINK", CAPTURE_SINKS, source)
        stream = source.get("CAPTURE_STREAM", "").strip() or None
        if sink == "firehose" and stream is None:
            raise ConfigurationError(
                "environment variable CAPTURE_STREAM is required when CAPTURE_SINK is firehose"
            )
        return cls(
            stack=StackSettings.from_env(source),
            model_alias=alias,
            pinned_version=pinned,
            refresh_seconds=env_int("MODEL_REFRESH_SECONDS", source, minimum=0),
            max_batch_rows=env_int(
                "MAX_BATCH_ROWS", source, default=DEFAULT_MAX_BATCH_ROWS, minimum=1
            ),
            capture_sink=sink,
            capture_sample_rate=env_float("CAPTURE_SAMPLE_RATE", source, minimum=0.0, maximum=1.0),
            capture_stream=stream,
            capture_format=env_choice("CAPTURE_FORMAT", CAPTURE_FORMATS, source, default="rows"),
        )
