"""What template.yaml declares for serving: the API's key and usage plan, least privilege,
the capture path (Firehose, subscription filter) and error bodies API Gateway itself sends."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from embedded_aws.template import (
    Tagged,
    condition_holds,
    load_template,
    parameter_default,
    resolve,
    resource,
)
from modelops.capture import encode_record, prediction_record
from modelops.serving.settings import ServingSettings
from tests.serving.conftest import template_environment


def props(logical_id: str) -> dict[str, Any]:
    result: dict[str, Any] = resource(logical_id)["Properties"]
    return result


def test_api_requires_an_api_key_by_default_with_a_throttling_usage_plan() -> None:
    auth = props("ModelOpsApi")["Auth"]
    assert auth["ApiKeyRequired"] == Tagged("If", ["ApiKeyRequired", True, False])
    assert parameter_default("ApiAnonymousAccess") == "false"
    assert condition_holds("ApiKeyRequired", {})
    assert not condition_holds("ApiKeyRequired", {"ApiAnonymousAccess": "true"})
    # SAM alone would read the !If as "always true": LanguageExtensions resolves it first.
    assert load_template()["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
    plan = auth["UsagePlan"]
    assert plan["CreateUsagePlan"] == "PER_API"
    assert set(plan["Throttle"]) == {"RateLimit", "BurstLimit"}
    assert set(plan["Quota"]) == {"Limit", "Period"}
    assert props("ModelOpsApi")["StageName"] == Tagged("Ref", "Stage")


def test_predict_function_is_wired_to_post_predict() -> None:
    function = props("PredictFunction")
    assert (function["CodeUri"], function["Handler"]) == (
        "functions/predict/",
        "app.lambda_handler",
    )
    events = function["Events"]
    assert {name: event["Type"] for name, event in events.items()} == {
        "Predict": "Api",
        "ModelCard": "Api",
    }
    assert events["Predict"]["Properties"] == {
        "RestApiId": Tagged("Ref", "ModelOpsApi"),
        "Path": "/predict",
        "Method": "post",
    }
    assert events["ModelCard"]["Properties"] == {
        "RestApiId": Tagged("Ref", "ModelOpsApi"),
        "Path": "/models/{name}",
        "Method": "get",
    }


def test_concurrency_parameters_of_zero_mean_none() -> None:
    function = props("PredictFunction")
    assert function["ReservedConcurrentExecutions"].value[0] == "HasPredictReservedConcurrency"
    assert function["ProvisionedConcurrencyConfig"].value[0] == "HasPredictProvisionedConcurrency"
    assert not condition_holds("HasPredictReservedConcurrency", {})
    assert condition_holds("HasPredictReservedConcurrency", {"PredictReservedConcurrency": "5"})
    assert not condition_holds("HasPredictProvisionedConcurrency", {})


def test_function_reads_only_its_models_and_writes_only_its_capture_and_dead_letters() -> None:
    (policy,) = props("PredictFunction")["Policies"]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    refs = {"ModelOpsBucket.Arn": "arn:aws:s3:::b", "CaptureDeliveryStream.Arn": "arn:stream"}
    assert resolve(statements["ReadServedModel"], refs) == {
        "Sid": "ReadServedModel",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/models/churn/*",
    }
    assert statements["MissingKeysAre404"]["Action"] == "s3:ListBucket"
    assert resolve(statements["CaptureToFirehose"], refs)["Resource"] == "arn:stream"
    # The one S3 write: undelivered captures into the dead-letter prefix, nowhere else.
    assert resolve(statements["SpillUndeliveredCaptures"], refs) == {
        "Sid": "SpillUndeliveredCaptures",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::b/capture-dlq/churn/*",
    }
    others = [s["Action"] for s in policy["Statement"] if s["Sid"] != "SpillUndeliveredCaptures"]
    assert not any(("Put" in a and a.startswith("s3")) or a.endswith("*") for a in others)


def test_template_environment_is_valid_serving_configuration() -> None:
    settings = ServingSettings.from_env(template_environment())
    assert settings.max_batch_rows == 1000
    assert settings.capture_sink == "log"
    assert settings.capture_sample_rate == 1.0
    assert settings.pinned_version is None
    assert settings.model_alias == "champion"


def test_capture_stream_delivers_under_capture_prefix_and_decompresses_log_batches() -> None:
    s3 = resolve(
        props("CaptureDeliveryStream")["ExtendedS3DestinationConfiguration"],
        {
            "ModelOpsBucket.Arn": "arn:aws:s3:::b",
            "CaptureDeliveryRole.Arn": "r",
            "CaptureDeliveryLogGroup": "g",
        },
    )
    assert s3["Prefix"] == "capture/churn/"  # Firehose appends yyyy/MM/dd/HH/
    assert "!{firehose:error-output-type}" in s3["ErrorOutputPrefix"]
    assert not s3["ErrorOutputPrefix"].startswith("capture/churn/")
    processors = [p["Type"] for p in s3["ProcessingConfiguration"]["Processors"]]
    assert processors == ["Decompression", "CloudWatchLogProcessing"]
    direct = resolve(
        props("CaptureDeliveryStream")["ExtendedS3DestinationConfiguration"],
        {
            "ModelOpsBucket.Arn": "b",
            "CaptureDeliveryRole.Arn": "r",
            "CaptureDeliveryLogGroup": "g",
            "CaptureSink": "firehose",
        },
    )
    assert "ProcessingConfiguration" not in direct  # direct puts are plain JSON lines


def test_subscription_filter_selects_capture_lines_of_the_predict_log_group() -> None:
    subscription = resource("CaptureSubscriptionFilter")
    assert subscription["Condition"] == "CaptureViaLogs"
    assert subscription["Properties"]["LogGroupName"] == Tagged("Ref", "PredictLogGroup")
    assert props("PredictFunction")["LoggingConfig"]["LogGroup"] == Tagged("Ref", "PredictLogGroup")
    assert props("PredictLogGroup")["RetentionInDays"] == Tagged("Ref", "PredictLogRetentionDays")
    # Every JSON field the pattern tests is in a captured line, with the tested value.
    pattern = subscription["Properties"]["FilterPattern"]
    line = json.loads(
        encode_record(
            prediction_record(
                inference_id="i",
                inference_time="t",
                request_id="r",
                source="api",
                model_name="churn",
                model_version=1,
                features={},
                output={},
            )
        )
    )
    tested = re.findall(r'\$\.([\w.]+) = "([^"]*)"', pattern)
    assert tested == [("eventVersion", "1"), ("eventMetadata.eventId", "*")], pattern
    for path, expected in tested:
        value: Any = line
        for part in path.split("."):
            value = value[part]
        assert expected in ("*", value)
        assert isinstance(value, str) and value  # "*" matches a present string only


@pytest.mark.parametrize(
    ("response_type", "status"),
    [
        ("MISSING_AUTHENTICATION_TOKEN", "404"),
        ("INVALID_API_KEY", "403"),
        ("REQUEST_TOO_LARGE", "413"),
    ],
)
def test_api_gateway_errors_keep_the_contract_error_shape(response_type: str, status: str) -> None:
    responses = props("ModelOpsApi")["GatewayResponses"]
    response = responses[response_type]
    assert response["StatusCode"] == status
    body = json.loads(
        re.sub(r"\$context\.[\w.]+", "x", response["ResponseTemplates"]["application/json"])
    )
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "details"}
    for default in ("DEFAULT_4XX", "DEFAULT_5XX"):
        template = responses[default]["ResponseTemplates"]["application/json"]
        # $context.error.messageString is already a quoted JSON string.
        assert json.loads(
            template.replace("$context.error.messageString", '"m"').replace(
                "$context.error.responseType", "T"
            )
        )
