"""The pre-traffic hook: a new function version is invoked before it gets traffic, and the
deployment fails if its answer is wrong. CodeDeploy runs on moto (applications, deployment
groups, deployments with their AppSpec); the hook status call, which moto lacks, is checked
against the API model by botocore's Stubber; Lambda invoke runs the real handlers in-process
(moto does not run code)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.template import function_environment, resolve
from modelops.registry import ModelRegistry
from modelops.rollout.pretraffic import (
    FEEDBACK,
    MONITOR,
    PREDICT,
    PreTrafficCheck,
    probe_instances,
)
from modelops.schema import FeatureKind, FeatureSpec, ModelSchema, Task
from tests.conftest import BUCKET

NAMES = {PREDICT: "stack-predict", FEEDBACK: "stack-feedback", MONITOR: "stack-monitor"}
LOGICAL = {PREDICT: "PredictFunction", FEEDBACK: "FeedbackFunction", MONITOR: "MonitorFunction"}
REFS = {
    "ModelOpsBucket": BUCKET,
    "CaptureDeliveryStream": "capture-stream",
    "TrainingJobQueue": "queue",
    "TrainingJobDefinition": "job-definition",
}


class HandlersAsLambda:
    """Lambda's Invoke API over the functions' real handlers: the result as Payload, an
    exception as FunctionError with Lambda's {errorType, errorMessage} payload. A test can
    put a `tamper` between the handler and the caller, as a broken new version would."""

    def __init__(self) -> None:
        self.functions = {
            NAMES[kind]: LocalFunction(
                LOGICAL[kind],
                {k: str(v) for k, v in resolve(function_environment(LOGICAL[kind]), REFS).items()},
                stdout=io.StringIO(),
            )
            for kind in NAMES
        }
        self.calls: list[tuple[str, str, Any]] = []
        self.tamper: Callable[[Any], Any] = lambda answer: answer

    def invoke(self, *, FunctionName: str, Qualifier: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803 - boto3's names
        event = json.loads(Payload)
        self.calls.append((FunctionName, Qualifier, event))
        try:
            answer = self.tamper(self.functions[FunctionName].invoke(event))
        except Exception as exc:
            body = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _stream(body)}
        return {"StatusCode": 200, "Payload": _stream(answer)}


def _stream(value: Any) -> io.BytesIO:
    return io.BytesIO(json.dumps(value).encode())


class CodeDeploy:
    """moto's CodeDeploy for deployments; the hook status through a stubbed client."""

    def __init__(self) -> None:
        self.moto = boto3.client("codedeploy")
        self.reporter = boto3.client("codedeploy")
        self.stubber = Stubber(self.reporter)

    def get_deployment(self, **kwargs: Any) -> Any:
        return self.moto.get_deployment(**kwargs)

    def put_lifecycle_event_hook_execution_status(self, **kwargs: Any) -> Any:
        return self.reporter.put_lifecycle_event_hook_execution_status(**kwargs)

    def deployment(self, kind: str, target: str = "7") -> str:
        """A Lambda deployment of NAMES[kind] from version 6 to `target`, as SAM creates it."""
        app = f"app-{kind}"
        self.moto.create_application(applicationName=app, computePlatform="Lambda")
        self.moto.create_deployment_group(
            applicationName=app,
            deploymentGroupName="live",
            serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
            deploymentStyle={
                "deploymentType": "BLUE_GREEN",
                "deploymentOption": "WITH_TRAFFIC_CONTROL",
            },
        )
        appspec = json.dumps({
            "version": 0.0,
            "Resources": [{LOGICAL[kind]: {"Type": "AWS::Lambda::Function", "Properties": {
                "Name": NAMES[kind], "Alias": "live", "CurrentVersion": "6", "TargetVersion": target}}}],
        })  # fmt: skip
        deployment_id: str = self.moto.create_deployment(
            applicationName=app,
            deploymentGroupName="live",
            revision={
                "revisionType": "AppSpecContent",
                "appSpecContent": {
                    "content": appspec,
                    "sha256": hashlib.sha256(appspec.encode()).hexdigest(),
                },
            },
        )["deploymentId"]
        return deployment_id

    def expect(self, deployment_id: str, status: str) -> None:
        self.stubber.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": "hook-1"},
            {
                "deploymentId": deployment_id,
                "lifecycleEventHookExecutionId": "hook-1",
                "status": status,
            },
        )


@pytest.fixture
def codedeploy(mocked_aws: None) -> Iterator[CodeDeploy]:
    cd = CodeDeploy()
    with cd.stubber:
        yield cd
    cd.stubber.assert_no_pending_responses()


@pytest.fixture
def lambdas(monkeypatch: pytest.MonkeyPatch) -> HandlersAsLambda:
    return HandlersAsLambda()


def hook(
    registry: ModelRegistry, codedeploy: CodeDeploy, lambdas: HandlersAsLambda
) -> PreTrafficCheck:
    return PreTrafficCheck(
        functions=NAMES,
        registry=registry,
        model_name="churn",
        codedeploy_client=codedeploy,
        lambda_client=lambdas,
    )


def event(deployment_id: str) -> dict[str, str]:
    return {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": "hook-1"}


def test_a_correct_predict_version_passes(
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    codedeploy: CodeDeploy,
    lambdas: HandlersAsLambda,
) -> None:
    deployment = codedeploy.deployment(PREDICT, target="7")
    codedeploy.expect(deployment, "Succeeded")
    result = hook(registry, codedeploy, lambdas).run(event(deployment))
    assert result["status"] == "Succeeded", result
    ((name, qualifier, sent),) = lambdas.calls
    assert (name, qualifier) == (NAMES[PREDICT], "7")  # the new version, not the alias
    assert len(sent["instances"]) == 2 and sent["inference_ids"][0].startswith(
        "codedeploy-pretraffic"
    )


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (
            lambda a: {
                **a,
                "predictions": [
                    {**p, "label": "yes" if p["label"] == "no" else "no"} for p in a["predictions"]
                ],
            },
            "label",
        ),
        (
            lambda a: {
                **a,
                "predictions": [
                    {
                        **p,
                        "probabilities": {
                            k: round(v + 2e-6, 6) for k, v in p["probabilities"].items()
                        },
                    }
                    for p in a["predictions"]
                ],
            },
            "probability",
        ),
        (lambda a: {**a, "predictions": a["predictions"][:1]}, "1 predictions for 2 instances"),
        (lambda a: {**a, "model": {"name": "churn", "version": 99}}, "answered with v99"),
    ],
    ids=["wrong-label", "probability-off-by-2e-6", "missing-row", "unknown-version"],
)
def test_a_wrong_predict_answer_fails_the_deployment(
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    codedeploy: CodeDeploy,
    lambdas: HandlersAsLambda,
    tamper: Callable[[Any], Any],
    problem: str,
) -> None:
    deployment = codedeploy.deployment(PREDICT)
    codedeploy.expect(deployment, "Failed")
    lambdas.tamper = tamper
    result = hook(registry, codedeploy, lambdas).run(event(deployment))
    assert result["status"] == "Failed"
    assert problem in " ".join(result["checks"][0]["problems"])


def test_probabilities_within_the_tolerance_pass(
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    codedeploy: CodeDeploy,
    lambdas: HandlersAsLambda,
) -> None:
    deployment = codedeploy.deployment(PREDICT)
    codedeploy.expect(deployment, "Succeeded")
    lambdas.tamper = lambda a: {**a, "predictions": [
        {**p, "probabilities": {k: v + 0.9e-6 for k, v in p["probabilities"].items()}} for p in a["predictions"]
    ]}  # fmt: skip
    assert hook(registry, codedeploy, lambdas).run(event(deployment))["status"] == "Succeeded"


def test_a_version_that_crashes_fails_the_deployment(
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    codedeploy: CodeDeploy,
    lambdas: HandlersAsLambda,
) -> None:
    deployment = codedeploy.deployment(PREDICT)
    codedeploy.expect(deployment, "Failed")

    def crash(answer: Any) -> Any:
        raise ImportError("No module named 'onnxruntime'")

    lambdas.tamper = crash
    result = hook(registry, codedeploy, lambdas).run(event(deployment))
    assert "onnxruntime" in result["checks"][0]["problems"][0]


def test_without_a_champion_the_no_champion_answer_passes(
    registry: ModelRegistry, codedeploy: CodeDeploy, lambdas: HandlersAsLambda
) -> None:
    deployment = codedeploy.deployment(PREDICT)
    codedeploy.expect(deployment, "Succeeded")
    assert hook(registry, codedeploy, lambdas).run(event(deployment))["status"] == "Succeeded"


@pytest.mark.parametrize("kind", [FEEDBACK, MONITOR])
def test_feedback_and_monitor_must_refuse_an_invalid_event(
    registry: ModelRegistry,
    binary_champion: dict[str, Any],
    codedeploy: CodeDeploy,
    lambdas: HandlersAsLambda,
    kind: str,
) -> None:
    good = codedeploy.deployment(kind)
    codedeploy.expect(good, "Succeeded")
    assert hook(registry, codedeploy, lambdas).run(event(good))["status"] == "Succeeded"
    assert registry._s3.list_objects_v2(Bucket=BUCKET, Prefix="feedback/").get("KeyCount") == 0
    # A version that accepts anything (answers instead of refusing) is stopped.
    lambdas.functions[NAMES[kind]] = _Accepting()  # type: ignore[assignment]
    bad = codedeploy.moto.create_deployment(
        applicationName=f"app-{kind}",
        deploymentGroupName="live",
        revision=codedeploy.moto.get_deployment(deploymentId=good)["deploymentInfo"]["revision"],
    )["deploymentId"]
    codedeploy.expect(bad, "Failed")
    result = hook(registry, codedeploy, lambdas).run(event(bad))
    assert "must be refused with errorType InvalidInput" in result["checks"][0]["problems"][0]


class _Accepting:
    def invoke(self, event: Any) -> Any:
        return {"accepted": 1}


def test_a_deployment_of_another_function_fails(
    registry: ModelRegistry, codedeploy: CodeDeploy, lambdas: HandlersAsLambda
) -> None:
    deployment = codedeploy.deployment(PREDICT)
    codedeploy.expect(deployment, "Failed")
    check = PreTrafficCheck(
        functions={FEEDBACK: "something-else"},
        registry=registry,
        model_name="churn",
        codedeploy_client=codedeploy,
        lambda_client=lambdas,
    )
    assert check.run(event(deployment))["problems"] == [
        "the deployment names no function this hook knows"
    ]


def test_probe_rows_come_from_the_training_baseline(
    registry: ModelRegistry, binary_champion: dict[str, Any]
) -> None:
    schema = ModelSchema.from_metadata(binary_champion)
    typical, missing = probe_instances(schema, binary_champion["baseline"])
    features = binary_champion["baseline"]["features"]
    assert set(typical) == set(schema.feature_names) == set(missing)
    assert typical["tenure_months"] == pytest.approx(features["tenure_months"]["mean"], abs=1e-6)
    shares = features["plan"]["category_shares"]
    assert typical["plan"] == max(shares, key=shares.get)
    # The second row leaves out exactly the optional features (a required one is a 400).
    optional = {f.name for f in schema.features if not f.required}
    assert optional == {"total_charges", "support_calls", "age", "contract", "payment_method"}
    assert {name for name, v in missing.items() if v is None} == optional
    assert {k: v for k, v in missing.items() if k not in optional} == {
        k: v for k, v in typical.items() if k not in optional
    }


def test_a_model_without_optional_features_is_probed_with_one_complete_row() -> None:
    schema = ModelSchema(
        features=(FeatureSpec("a", FeatureKind.NUMERIC, required=True),), task=Task.REGRESSION
    )
    assert probe_instances(schema, {"features": {"a": {"mean": 2.5}}}) == [{"a": 2.5}]
