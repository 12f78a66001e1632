"""The monitor's side of a rollout: one window's captures and labels as evidence, decided
and applied.

Rows served while a challenger ran carry a `rollout` field in their capture record (the
mode and both versions); shadow rows also carry the challenger's output (or its error) under
`shadow`. `RolloutJudge.judge` reads the window's capture objects and the feedback received
since its start (the same readers the monitor uses), builds the evidence of the challenger
that is running now, decides (modelops.rollout.decision) and applies the decision
(modelops.rollout.apply). Reading is only done while a challenger runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from modelops.metrics import primary_metric
from modelops.monitoring.join import FeedbackIndex
from modelops.monitoring.objects import iter_line_batches, list_partition_keys
from modelops.registry import Challenger, ChallengerStage, ModelRegistry
from modelops.rollout import NOT_LOADED
from modelops.rollout.apply import RolloutApplier
from modelops.rollout.decision import Evidence, decide, decision_seed
from modelops.rollout.statistics import Outputs, metric_table
from modelops.schema import ModelSchema, Task, class_key


class _Rows:
    """Outputs and truths of one version, row by row."""

    def __init__(self) -> None:
        self.truth: list[Any] = []
        self.outputs: list[Mapping[str, Any]] = []

    def add(self, truth: Any, output: Mapping[str, Any]) -> None:
        self.truth.append(truth)
        self.outputs.append(output)

    def as_outputs(self, schema: ModelSchema) -> Outputs:
        if schema.task is Task.REGRESSION:
            return Outputs(
                np.asarray(self.truth, dtype=np.float64),
                values=np.asarray([o["value"] for o in self.outputs], dtype=np.float64),
            )
        keys = [class_key(c) for c in schema.classes or ()]
        return Outputs(
            np.asarray(self.truth, dtype=object),
            labels=np.asarray([o["label"] for o in self.outputs], dtype=object),
            probabilities=np.asarray(
                [[o["probabilities"][k] for k in keys] for o in self.outputs], dtype=np.float64
            ).reshape(len(self.outputs), len(keys)),
        )


class WindowRollout:
    """What one window says about `challenger`: paired rows (shadow), rows per version
    (canary), attempts, errors and agreement."""

    def __init__(self, challenger: Challenger, champion_version: int) -> None:
        self.challenger = challenger
        self.champion_version = champion_version
        self.champion = _Rows()
        self.other = _Rows()
        self.rows = 0
        self.attempts = 0
        self.errors = 0
        self.agreeing = 0
        self.compared = 0
        self.error_types: Counter[str] = Counter()
        # Scoring time of each version per request (every row of a request repeats it).
        self.latency: dict[str, Mapping[str, Any]] = {}

    def add(self, record: Mapping[str, Any], truth: Any | None) -> None:
        rollout = record.get("rollout")
        if not isinstance(rollout, Mapping):
            return
        if rollout.get("challenger_version") != self.challenger.version:
            return
        if rollout.get("champion_version") != self.champion_version:
            return
        self.rows += 1
        latency = rollout.get("latency_ms")
        if isinstance(latency, Mapping):
            self.latency.setdefault(str(record["eventMetadata"].get("requestId")), latency)
        output = record["output"]
        if self.challenger.mode == "shadow":
            shadow = record.get("shadow")
            if not isinstance(shadow, Mapping):
                return  # not in the shadow's sampled share
            self.attempts += 1
            if "output" not in shadow:
                self._failed(shadow)
                return
            self.compared += 1
            self.agreeing += _agree(output, shadow["output"])
            if truth is not None:
                self.champion.add(truth, output)
                self.other.add(truth, shadow["output"])
            return
        failed = record.get("challenger_error")
        if isinstance(failed, Mapping):
            # Routed to the challenger, answered by the champion because it failed.
            self.attempts += 1
            self._failed(failed)
            return
        answered_by = record.get("model", {}).get("version")
        if answered_by == self.challenger.version:
            self.attempts += 1
            if truth is not None:
                self.other.add(truth, output)
        elif truth is not None:
            self.champion.add(truth, output)

    def _failed(self, error: Mapping[str, Any]) -> None:
        self.errors += 1
        self.error_types[str(error.get("error"))] += 1

    def load_error(self) -> str | None:
        """Every failure of the window was PredictFunction not having the model loaded."""
        if self.errors and self.error_types[NOT_LOADED] == self.errors:
            return (
                f"PredictFunction could not load v{self.challenger.version}: none of the "
                f"{self.errors} rows routed to it in this window was scored"
            )
        return None

    def evidence(self, champion_schema: ModelSchema, challenger_schema: ModelSchema) -> Evidence:
        return Evidence(
            task=champion_schema.task,
            metric=primary_metric(champion_schema.task),
            classes=tuple(champion_schema.classes or ()),
            champion=self.champion.as_outputs(champion_schema),
            challenger=self.other.as_outputs(challenger_schema),
            challenger_attempts=self.attempts,
            challenger_errors=self.errors,
            load_error=self.load_error(),
            agreement=self.agreeing / self.compared if self.compared else None,
        )

    def comparison(
        self, evidence: Evidence, champion_schema: ModelSchema
    ) -> dict[str, dict[str, Any]]:
        """Champion and challenger side by side: every metric on their labeled rows (the
        same rows in shadow), scoring time per request, rows scored and failed."""
        classes = tuple(champion_schema.classes or ())
        task = champion_schema.task
        return {
            "champion": {
                "version": self.champion_version,
                "labeled_rows": len(evidence.champion),
                "metrics": metric_table(task, evidence.champion, classes),
                "latency_ms": _percentiles(self.latency.values(), "champion"),
                "errors": 0,  # a champion failure fails the request: it is never captured
            },
            "challenger": {
                "version": self.challenger.version,
                "labeled_rows": len(evidence.challenger),
                "metrics": metric_table(task, evidence.challenger, classes),
                "latency_ms": _percentiles(self.latency.values(), "challenger"),
                "scored_rows": evidence.challenger_attempts,
                "errors": evidence.challenger_errors,
            },
        }


def _percentiles(latencies: Iterable[Mapping[str, Any]], role: str) -> dict[str, Any]:
    values = np.asarray(
        [float(v[role]) for v in latencies if isinstance(v.get(role), (int, float))],
        dtype=np.float64,
    )
    if not values.size:
        return {"requests": 0, "p50": None, "p95": None}
    return {
        "requests": int(values.size),
        "p50": round(float(np.quantile(values, 0.5)), 3),
        "p95": round(float(np.quantile(values, 0.95)), 3),
    }


def _agree(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    if "label" in a:
        return int(a.get("label") == b.get("label"))
    return int(
        abs(float(a["value"]) - float(b["value"])) <= 1e-6 * max(1.0, abs(float(a["value"])))
    )


class RolloutJudge:
    def __init__(
        self,
        registry: ModelRegistry,
        applier: RolloutApplier,
        *,
        s3_client: Any,
        model_name: str,
        capture_lateness: Any,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        self.applier = applier
        self._s3 = s3_client
        self.model_name = model_name
        self.capture_lateness = capture_lateness
        self._clock = clock

    def judge(
        self, window: Any, versions: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Decide the running challenger on this window; None when there is none."""
        challenger = ChallengerStage(self.registry).get(self.model_name)
        if challenger is None or challenger.champion_version is None:
            return None
        part = WindowRollout(challenger, challenger.champion_version)
        feedback = FeedbackIndex.load(self._s3, self.registry.bucket, self.model_name, window.start)
        prefix = f"capture/{self.model_name}/"
        keys = list_partition_keys(
            self._s3, self.registry.bucket, prefix, window.start, window.end + self.capture_lateness
        )
        start, end = window.start, window.end
        for key in keys:
            for lines in iter_line_batches(self._s3, self.registry.bucket, key):
                records = []
                for line in lines:
                    try:
                        record = orjson.loads(line)
                        meta = record["eventMetadata"]
                        when = datetime.fromisoformat(meta["inferenceTime"].replace("Z", "+00:00"))
                    except (
                        orjson.JSONDecodeError,
                        KeyError,
                        TypeError,
                        ValueError,
                        AttributeError,
                    ):
                        continue  # the monitor counts malformed lines
                    if start <= when < end and "rollout" in record:
                        records.append(record)
                positions = feedback.lookup([r["eventMetadata"]["inferenceId"] for r in records])
                for record, position in zip(records, positions.tolist(), strict=True):
                    part.add(record, feedback.truth(position) if position >= 0 else None)
        schema = ModelSchema.from_metadata(
            self.registry.get_metadata(self.model_name, challenger.champion_version)
        )
        other = ModelSchema.from_metadata(
            self.registry.get_metadata(self.model_name, challenger.version)
        )
        evidence = part.evidence(schema, other)
        if challenger.mode == "canary" and versions:
            evidence = _with_drift(evidence, versions, challenger)
        decision = decide(
            evidence,
            challenger,
            now=self._clock(),
            seed=decision_seed(self.model_name, challenger.version, window.key),
        )
        outcome = self.applier.apply(self.model_name, challenger, decision, window=window.as_dict())
        return {
            "champion_version": challenger.champion_version,
            "challenger_version": challenger.version,
            "mode": challenger.mode,
            "weight": challenger.weight,
            "started_at": challenger.started_at,
            "rule": challenger.rule.as_dict(),
            "rows": part.rows,
            "comparison": part.comparison(evidence, schema),
            "decision": decision.as_dict(),
            "outcome": outcome.as_dict(),
        }


def _with_drift(
    evidence: Evidence, versions: Mapping[str, Any], challenger: Challenger
) -> Evidence:
    """Canary: each version's prediction drift from the monitor's own per-version analysis."""
    from dataclasses import replace

    def drifted(version: int | None) -> bool | None:
        entry = versions.get(str(version)) or {}
        prediction = (entry.get("drift") or {}).get("prediction") or {}
        value = prediction.get("drifted")
        return None if value is None else bool(value)

    return replace(
        evidence,
        champion_drift=drifted(challenger.champion_version),
        challenger_drift=drifted(challenger.version),
    )


def decision_log(rollout: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A window's rollout decision in one log line's fields (the monitoring dashboard's
    "Decisions and why" table queries rollout.action and rollout.reason)."""
    if not rollout or "outcome" not in rollout:
        return rollout  # no challenger, or the judgement's error as it is
    return {
        "champion_version": rollout.get("champion_version"),
        "challenger_version": rollout.get("challenger_version"),
        "mode": rollout.get("mode"),
        "action": (rollout.get("outcome") or {}).get("action"),
        "reason": (rollout.get("decision") or {}).get("reason"),
    }


def retraining_hold(rollout: Mapping[str, Any] | None) -> str | None:
    """Why the monitor submits no retraining for this window because of its rollout, or None.
    Observing: a new version would supersede the one being compared before it is decided.
    Promoted: the window's status is the replaced champion's, not the new one's."""
    action = ((rollout or {}).get("outcome") or {}).get("action")
    version = (rollout or {}).get("challenger_version")
    if action == "observing":
        return f"challenger v{version} is being evaluated on live requests: no retraining meanwhile"
    if action == "promoted":
        return (
            f"challenger v{version} was promoted on this window's evidence: no retraining for "
            "the previous champion's status"
        )
    return None
