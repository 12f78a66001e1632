"""provision_stack creates the template's resources with the template's own settings."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from embedded_aws.provision import LocalStack, provision_stack
from embedded_aws.template import load_template, parameter_default, resource


def test_bucket_carries_the_templates_encryption_lifecycle_and_public_access_block(
    local_stack: LocalStack,
) -> None:
    s3 = boto3.client("s3")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=local_stack.bucket)["Rules"]
    declared = resource("ModelOpsBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {r["ID"] for r in rules} == {r["Id"] for r in declared}
    capture = next(r for r in rules if r["Filter"]["Prefix"] == "capture/")
    assert capture["Expiration"]["Days"] == parameter_default("CaptureRetentionDays")
    encryption = s3.get_bucket_encryption(Bucket=local_stack.bucket)[
        "ServerSideEncryptionConfiguration"
    ]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=local_stack.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


def test_job_definition_carries_the_templates_command_parameters_and_environment(
    local_stack: LocalStack,
) -> None:
    declared = resource("TrainingJobDefinition")["Properties"]
    definition = boto3.client("batch").describe_job_definitions(
        jobDefinitions=[local_stack.ref("TrainingJobDefinition")]
    )["jobDefinitions"][0]
    container = definition["containerProperties"]
    assert container["command"] == declared["ContainerProperties"]["Command"]
    assert definition["parameters"] == {"model_name": parameter_default("ModelName")}
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["MODELOPS_BUCKET"] == local_stack.bucket
    assert env["MODEL_NAME"] == parameter_default("ModelName")
    assert definition["platformCapabilities"] == ["FARGATE"]
    assert definition["timeout"]["attemptDurationSeconds"] == parameter_default(
        "TrainingTimeoutSeconds"
    )
    requirements = {r["type"]: r["value"] for r in container["resourceRequirements"]}
    assert requirements == {
        "VCPU": parameter_default("TrainingVcpus"),
        "MEMORY": str(parameter_default("TrainingMemoryMiB")),
    }
    # the job role's inline policy was created with the template's statements, resolved
    role = local_stack.ref("TrainingJobRole")
    policy = boto3.client("iam").get_role_policy(
        RoleName=role, PolicyName="model-registry-and-training-data"
    )
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    resources = {
        r
        for s in document["Statement"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }
    assert (
        f"arn:aws:s3:::{local_stack.bucket}/models/{parameter_default('ModelName')}/*" in resources
    )


def test_job_queue_is_enabled_and_ordered_on_the_compute_environment(
    local_stack: LocalStack,
) -> None:
    batch = boto3.client("batch")
    queue = batch.describe_job_queues(jobQueues=[local_stack.ref("TrainingJobQueue")])["jobQueues"][
        0
    ]
    assert queue["state"] == "ENABLED"
    assert queue["computeEnvironmentOrder"][0]["computeEnvironment"] == local_stack.ref(
        "TrainingComputeEnvironment"
    )
    env = batch.describe_compute_environments(
        computeEnvironments=[local_stack.ref("TrainingComputeEnvironment")]
    )
    resources = env["computeEnvironments"][0]["computeResources"]
    assert resources["type"] == "FARGATE"
    assert set(resources["subnets"]) == {
        local_stack.ref("TrainingSubnetA"),
        local_stack.ref("TrainingSubnetB"),
    }


def test_every_template_resource_is_created_or_listed_as_not_created(
    local_stack: LocalStack,
) -> None:
    functions = {
        logical_id
        for logical_id, res in load_template()["Resources"].items()
        if res["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")
    }
    accounted = set(local_stack.created) | set(local_stack.not_created) | functions
    assert set(load_template()["Resources"]) <= accounted


def test_function_environment_resolves_against_the_local_stack(local_stack: LocalStack) -> None:
    functions = [
        logical_id
        for logical_id, res in load_template()["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    ]
    for logical_id in functions:
        env = local_stack.function_environment(logical_id)
        assert env["MODELOPS_BUCKET"] == local_stack.bucket
        assert env["MODEL_NAME"] == parameter_default("ModelName")


def test_parameter_overrides_apply_like_sam_deploy_and_are_validated() -> None:
    with mock_aws(config={"batch": {"use_docker": False}}):
        stack = provision_stack(parameters={"TrainingVcpus": "4", "TrainingMemoryMiB": "16384"})
        definition = boto3.client("batch").describe_job_definitions(
            jobDefinitions=[stack.ref("TrainingJobDefinition")]
        )["jobDefinitions"][0]
        requirements = {
            r["type"]: r["value"] for r in definition["containerProperties"]["resourceRequirements"]
        }
        assert requirements == {"VCPU": "4", "MEMORY": "16384"}
        with pytest.raises(ValueError, match="TrainingVcpus must be one of"):
            provision_stack(stack_name="other", parameters={"TrainingVcpus": "3"})
        with pytest.raises(ValueError, match="TrainingTimeoutSeconds must be >= 60"):
            provision_stack(stack_name="other", parameters={"TrainingTimeoutSeconds": "5"})
        with pytest.raises(KeyError, match="NoSuchParameter"):
            provision_stack(stack_name="other", parameters={"NoSuchParameter": "x"})


def test_capture_stream_delivers_under_the_templates_prefix_with_its_buffering(
    local_stack: LocalStack,
) -> None:
    stream = boto3.client("firehose").describe_delivery_stream(
        DeliveryStreamName=local_stack.ref("CaptureDeliveryStream")
    )
    destination = stream["DeliveryStreamDescription"]["Destinations"][0][
        "ExtendedS3DestinationDescription"
    ]
    declared = resource("CaptureDeliveryStream")["Properties"]["ExtendedS3DestinationConfiguration"]
    assert destination["BucketARN"] == f"arn:aws:s3:::{local_stack.bucket}"
    assert destination["Prefix"] == f"capture/{parameter_default('ModelName')}/"
    assert destination["BufferingHints"] == declared["BufferingHints"]
    assert destination["CompressionFormat"] == declared["CompressionFormat"]


def test_capture_stream_puts_land_in_the_capture_prefix(local_stack: LocalStack) -> None:
    boto3.client("firehose").put_record_batch(
        DeliveryStreamName=local_stack.ref("CaptureDeliveryStream"),
        Records=[{"Data": b'{"a": 1}\n'}],
    )
    keys = [
        o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=local_stack.bucket)["Contents"]
    ]
    assert any(k.startswith(f"capture/{parameter_default('ModelName')}/") for k in keys)


def test_rules_carry_the_templates_pattern_and_schedule(local_stack: LocalStack) -> None:
    events = boto3.client("events")
    rule = events.describe_rule(Name=local_stack.ref("RetrainingRequestedRule"))
    assert (
        json.loads(rule["EventPattern"])
        == resource("RetrainingRequestedRule")["Properties"]["EventPattern"]
    )
    schedule = events.describe_rule(Name=local_stack.ref("MonitorFunctionSchedule"))
    assert schedule["ScheduleExpression"] == parameter_default("MonitorSchedule")
    # moto's EventBridge cannot deliver to SNS or Lambda: those targets are left out, and said so
    rule_names = (
        local_stack.ref("RetrainingRequestedRule"),
        local_stack.ref("MonitorFunctionSchedule"),
    )
    assert f"{rule_names[0]}.Targets.alert-topic" in local_stack.not_created
    assert f"{rule_names[1]}.Targets.MonitorFunction" in local_stack.not_created


def test_a_retraining_event_matches_the_rule_and_reaches_a_target(local_stack: LocalStack) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events")
    events.put_targets(
        Rule=local_stack.ref("RetrainingRequestedRule"), Targets=[{"Id": "probe", "Arn": arn}]
    )
    events.put_events(
        Entries=[
            {"Source": "modelops.monitor", "DetailType": "RetrainingRequested", "Detail": "{}"},
            {"Source": "someone.else", "DetailType": "RetrainingRequested", "Detail": "{}"},
        ]
    )
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["source"] for m in messages] == ["modelops.monitor"]
