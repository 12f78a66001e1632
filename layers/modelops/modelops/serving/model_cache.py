"""The served model, kept for the life of the execution environment and refreshed cheaply.

On first use the alias (champion by default) or the pinned version is resolved, its
metadata read and model.onnx fetched and verified against the sha256 the metadata records
(the registry does the check), and one onnxruntime session built. After that the alias is
re-checked at most every `refresh_seconds` with a conditional GET (If-None-Match: a 304
costs no body); a new version is loaded beside the old one and swapped in by one reference
assignment, so a request always sees one whole model. If the new version fails to load or
verify, the old one keeps serving, the failure is reported through `on_load_failure`, and
the next check tries again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from modelops.errors import ModelNotFoundError, ModelUnavailableError
from modelops.inference import OnnxModel
from modelops.registry import AliasState, ModelRegistry
from modelops.schema import ModelSchema

# Any failure of a candidate version (S3, integrity, bad metadata, onnxruntime refusing the
# graph: its errors derive from Exception only) must leave the serving model in place; each
# is reported through on_load_failure (logged and counted), not swallowed.
LOAD_ERRORS: tuple[type[Exception], ...] = (Exception,)


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: int
    metadata: dict[str, Any]
    model: OnnxModel
    load_seconds: float

    @property
    def schema(self) -> ModelSchema:
        return self.model.schema


class ModelCache:
    """Holds the one model this execution environment serves."""

    def __init__(
        self,
        registry: ModelRegistry,
        model_name: str,
        *,
        alias: str,
        pinned_version: int | None,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_load: Callable[[LoadedModel], None] = lambda loaded: None,
        on_load_failure: Callable[[int | None, BaseException], None] = lambda version, exc: None,
    ) -> None:
        self._registry = registry
        self.model_name = model_name
        self.alias = alias
        self.pinned_version = pinned_version
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._on_load = on_load
        self._on_load_failure = on_load_failure
        self._current: LoadedModel | None = None
        self._alias_etag: str | None = None
        self._checked_at = 0.0

    @property
    def loaded(self) -> LoadedModel | None:
        """The model being served, if any (no registry call)."""
        return self._current

    def get(self) -> LoadedModel:
        """The model to serve for this request, refreshed if it is time to check.

        Raises NoChampionError when nothing has been promoted yet, ModelUnavailableError when
        no version could be loaded; never while an older model is available.
        """
        current = self._current
        if current is None:
            return self._first_load()
        if self.pinned_version is None and self._clock() - self._checked_at >= self.refresh_seconds:
            self._refresh(current)
        return self._current or current

    def _first_load(self) -> LoadedModel:
        etag: str | None = None
        if self.pinned_version is not None:
            version = self.pinned_version
        else:
            # Unconditional GET; raises NoChampionError (-> 503) when the alias is absent.
            state = self._registry.get_alias_if_changed(self.model_name, self.alias, None)
            assert state is not None  # an unconditional GET never answers "not modified"
            version, etag = state.version, state.etag
        self._checked_at = self._clock()
        try:
            loaded = self._load(version)
        except LOAD_ERRORS as exc:
            self._on_load_failure(version, exc)
            raise ModelUnavailableError(
                f"model {self.model_name!r} version {version} could not be loaded; "
                "it will be retried on the next request"
            ) from exc
        self._alias_etag = etag
        self._current = loaded
        return loaded

    def _refresh(self, current: LoadedModel) -> None:
        self._checked_at = self._clock()
        try:
            state: AliasState | None = self._registry.get_alias_if_changed(
                self.model_name, self.alias, self._alias_etag
            )
        except (ModelNotFoundError, ClientError, BotoCoreError) as exc:
            # The alias vanished or S3 is unreachable: keep serving what we have.
            self._on_load_failure(None, exc)
            return
        if state is None:
            return
        if state.version == current.version:
            self._alias_etag = state.etag
            return
        try:
            loaded = self._load(state.version)
        except LOAD_ERRORS as exc:
            # Keep the old etag so the next check sees the change again and retries.
            self._on_load_failure(state.version, exc)
            return
        self._alias_etag = state.etag
        self._current = loaded

    def _load(self, version: int) -> LoadedModel:
        started = time.perf_counter()
        metadata = self._registry.get_metadata(self.model_name, version)
        schema = ModelSchema.from_metadata(metadata)
        try:
            expected_sha256 = metadata["model_file"]["sha256"]
        except (KeyError, TypeError):
            raise ValueError(
                f"metadata of version {version} records no model_file.sha256"
            ) from None
        onnx_bytes = self._registry.get_model_bytes(
            self.model_name, version, expected_sha256=expected_sha256
        )
        model = OnnxModel(onnx_bytes, schema)
        loaded = LoadedModel(
            self.model_name, version, metadata, model, time.perf_counter() - started
        )
        self._on_load(loaded)
        return loaded
