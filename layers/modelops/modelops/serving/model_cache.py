"""The served model, kept for the life of the execution environment and refreshed cheaply.

On first use the alias (champion by default) or the pinned version is resolved, its
metadata read and model.onnx fetched and verified against the sha256 the metadata records
(the registry does the check), and one onnxruntime session built. After that the alias is
re-checked at most every `refresh_seconds` with a conditional GET (If-None-Match: a 304
costs no body); a new version is loaded beside the old one and swapped in by one reference
assignment, so a request always sees one whole model. If the new version fails to load or
verify, the old one keeps serving, the failure is reported through `on_load_failure`, and
the next check (after the back-off below) tries again.

Failures back off: a refresh that fails (S3 unreachable or hanging, an unreadable alias, a
version that does not verify) is tried again only after min(cap, interval * 2**(n-1))
seconds, so an outage costs one probe per step, never one per request; the probe itself is
a single attempt (`probe`, a registry on a one-attempt client). A cold start that fails
answers 503 (ModelUnavailableError) and its retries back off the same way (1 s doubling to
`cold_retry_cap_seconds`), each answered at once with 503 in between. A load starts only if
the invocation's deadline leaves time for its calls (modelops.resilience).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelops import resilience
from modelops.errors import ModelUnavailableError, NoChampionError
from modelops.inference import OnnxModel
from modelops.registry import ModelRegistry
from modelops.schema import ModelSchema

# Any failure of a candidate version (S3, integrity, bad metadata, onnxruntime refusing the
# graph: its errors derive from Exception only) must leave the serving model in place; each
# is reported through on_load_failure (logged and counted), not swallowed.
LOAD_ERRORS: tuple[type[Exception], ...] = (Exception,)
REFRESH_RETRY_CAP_SECONDS = 300.0
COLD_RETRY_CAP_SECONDS = 30.0


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
        probe: ModelRegistry | None = None,
        retry_cap_seconds: float = REFRESH_RETRY_CAP_SECONDS,
        cold_retry_cap_seconds: float = COLD_RETRY_CAP_SECONDS,
    ) -> None:
        self._registry = registry
        self._probe = probe or registry
        self.model_name = model_name
        self.alias = alias
        self.pinned_version = pinned_version
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._on_load = on_load
        self._on_load_failure = on_load_failure
        self._current: LoadedModel | None = None
        self._alias_etag: str | None = None
        self._refresh_schedule = resilience.RetrySchedule(
            interval=refresh_seconds,
            base=max(refresh_seconds, 1.0),
            cap=max(retry_cap_seconds, refresh_seconds, 1.0),
            clock=clock,
        )
        self._cold_schedule = resilience.RetrySchedule(
            interval=0.0, base=1.0, cap=max(cold_retry_cap_seconds, 1.0), clock=clock
        )
        self._last_failure = ""

    @property
    def loaded(self) -> LoadedModel | None:
        """The model being served, if any (no registry call)."""
        return self._current

    @property
    def consecutive_failures(self) -> int:
        """Failed loads or refreshes in a row (0 while the registry answers)."""
        return self._refresh_schedule.failures or self._cold_schedule.failures

    @property
    def seconds_until_retry(self) -> float:
        """How long until the registry is called again after failures (0 when due)."""
        schedule = self._refresh_schedule if self._current else self._cold_schedule
        return schedule.seconds_until_due() if schedule.failures else 0.0

    def get(self) -> LoadedModel:
        """The model to serve for this request, refreshed if it is time to check.

        Raises NoChampionError when nothing has been promoted yet, ModelUnavailableError when
        no version could be loaded; never while an older model is available.
        """
        current = self._current
        if current is None:
            return self._first_load()
        if (
            self.pinned_version is None
            and self._refresh_schedule.due()
            and resilience.has_time_for(1)
        ):
            self._refresh(current)
        return self._current or current

    def _first_load(self) -> LoadedModel:
        if not self._cold_schedule.due():
            raise ModelUnavailableError(
                f"model {self.model_name!r} could not be loaded ({self._last_failure}); "
                f"next attempt in {self._cold_schedule.seconds_until_due():.0f} s"
            )
        if not resilience.has_time_for(1):  # each later call checks again (_load)
            raise ModelUnavailableError(
                f"model {self.model_name!r} is not loaded and this invocation has too little "
                "time left to load it; the next request will"
            )
        version: int | None = self.pinned_version
        etag: str | None = None
        try:
            if version is None:
                # Unconditional GET; NoChampionError (-> 503) when the alias is absent: not a
                # failure, and checked again on the next request so a promotion is seen at once.
                state = self._registry.get_alias_if_changed(self.model_name, self.alias, None)
                assert state is not None  # an unconditional GET never answers "not modified"
                version, etag = state.version, state.etag
            loaded = self._load(version)
        except NoChampionError:
            raise
        except LOAD_ERRORS as exc:
            self._cold_schedule.failed()
            self._last_failure = _describe(exc)
            self._on_load_failure(version, exc)
            raise ModelUnavailableError(
                f"model {self.model_name!r}"
                + (f" version {version}" if version is not None else "")
                + f" could not be loaded ({self._last_failure}); next attempt in "
                f"{self._cold_schedule.seconds_until_due():.0f} s"
            ) from exc
        self._cold_schedule.succeeded()
        self._refresh_schedule.succeeded()
        self._alias_etag = etag
        self._current = loaded
        return loaded

    def _refresh(self, current: LoadedModel) -> None:
        version: int | None = None
        try:
            state = self._probe.get_alias_if_changed(self.model_name, self.alias, self._alias_etag)
            if state is None or state.version == current.version:
                if state is not None:
                    self._alias_etag = state.etag
                self._refresh_schedule.succeeded()
                return
            version = state.version
            loaded = self._load(state.version)
        except LOAD_ERRORS as exc:
            # The alias vanished or is unreadable, S3 is unreachable, or the new version does
            # not verify: keep serving what we have, keep the old etag (so the change is seen
            # again), and try again after the back-off.
            self._refresh_schedule.failed()
            self._on_load_failure(version, exc)
            return
        self._refresh_schedule.succeeded()
        self._alias_etag = state.etag
        self._current = loaded

    def _load(self, version: int) -> LoadedModel:
        started = time.perf_counter()
        resilience.ensure_time_for(f"read the metadata of version {version}")
        metadata = self._registry.get_metadata(self.model_name, version)
        schema = ModelSchema.from_metadata(metadata)
        try:
            expected_sha256 = metadata["model_file"]["sha256"]
        except (KeyError, TypeError):
            raise ValueError(
                f"metadata of version {version} records no model_file.sha256"
            ) from None
        resilience.ensure_time_for(f"download version {version}")
        onnx_bytes = self._registry.get_model_bytes(
            self.model_name, version, expected_sha256=expected_sha256
        )
        model = OnnxModel(onnx_bytes, schema)
        loaded = LoadedModel(
            self.model_name, version, metadata, model, time.perf_counter() - started
        )
        self._on_load(loaded)
        return loaded


def _describe(exc: BaseException) -> str:
    """A short, safe reason for a 503 message: our own messages whole, a library's by type."""
    if isinstance(exc, resilience.DEPENDENCY_ERRORS):
        return f"the registry is unreachable: {type(exc).__name__}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
