"""CodeDeploy's pre-traffic hook: a new function version must answer right before it gets
any traffic.

CodeDeploy invokes the hook with a deployment id and a hook execution id; the hook reads the
deployment's AppSpec to learn which function and which new version it is about, invokes that
version, and reports Succeeded or Failed (PutLifecycleEventHookExecutionStatus). Failed stops
the deployment: the alias never moves, nobody is served by the broken code.

- PredictFunction: a prediction request built from the champion's own training baseline (a
  typical row and a row of missing values) must come back exactly as the champion's model
  answers it here, with onnxruntime, and name a version the registry serves. Without a
  champion it must answer the documented "no champion" error.
- FeedbackFunction and MonitorFunction: an invalid event must be refused with errorType
  InvalidInput. That proves the new code loads, reads its configuration and validates, and
  writes nothing (a real feedback label or monitor run would change production data).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelops.inference import OnnxModel
from modelops.registry import CHAMPION, ChallengerStage, ModelRegistry
from modelops.schema import FeatureKind, ModelSchema
from modelops.serving.request import parse_predict_request
from modelops.serving.response import prediction_outputs

PREDICT, FEEDBACK, MONITOR = "predict", "feedback", "monitor"
PROBE_ID_PREFIX = "codedeploy-pretraffic"
TOLERANCE = 1e-6
INVALID_FEEDBACK = {"labels": [{"inference_id": "", "label": None}]}
INVALID_WINDOW = {"window": {"start": "not a time", "end": "not a time either"}}


@dataclass(frozen=True)
class Target:
    """A function version a deployment is about to shift traffic to."""

    kind: str
    function_name: str
    version: str


@dataclass
class CheckResult:
    target: Target
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.target.function_name,
            "version": self.target.version,
            "kind": self.target.kind,
            "passed": self.passed,
            "problems": self.problems,
        }


def probe_instances(schema: ModelSchema, baseline: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A typical row (numeric means, most frequent categories) and, when the model has
    optional features, the typical row with every optional one missing (a required feature
    left out is a 400, which is not what the probe checks)."""
    features = baseline.get("features", {})
    typical: dict[str, Any] = {}
    for name in schema.feature_names:
        entry = features.get(name, {})
        if schema.by_name[name].kind is FeatureKind.NUMERIC:
            mean = entry.get("mean")
            typical[name] = (
                round(float(mean), 6) if mean is not None and math.isfinite(mean) else 0.0
            )
        else:
            shares: dict[str, float] = entry.get("category_shares") or {}
            typical[name] = max(shares, key=lambda c: shares[c]) if shares else None
    optional = [f.name for f in schema.features if not f.required]
    if not optional:
        return [typical]
    return [typical, {**typical, **dict.fromkeys(optional)}]


class PreTrafficCheck:
    """Checks every function version of one deployment and reports to CodeDeploy."""

    def __init__(
        self,
        *,
        functions: Mapping[str, str],
        registry: ModelRegistry,
        model_name: str,
        codedeploy_client: Any,
        lambda_client: Any,
    ) -> None:
        self.functions = dict(functions)  # kind -> function name
        self.registry = registry
        self.model_name = model_name
        self._codedeploy = codedeploy_client
        self._lambda = lambda_client

    def run(self, event: Mapping[str, Any]) -> dict[str, Any]:
        deployment_id = event.get("DeploymentId")
        hook_id = event.get("LifecycleEventHookExecutionId")
        if not deployment_id or not hook_id:
            raise ValueError(
                "a CodeDeploy hook event needs DeploymentId and LifecycleEventHookExecutionId"
            )
        results: list[CheckResult] = []
        problems: list[str] = []
        try:
            targets = self.targets(deployment_id)
            if not targets:
                problems.append("the deployment names no function this hook knows")
            results = [self.check(t) for t in targets]
        except Exception as exc:  # whatever failed, the deployment must not go on unchecked
            problems.append(f"{type(exc).__name__}: {exc}")
        passed = not problems and all(r.passed for r in results)
        status = "Succeeded" if passed else "Failed"
        self._codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id, lifecycleEventHookExecutionId=hook_id, status=status
        )
        return {
            "deployment_id": deployment_id,
            "status": status,
            "problems": problems,
            "checks": [r.as_dict() for r in results],
        }

    def targets(self, deployment_id: str) -> list[Target]:
        """The functions and new versions the deployment's AppSpec names."""
        deployment = self._codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        revision = deployment.get("revision", {})
        content = revision.get("appSpecContent", {}).get("content") or revision.get(
            "string", {}
        ).get("content")
        if not content:
            raise ValueError(f"deployment {deployment_id} carries no AppSpec content")
        appspec = json.loads(content)
        kinds = {name: kind for kind, name in self.functions.items()}
        found = []
        for resource in appspec.get("Resources", []):
            for spec in resource.values():
                props = spec.get("Properties", {})
                name = str(props.get("Name", "")).rsplit(":", 1)[-1]
                if name in kinds:
                    found.append(Target(kinds[name], name, str(props["TargetVersion"])))
        return found

    def check(self, target: Target) -> CheckResult:
        result = CheckResult(target)
        if target.kind == PREDICT:
            self._check_predict(target, result)
        else:
            event = INVALID_FEEDBACK if target.kind == FEEDBACK else INVALID_WINDOW
            answer, error = self._invoke(target, event)
            if error is None or error.get("errorType") != "InvalidInput":
                result.problems.append(
                    f"an invalid event must be refused with errorType InvalidInput; got "
                    f"{json.dumps(error if error is not None else answer)[:300]}"
                )
        return result

    def _invoke(self, target: Target, event: Any) -> tuple[Any, dict[str, Any] | None]:
        """The new version's answer, or its error payload when it raised."""
        response = self._lambda.invoke(
            FunctionName=target.function_name,
            Qualifier=target.version,
            Payload=json.dumps(event).encode(),
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            return None, payload if isinstance(payload, dict) else {"errorMessage": payload}
        return payload, None

    def _check_predict(self, target: Target, result: CheckResult) -> None:
        champion = self.registry.get_alias(self.model_name, CHAMPION)
        if champion is None:
            _, error = self._invoke(target, {"instances": [{}]})
            if error is None or "no champion" not in str(error.get("errorMessage", "")):
                result.problems.append(
                    f"without a champion, expected the no-champion error; got {error}"
                )
            return
        metadata = self.registry.get_metadata(self.model_name, champion.version)
        schema = ModelSchema.from_metadata(metadata)
        instances = probe_instances(schema, metadata.get("baseline") or {})
        ids = [f"{PROBE_ID_PREFIX}-{i}" for i in range(len(instances))]
        answer, error = self._invoke(target, {"instances": instances, "inference_ids": ids})
        if error is not None:
            result.problems.append(f"the prediction request failed: {json.dumps(error)[:300]}")
            return
        served = int(answer.get("model", {}).get("version", -1))
        challenger = ChallengerStage(self.registry).get(self.model_name)
        allowed = {champion.version} | ({challenger.version} if challenger else set())
        if served not in allowed:
            result.problems.append(
                f"answered with v{served}; the registry serves {sorted(allowed)}"
            )
            return
        expected = self._expected(served, instances, ids)
        got = answer.get("predictions", [])
        if len(got) != len(expected):
            result.problems.append(f"{len(got)} predictions for {len(expected)} instances")
            return
        for want, have in zip(expected, got, strict=True):
            problem = _difference(want, have)
            if problem:
                result.problems.append(f"{want['inference_id']}: {problem}")

    def _expected(
        self, version: int, instances: list[dict[str, Any]], ids: list[str]
    ) -> list[dict[str, Any]]:
        metadata = self.registry.get_metadata(self.model_name, version)
        schema = ModelSchema.from_metadata(metadata)
        model = OnnxModel(
            self.registry.get_model_bytes(
                self.model_name, version, expected_sha256=metadata["model_file"]["sha256"]
            ),
            schema,
        )
        request = parse_predict_request({"instances": instances}, schema, max_rows=len(instances))
        outputs = prediction_outputs(schema, model.predict_columns(request.columns))
        return [{"inference_id": i, **o} for i, o in zip(ids, outputs, strict=True)]


def _difference(want: Mapping[str, Any], have: Mapping[str, Any]) -> str:
    if have.get("inference_id") != want["inference_id"]:
        return f"inference id {have.get('inference_id')!r}, expected {want['inference_id']!r}"
    if "value" in want:
        if not isinstance(have.get("value"), int | float) or not math.isclose(
            have["value"], want["value"], rel_tol=TOLERANCE, abs_tol=TOLERANCE
        ):
            return f"value {have.get('value')!r}, the champion says {want['value']!r}"
        return ""
    if have.get("label") != want["label"]:
        return f"label {have.get('label')!r}, the champion says {want['label']!r}"
    got = have.get("probabilities") or {}
    for key, p in want["probabilities"].items():
        if not isinstance(got.get(key), int | float) or abs(got[key] - p) > TOLERANCE:
            return f"probability of {key!r} is {got.get(key)!r}, the champion says {p!r}"
    return ""
