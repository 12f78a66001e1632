"""Every state machine definition file parses in the interpreter that runs it locally, with
its substitutions resolved as SAM resolves them; the check fails on a broken definition."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from embedded_aws.server import MOTO_CONFIG
from embedded_aws.state_machines import STATE_MACHINE_TYPE, definition
from embedded_aws.template import load_template

REFS = {
    "BatchScoringFunction.Arn": "arn:aws:lambda:us-east-1:123456789012:function:scoring",
    "MonitorFunction.Alias": "arn:aws:lambda:us-east-1:123456789012:function:monitor:live",
    "AWS::StackName": "s",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
}
STATE_MACHINES = sorted(
    k for k, r in load_template()["Resources"].items() if r["Type"] == STATE_MACHINE_TYPE
)


def _create(definition_doc: dict[str, Any]) -> None:
    boto3.client("stepfunctions").create_state_machine(
        name="check",
        definition=json.dumps(definition_doc),
        roleArn="arn:aws:iam::123456789012:role/r",
    )


def test_the_template_declares_the_state_machines() -> None:
    assert {"BatchScoringStateMachine", "MonitorStateMachine"} <= set(STATE_MACHINES)


@pytest.mark.parametrize("logical_id", STATE_MACHINES)
def test_definition_parses_with_its_substitutions(logical_id: str) -> None:
    doc = definition(logical_id, REFS)
    assert "${" not in json.dumps(doc)
    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        _create(doc)
        broken = json.loads(json.dumps(doc))
        broken["States"][broken["StartAt"]]["Type"] = "Taskk"
        with pytest.raises(ClientError, match=r"ASLParserException|Invalid"):
            _create(broken)


def test_a_placeholder_without_a_substitution_is_named() -> None:
    doc = copy.deepcopy(load_template())  # the loaded template is cached: never change it
    doc["Resources"]["BatchScoringStateMachine"]["Properties"]["DefinitionSubstitutions"] = {}
    with pytest.raises(KeyError, match=r"\$\{BatchScoringFunctionArn\} is not in"):
        definition("BatchScoringStateMachine", REFS, doc)
