"""The stack's state machines on embedded AWS, from their own definition files.

template.yaml's `AWS::Serverless::StateMachine` resources name a definition file
(DefinitionUri) and its substitutions (DefinitionSubstitutions, `${Name}` in the file); SAM
substitutes them at deploy time. The same file with the same substitutions resolved against
the local stack is created in moto, whose Step Functions interpreter (a port of LocalStack's)
executes it: the local run and the deployed one run one definition.
"""

from __future__ import annotations

import json
import re
from typing import Any

import boto3

from embedded_aws.template import REPO_ROOT, load_template, resolve, resource
from modelops import workflows

STATE_MACHINE_TYPE = "AWS::Serverless::StateMachine"
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def definition(
    logical_id: str, refs: dict[str, Any], template: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The state machine's definition with its DefinitionSubstitutions applied, as SAM does."""
    doc = template or load_template()
    props = resource(logical_id, doc)["Properties"]
    text = (REPO_ROOT / props["DefinitionUri"]).read_text()
    values = {
        k: str(v) for k, v in resolve(props.get("DefinitionSubstitutions", {}), refs, doc).items()
    }

    def substitute(match: re.Match[str]) -> str:
        try:
            return values[match[1]]
        except KeyError:
            raise KeyError(
                f"{props['DefinitionUri']}: ${{{match[1]}}} is not in {logical_id}'s "
                "DefinitionSubstitutions"
            ) from None

    parsed: dict[str, Any] = json.loads(_SUBSTITUTION.sub(substitute, text))
    return parsed


def create_state_machine(
    logical_id: str, refs: dict[str, Any], name: str, template: dict[str, Any] | None = None
) -> str:
    """Create the state machine in moto; returns its ARN. Its role is a stand-in (moto does
    not evaluate IAM): the template's Policies are checked by cfn-lint and checkov instead."""
    doc = template or load_template()
    props = resolve(
        {k: v for k, v in resource(logical_id, doc)["Properties"].items() if k == "Type"}, refs, doc
    )
    account = refs.get("AWS::AccountId", "123456789012")
    sfn = boto3.client("stepfunctions")
    arn: str = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition(logical_id, refs, doc)),
        roleArn=f"arn:aws:iam::{account}:role/{name}-role",
        type=props.get("Type", "STANDARD"),
    )["stateMachineArn"]
    return arn


def run_execution(
    state_machine_arn: str, execution_input: dict[str, Any], *, timeout: float = 300.0
) -> Any:
    """StartExecution and wait for its end: its output, or modelops.workflows.ExecutionFailedError."""
    sfn = boto3.client("stepfunctions")
    arn = workflows.start(sfn, state_machine_arn, execution_input)
    return workflows.wait(sfn, arn, timeout=timeout, poll_seconds=0.1)
