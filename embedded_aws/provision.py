"""Create the stack's resources on embedded AWS as template.yaml declares them.

Only what the local loop uses, each with the template's own settings (read from the
template, not repeated here), so local runs exercise the configuration that deploys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from embedded_aws.state_machines import STATE_MACHINE_TYPE, create_state_machine
from embedded_aws.template import (
    Tagged,
    condition_holds,
    function_environment,
    load_template,
    resolve,
    resource,
)

STACK_NAME = "modelops-local"


@dataclass(frozen=True)
class LocalStack:
    """What provision_stack created: `refs` holds what CloudFormation's !Ref and !GetAtt
    give for each resource (keys "LogicalId" and "LogicalId.Attribute"), so any value of
    the template (function environments, job definitions) resolves against the local stack."""

    name: str
    refs: dict[str, Any]
    created: tuple[str, ...]
    not_created: tuple[str, ...]
    # The AWS endpoint the stack lives on (moto's server), when not AWS itself.
    endpoint_url: str | None = None

    @property
    def bucket(self) -> str:
        return str(self.refs["ModelOpsBucket"])

    def ref(self, logical_id: str) -> str:
        try:
            return str(self.refs[logical_id])
        except KeyError:
            raise KeyError(
                f"the local stack has no {logical_id!r}: is it declared in template.yaml?"
            ) from None

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The function's environment as Lambda would set it (Globals merged, values resolved)."""
        doc = load_template()
        return {
            k: str(v)
            for k, v in resolve(function_environment(logical_id, doc), self.refs, doc).items()
        }


def create_bucket(s3: Any, bucket: str, template: dict[str, Any] | None = None) -> str:
    """ModelOpsBucket with its versioning, encryption, public access block and lifecycle.

    Its bucket policy is not applied: moto stores bucket policies but does not evaluate them
    (tests/registry/test_bucket_policy.py evaluates the template's policy instead)."""
    doc = template or load_template()
    # Server access logging names another bucket, and moto delivers no access logs.
    declared = {
        k: v
        for k, v in resource("ModelOpsBucket", doc)["Properties"].items()
        if k != "LoggingConfiguration"
    }
    props = resolve(declared, {}, doc)
    s3.create_bucket(Bucket=bucket)
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"]
        )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                # CloudFormation says ServerSideEncryptionByDefault where the S3 API says Apply...
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    "BucketKeyEnabled": rule.get("BucketKeyEnabled", False),
                }
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
    )
    rules = []
    for rule in props["LifecycleConfiguration"]["Rules"]:
        converted: dict[str, Any] = {
            "ID": rule["Id"],
            "Status": rule["Status"],
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if "ExpirationInDays" in rule:
            converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            days = int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
            converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
        if "AbortIncompleteMultipartUpload" in rule:
            converted["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
        rules.append(converted)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    return bucket


def create_capture_stream(
    firehose: Any,
    bucket: str,
    *,
    name: str = f"{STACK_NAME}-CaptureDeliveryStream",
    template: dict[str, Any] | None = None,
) -> str:
    """CaptureDeliveryStream delivering to `bucket` with template.yaml's prefix, error prefix,
    buffering and compression, as deployed with CaptureSink=firehose (the sink local runs use:
    moto writes each put straight to S3; the log sink's CloudWatch Logs path is not simulated)."""
    doc = template or load_template()
    refs = {
        "CaptureSink": "firehose",
        "ModelOpsBucket": bucket,
        "ModelOpsBucket.Arn": f"arn:aws:s3:::{bucket}",
        "CaptureDeliveryRole.Arn": "arn:aws:iam::123456789012:role/capture-delivery",
        "CaptureDeliveryLogGroup": f"/aws/kinesisfirehose/{name}",
        "AWS::StackName": STACK_NAME,
    }
    props = resolve(resource("CaptureDeliveryStream", doc)["Properties"], refs, doc)
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType=props["DeliveryStreamType"],
        ExtendedS3DestinationConfiguration=props["ExtendedS3DestinationConfiguration"],
    )
    return name


# ---------------------------------------------------------------- the whole stack

# Created in this order so every !Ref / !GetAtt a resource uses exists before it.
_CREATION_ORDER = (
    "AWS::IAM::Role",
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::SecurityGroup",
    "AWS::Logs::LogGroup",
    "AWS::ECR::Repository",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::Batch::ComputeEnvironment",
    "AWS::Batch::JobQueue",
    "AWS::Batch::JobDefinition",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
)
# Lambda functions are not created (moto does not run their code; tests and the demo call the
# handlers directly), but their names and ARNs are known so rules can target them.
_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
# Services moto's EventBridge delivers matching events to.
_MOTO_EVENT_TARGETS = {"sqs", "logs", "events"}
# Keys of these CloudFormation maps are user data, not property names to convert.
_USER_KEYED = {"Parameters", "Options", "Tags"}


def provision_stack(
    *,
    stack_name: str = STACK_NAME,
    template: dict[str, Any] | None = None,
    bucket_name: str | None = None,
    parameters: Mapping[str, str] | None = None,
) -> LocalStack:
    """Create, on the AWS endpoint the environment points at (moto), the resources of
    template.yaml that the local loop uses, with the template's settings."""
    doc = template or load_template()
    sts = boto3.client("sts")
    session = boto3.session.Session()
    account = sts.get_caller_identity()["Account"]
    region = session.region_name or "us-east-1"
    refs: dict[str, Any] = {
        "AWS::StackName": stack_name,
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    refs.update(parameter_overrides(doc, parameters or {}))
    resources: dict[str, dict[str, Any]] = doc["Resources"]
    for logical_id, res in resources.items():
        if res["Type"] in _FUNCTION_TYPES:
            explicit = res.get("Properties", {}).get("FunctionName")  # may be a !Sub
            name = str(resolve(explicit, refs, doc)) if explicit else f"{stack_name}-{logical_id}"
            refs[logical_id] = name
            refs[f"{logical_id}.Arn"] = f"arn:aws:lambda:{region}:{account}:function:{name}"
            alias = res.get("Properties", {}).get("AutoPublishAlias")
            if alias:  # SAM's <Function>.Alias: the published alias's ARN
                refs[f"{logical_id}.Alias"] = f"{refs[f'{logical_id}.Arn']}:{alias}"

    creators = {
        "AWS::IAM::Role": _create_role,
        "AWS::EC2::VPC": _create_vpc,
        "AWS::EC2::Subnet": _create_subnet,
        "AWS::EC2::SecurityGroup": _create_security_group,
        "AWS::Logs::LogGroup": _create_log_group,
        "AWS::ECR::Repository": _create_repository,
        "AWS::S3::Bucket": _create_bucket_resource,
        "AWS::SQS::Queue": _create_queue,
        "AWS::SNS::Topic": _create_topic,
        "AWS::KinesisFirehose::DeliveryStream": _create_delivery_stream,
        "AWS::Batch::ComputeEnvironment": _create_compute_environment,
        "AWS::Batch::JobQueue": _create_job_queue,
        "AWS::Batch::JobDefinition": _create_job_definition,
        "AWS::Events::EventBus": _create_event_bus,
        "AWS::Events::Rule": _create_rule,
    }
    ctx = _Context(
        doc=doc,
        refs=refs,
        stack_name=stack_name,
        region=region,
        account=account,
        bucket_name=bucket_name,
    )
    created: list[str] = []
    skipped = {
        logical_id
        for logical_id, res in resources.items()
        if "Condition" in res and not condition_holds(res["Condition"], refs, doc)
    }
    for resource_type in _CREATION_ORDER:
        for logical_id, res in resources.items():
            if res["Type"] == resource_type and logical_id not in skipped:
                creators[resource_type](ctx, logical_id, res.get("Properties", {}))
                created.append(logical_id)
    for logical_id, res in resources.items():
        if res["Type"] == "AWS::Serverless::Function" and logical_id not in skipped:
            for event_id, event in res.get("Properties", {}).get("Events", {}).items():
                if event["Type"] in ("Schedule", "EventBridgeRule"):
                    _create_function_rule(ctx, logical_id, event_id, event)
                    created.append(f"{logical_id}.Events.{event_id}")
    for action in ctx.finally_do:
        action()
    for logical_id, res in resources.items():
        if res["Type"] == STATE_MACHINE_TYPE and logical_id not in skipped:
            explicit = res.get("Properties", {}).get("Name")
            name = ctx.physical_name(logical_id, resolve(explicit, refs, doc) if explicit else None)
            refs[logical_id] = create_state_machine(logical_id, refs, name, doc)
            refs[f"{logical_id}.Name"] = name
            created.append(logical_id)
    not_created = tuple(
        logical_id
        for logical_id, res in resources.items()
        if logical_id in skipped
        or (
            res["Type"] not in _CREATION_ORDER
            and res["Type"] not in _FUNCTION_TYPES
            and res["Type"] != STATE_MACHINE_TYPE
        )
    ) + tuple(ctx.undeliverable_targets)
    return LocalStack(
        name=stack_name,
        refs=refs,
        created=tuple(created),
        not_created=not_created,
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
    )


def parameter_overrides(doc: dict[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Like `sam deploy --parameter-overrides`: only declared parameters, only allowed values."""
    declared = doc.get("Parameters", {})
    for name, value in overrides.items():
        if name not in declared:
            raise KeyError(f"template.yaml declares no parameter {name!r}")
        spec = declared[name]
        allowed = spec.get("AllowedValues")
        if allowed is not None and str(value) not in [str(a) for a in allowed]:
            raise ValueError(f"parameter {name} must be one of {allowed}, got {value!r}")
        if spec.get("Type") == "Number":
            number = float(value)  # ValueError names the value
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise ValueError(f"parameter {name} must be >= {spec['MinValue']}, got {value!r}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise ValueError(f"parameter {name} must be <= {spec['MaxValue']}, got {value!r}")
    return {name: str(value) for name, value in overrides.items()}


@dataclass
class _Context:
    doc: dict[str, Any]
    refs: dict[str, Any]
    stack_name: str
    region: str
    account: str
    bucket_name: str | None
    finally_do: list[Callable[[], None]] = field(default_factory=list)
    undeliverable_targets: list[str] = field(default_factory=list)

    def props(self, properties: dict[str, Any]) -> dict[str, Any]:
        resolved: dict[str, Any] = resolve(properties, self.refs, self.doc)
        return resolved

    def physical_name(self, logical_id: str, explicit: Any = None) -> str:
        # CloudFormation's generated names are <stack>-<logical id>-<random>; stable here.
        return str(explicit) if explicit else f"{self.stack_name}-{logical_id}"[:64]


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase property names to the camelCase of the Batch API."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, dict):
        return {
            k[:1].lower() + k[1:]: (v if k in _USER_KEYED else _camel(v)) for k, v in value.items()
        }
    return value


def _create_role(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    iam = boto3.client("iam")
    name = ctx.physical_name(logical_id, properties.get("RoleName"))
    props = ctx.props({k: v for k, v in properties.items() if k != "Policies"})
    role = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"])
    )
    ctx.refs[logical_id] = name
    ctx.refs[f"{logical_id}.Arn"] = role["Role"]["Arn"]

    def put_policies() -> None:  # they name resources created later
        policies: list[dict[str, Any]] = resolve(properties.get("Policies", []), ctx.refs, ctx.doc)
        for policy in policies:
            iam.put_role_policy(
                RoleName=name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )

    ctx.finally_do.append(put_policies)


def _create_vpc(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    vpc = boto3.client("ec2").create_vpc(CidrBlock=ctx.props(properties)["CidrBlock"])["Vpc"]
    ctx.refs[logical_id] = vpc["VpcId"]


def _create_subnet(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = ctx.props({k: v for k, v in properties.items() if k != "AvailabilityZone"})
    zone = properties.get("AvailabilityZone")
    # `!Select [i, !GetAZs ""]`: the i-th zone of the region
    index = int(zone.value[0]) if isinstance(zone, Tagged) and zone.tag == "Select" else 0
    subnet = boto3.client("ec2").create_subnet(
        VpcId=props["VpcId"],
        CidrBlock=props["CidrBlock"],
        AvailabilityZone=f"{ctx.region}{'abcdef'[index]}",
    )["Subnet"]
    ctx.refs[logical_id] = subnet["SubnetId"]


def _create_security_group(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = ctx.props(properties)
    group = boto3.client("ec2").create_security_group(
        GroupName=ctx.physical_name(logical_id, props.get("GroupName")),
        Description=props["GroupDescription"],
        VpcId=props["VpcId"],
    )
    ctx.refs[logical_id] = group["GroupId"]
    ctx.refs[f"{logical_id}.GroupId"] = group["GroupId"]


def _create_log_group(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = ctx.props(properties)
    name = ctx.physical_name(logical_id, props.get("LogGroupName"))
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=name)
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    ctx.refs[logical_id] = name
    ctx.refs[f"{logical_id}.Arn"] = f"arn:aws:logs:{ctx.region}:{ctx.account}:log-group:{name}"


def _create_repository(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    name = ctx.physical_name(logical_id, properties.get("RepositoryName")).lower()
    repo = boto3.client("ecr").create_repository(repositoryName=name)["repository"]
    ctx.refs[logical_id] = name
    ctx.refs[f"{logical_id}.Arn"] = repo["repositoryArn"]
    ctx.refs[f"{logical_id}.RepositoryUri"] = repo["repositoryUri"]


def _create_bucket_resource(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    if logical_id == "AccessLogsBucket":
        # ModelOpsBucket's server access logs go there on AWS; moto writes none. An empty
        # bucket of the template's name is all a local run needs.
        name = ctx.physical_name(logical_id).lower()
        boto3.client("s3").create_bucket(Bucket=name)
        ctx.refs[logical_id] = name
        ctx.refs[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name}"
        return
    if logical_id != "ModelOpsBucket":
        # The local stack creates each bucket with ModelOpsBucket's settings (create_bucket);
        # a second bucket in the template needs its own settings reader first.
        raise ValueError(f"provision_stack only knows the contract's bucket, not {logical_id}")
    name = ctx.bucket_name or ctx.physical_name(logical_id).lower()
    create_bucket(boto3.client("s3"), name, ctx.doc)
    ctx.refs[logical_id] = name
    ctx.refs[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name}"


def _create_queue(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = ctx.props(properties)
    name = ctx.physical_name(logical_id, props.get("QueueName"))
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    ctx.refs[logical_id] = url
    ctx.refs[f"{logical_id}.QueueName"] = name
    ctx.refs[f"{logical_id}.Arn"] = f"arn:aws:sqs:{ctx.region}:{ctx.account}:{name}"


def _create_topic(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    name = ctx.physical_name(logical_id, properties.get("TopicName"))
    arn = boto3.client("sns").create_topic(Name=name)["TopicArn"]
    ctx.refs[logical_id] = arn
    ctx.refs[f"{logical_id}.TopicName"] = name


def _create_delivery_stream(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = ctx.props(properties)
    name = ctx.physical_name(logical_id, props.get("DeliveryStreamName"))
    kwargs: dict[str, Any] = {
        "DeliveryStreamName": name,
        "DeliveryStreamType": props.get("DeliveryStreamType", "DirectPut"),
    }
    for key in ("ExtendedS3DestinationConfiguration", "S3DestinationConfiguration"):
        if key in props:
            kwargs[key] = props[key]
    boto3.client("firehose").create_delivery_stream(**kwargs)
    ctx.refs[logical_id] = name
    ctx.refs[f"{logical_id}.Arn"] = (
        f"arn:aws:firehose:{ctx.region}:{ctx.account}:deliverystream/{name}"
    )


def _batch_service_role(ctx: _Context) -> str:
    """moto requires a service role where AWS uses Batch's service-linked role; a stand-in."""
    key = "AWS::Batch::ServiceRole"
    if key not in ctx.refs:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "batch.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = boto3.client("iam").create_role(
            RoleName=f"{ctx.stack_name}-batch-service", AssumeRolePolicyDocument=json.dumps(trust)
        )
        ctx.refs[key] = role["Role"]["Arn"]
    return str(ctx.refs[key])


def _create_compute_environment(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = _camel(ctx.props(properties))
    name = ctx.physical_name(logical_id, props.pop("computeEnvironmentName", None))
    resources = props["computeResources"]
    resources["maxvCpus"] = int(resources["maxvCpus"])
    env = boto3.client("batch").create_compute_environment(
        computeEnvironmentName=name,
        type=props["type"],
        state=props.get("state", "ENABLED"),
        computeResources=resources,
        serviceRole=props.get("serviceRole") or _batch_service_role(ctx),
    )
    ctx.refs[logical_id] = env["computeEnvironmentArn"]


def _create_job_queue(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = _camel(ctx.props(properties))
    name = ctx.physical_name(logical_id, props.pop("jobQueueName", None))
    queue = boto3.client("batch").create_job_queue(
        jobQueueName=name,
        state=props.get("state", "ENABLED"),
        priority=int(props["priority"]),
        computeEnvironmentOrder=[
            {"order": int(o["order"]), "computeEnvironment": o["computeEnvironment"]}
            for o in props["computeEnvironmentOrder"]
        ],
    )
    ctx.refs[logical_id] = queue["jobQueueArn"]
    ctx.refs[f"{logical_id}.JobQueueName"] = name


def _create_job_definition(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = _camel(ctx.props(properties))
    name = ctx.physical_name(logical_id, props.pop("jobDefinitionName", None))
    container = props["containerProperties"]
    for requirement in container.get("resourceRequirements", []):
        requirement["value"] = str(requirement["value"])
    kwargs: dict[str, Any] = {
        "jobDefinitionName": name,
        "type": props["type"],
        "containerProperties": container,
        "parameters": {k: str(v) for k, v in props.get("parameters", {}).items()},
    }
    for key in ("platformCapabilities", "propagateTags", "retryStrategy", "tags"):
        if key in props:
            kwargs[key] = props[key]
    if "timeout" in props:
        kwargs["timeout"] = {
            "attemptDurationSeconds": int(props["timeout"]["attemptDurationSeconds"])
        }
    definition = boto3.client("batch").register_job_definition(**kwargs)
    ctx.refs[logical_id] = definition["jobDefinitionArn"]
    ctx.refs[f"{logical_id}.JobDefinitionName"] = name


def _create_event_bus(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = ctx.props(properties)
    name = ctx.physical_name(logical_id, props.get("Name"))
    bus = boto3.client("events").create_event_bus(Name=name)
    ctx.refs[logical_id] = name
    ctx.refs[f"{logical_id}.Name"] = name
    ctx.refs[f"{logical_id}.Arn"] = bus["EventBusArn"]


def _put_rule(ctx: _Context, name: str, rule: dict[str, Any], targets: list[dict[str, Any]]) -> str:
    events = boto3.client("events")
    kwargs: dict[str, Any] = {"Name": name, "State": rule.get("State", "ENABLED")}
    if "ScheduleExpression" in rule:
        kwargs["ScheduleExpression"] = rule["ScheduleExpression"]
    if "EventPattern" in rule:
        pattern = rule["EventPattern"]
        kwargs["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if rule.get("EventBusName"):
        kwargs["EventBusName"] = rule["EventBusName"]
    if rule.get("Description"):
        kwargs["Description"] = rule["Description"]
    arn: str = events.put_rule(**kwargs)["RuleArn"]
    # moto delivers events only to these; any other target (SNS, Lambda) fails every
    # PutEvents that reaches it (and moto lets schedule rules match every event), so it is
    # left out and listed in LocalStack.not_created.
    deliverable = [t for t in targets if t["Arn"].split(":")[2] in _MOTO_EVENT_TARGETS]
    ctx.undeliverable_targets += [
        f"{name}.Targets.{t['Id']}" for t in targets if t not in deliverable
    ]
    targets = deliverable
    if targets:
        bus = {"EventBusName": kwargs["EventBusName"]} if "EventBusName" in kwargs else {}
        events.put_targets(Rule=name, Targets=targets, **bus)  # type: ignore[arg-type]
    return arn


def _create_rule(ctx: _Context, logical_id: str, properties: dict[str, Any]) -> None:
    props = ctx.props(properties)
    name = ctx.physical_name(logical_id, props.get("Name"))
    targets = [
        {
            k: (v if isinstance(v, str) or k == "BatchParameters" else json.dumps(v))
            for k, v in t.items()
        }
        for t in props.get("Targets", [])
    ]
    ctx.refs[f"{logical_id}.Arn"] = _put_rule(ctx, name, props, targets)
    ctx.refs[logical_id] = name


def _create_function_rule(
    ctx: _Context, function_id: str, event_id: str, event: dict[str, Any]
) -> None:
    """A SAM function's Schedule / EventBridgeRule event: the rule that invokes the function."""
    props = ctx.props(event.get("Properties", {}))
    name = ctx.physical_name(f"{function_id}{event_id}", props.get("Name"))
    rule: dict[str, Any] = {
        "State": props.get("State", "DISABLED" if props.get("Enabled") is False else "ENABLED")
    }
    if event["Type"] == "Schedule":
        rule["ScheduleExpression"] = props["Schedule"]
    else:
        rule["EventPattern"] = props["Pattern"]
        rule["EventBusName"] = props.get("EventBusName")
    target: dict[str, Any] = {"Id": function_id, "Arn": ctx.refs[f"{function_id}.Arn"]}
    if "Input" in props:
        target["Input"] = props["Input"]
    ctx.refs[f"{function_id}{event_id}"] = name
    ctx.refs[f"{function_id}{event_id}.Arn"] = _put_rule(ctx, name, rule, [target])
