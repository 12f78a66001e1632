"""The challenger beside the champion in PredictFunction.

`ChallengerServer.current()` is the running rollout and its loaded model, kept for the life
of the execution environment and re-checked at most every `refresh_seconds` with the same
conditional GET the champion uses (304 while nothing changed). `RolloutServing.serve` runs it
on a request after the champion answered:

- shadow: the challenger scores the rows whose inference id falls in its `weight` share; the
  client gets the champion's answer only; each row's capture carries the challenger's output
  (or its error) beside the champion's, under the same inference id.
- canary: the rows whose inference id falls in its `weight` share (sticky: a retried id lands
  on the same version) are answered by the challenger; those predictions say so.

A challenger that fails to load or to predict never fails a request: shadow rows record the
error, canary rows fall back to the champion's answer and record it (`challenger_error`),
and ChallengerFailures is counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelops import resilience
from modelops.errors import ModelNotFoundError
from modelops.registry import CHALLENGER, Challenger, ModelRegistry
from modelops.rollout import NOT_LOADED
from modelops.rollout.routing import rollout_salt, routes_to_challenger
from modelops.serving.model_cache import REFRESH_RETRY_CAP_SECONDS, LoadedModel, ModelCache
from modelops.serving.response import prediction_outputs


@dataclass(frozen=True)
class ActiveChallenger:
    rollout: Challenger
    loaded: LoadedModel | None  # None: it could not be loaded (retried at the next check)
    salt: str

    @property
    def mode(self) -> str:
        return self.rollout.mode


class ChallengerServer:
    """Holds the running challenger of this execution environment, refreshed cheaply."""

    def __init__(
        self,
        registry: ModelRegistry,
        model_name: str,
        *,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_load: Callable[[LoadedModel], None] = lambda loaded: None,
        on_failure: Callable[[int | None, BaseException], None] = lambda version, exc: None,
        probe: ModelRegistry | None = None,
        registry_healthy: Callable[[], bool] = lambda: True,
    ) -> None:
        self._registry = registry
        # Alias checks in the request path: one attempt, like the champion's (modelops.aws).
        self._probe = probe or registry
        self.model_name = model_name
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._on_load = on_load
        self._on_failure = on_failure
        self._active: ActiveChallenger | None = None
        self._etag: str | None = None
        # Checked like the champion: every refresh_seconds, backing off after failures; and
        # not at all while the champion's own checks fail (the registry is unreachable: a
        # second call per request would only add latency).
        self._schedule = resilience.RetrySchedule(
            interval=refresh_seconds,
            base=max(refresh_seconds, 1.0),
            cap=max(REFRESH_RETRY_CAP_SECONDS, refresh_seconds, 1.0),
            clock=clock,
        )
        self._registry_healthy = registry_healthy

    def current(self) -> ActiveChallenger | None:
        if self._schedule.due() and self._registry_healthy() and resilience.has_time_for(1):
            try:
                self._refresh()
            except Exception as exc:  # S3 unreachable, a bad record: keep what we have
                self._schedule.failed()
                self._on_failure(None, exc)
            else:
                self._schedule.succeeded()
        return self._active

    def _refresh(self) -> None:
        try:
            state = self._probe.get_alias_if_changed(self.model_name, CHALLENGER, self._etag)
        except ModelNotFoundError:
            self._active, self._etag = None, None
            return
        if state is None:
            return
        rollout = Challenger.from_state(state)
        if not rollout.active:
            self._active, self._etag = None, state.etag
            return
        previous = self._active
        if (
            previous is not None
            and previous.loaded is not None
            and previous.rollout.version == rollout.version
        ):
            # The same version with a new weight (or reason): keep the loaded model.
            self._active = ActiveChallenger(rollout, previous.loaded, previous.salt)
            self._etag = state.etag
            return
        cache = ModelCache(
            self._registry,
            self.model_name,
            alias=CHALLENGER,
            pinned_version=rollout.version,
            refresh_seconds=math.inf,
            on_load=self._on_load,
            on_load_failure=self._on_failure,
            probe=self._probe,
        )
        salt = rollout_salt(self.model_name, rollout.version)
        try:
            loaded = cache.get()
        except Exception:
            # Reported through on_failure by the cache; the etag stays unset: retried at the
            # next check, while requests go on without it.
            self._active, self._etag = ActiveChallenger(rollout, None, salt), None
            return
        self._active, self._etag = ActiveChallenger(rollout, loaded, salt), state.etag


@dataclass
class Served:
    """What the rollout did to one request: per row, the version that answered, and the
    extra fields of each row's capture record."""

    mode: str
    versions: list[int]
    capture_extras: list[dict[str, Any]] = field(default_factory=list)
    challenger_rows: int = 0
    challenger_failed: bool = False


class RolloutServing:
    def __init__(
        self, server: ChallengerServer, *, on_failure: Callable[[BaseException], None]
    ) -> None:
        self.server = server
        self._on_failure = on_failure

    def serve(
        self,
        champion: LoadedModel,
        columns: Mapping[str, np.ndarray],
        inference_ids: Sequence[str],
        outputs: list[dict[str, Any]],
        *,
        champion_ms: float | None = None,
    ) -> Served | None:
        """Run the challenger on this request (changing `outputs` in place for canary
        rows); None when no rollout runs. Never raises. With `champion_ms` (the champion's
        scoring time of this request), the capture's `rollout` also says how long each
        version took to score it (`latency_ms`), for the monitor's side-by-side."""
        try:
            active = self.server.current()
        except Exception as exc:
            self._on_failure(exc)
            return None
        if active is None:
            return None
        rows = [
            i
            for i, inference_id in enumerate(inference_ids)
            if routes_to_challenger(inference_id, active.rollout.weight, active.salt)
        ]
        rollout: dict[str, Any] = {
            "mode": active.mode,
            "champion_version": champion.version,
            "challenger_version": active.rollout.version,
        }
        latency: dict[str, float | None] = {"champion": _ms(champion_ms), "challenger": None}
        if champion_ms is not None:
            rollout["latency_ms"] = latency
        served = Served(
            mode=active.mode,
            versions=[champion.version] * len(inference_ids),
            capture_extras=[{"rollout": rollout} for _ in inference_ids],
            challenger_rows=len(rows),
        )
        if not rows:
            return served
        try:
            if active.loaded is None:
                raise RuntimeError(f"challenger v{active.rollout.version} is not loaded")
            started = time.perf_counter()
            answers = _predict(active.loaded, columns, rows)
            latency["challenger"] = _ms((time.perf_counter() - started) * 1000)
        except Exception as exc:
            self._on_failure(exc)
            served.challenger_failed = True
            error = {
                "model": self._model(active),
                "error": NOT_LOADED if active.loaded is None else type(exc).__name__,
            }
            # Shadow rows record the error in place of the output; canary rows keep the
            # champion's answer and say the challenger should have answered (the monitor
            # counts both against the challenger's error rate).
            key = "shadow" if active.mode == "shadow" else "challenger_error"
            for row in rows:
                served.capture_extras[row][key] = error
            return served
        for row, answer in zip(rows, answers, strict=True):
            if active.mode == "shadow":
                served.capture_extras[row]["shadow"] = {
                    "model": self._model(active),
                    "output": answer,
                }
            else:
                outputs[row] = answer
                served.versions[row] = active.rollout.version
        return served

    def _model(self, active: ActiveChallenger) -> dict[str, Any]:
        return {"name": self.server.model_name, "version": active.rollout.version}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _predict(
    loaded: LoadedModel, columns: Mapping[str, np.ndarray], rows: list[int]
) -> list[dict[str, Any]]:
    """The challenger's answers for `rows`, from its own schema's features (a KeyError if it
    needs a feature the champion's request does not carry); `columns` are the request's, as
    the champion takes them (modelops.serving.columns)."""
    subset = {name: columns[name][rows] for name in loaded.schema.feature_names}
    return prediction_outputs(loaded.schema, loaded.model.predict_columns(subset))
