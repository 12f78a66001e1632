"""Starting a state machine's execution and waiting for its end (Step Functions)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from modelops.errors import ModelOpsError

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class ExecutionFailedError(ModelOpsError):
    """The execution ended without success; `description` is its DescribeExecution."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.description = description
        super().__init__(
            f"execution {description.get('name')} {description.get('status')}: "
            f"{description.get('error')}: {description.get('cause')}"
        )


def start(sfn: Any, state_machine_arn: str, execution_input: Any, name: str | None = None) -> str:
    """StartExecution; the name is a UUID when none is given (as AWS names it; moto would
    name every unnamed execution "None")."""
    arn: str = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        input=json.dumps(execution_input),
        name=name or str(uuid.uuid4()),
    )["executionArn"]
    return arn


def wait(
    sfn: Any,
    execution_arn: str,
    *,
    timeout: float,
    poll_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """The execution's output once it SUCCEEDED; ExecutionFailedError otherwise, TimeoutError
    when it still runs after `timeout` seconds (it keeps running: StopExecution ends it)."""
    deadline = time.monotonic() + timeout
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] in TERMINAL:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still running after {timeout:.0f} s")
        sleep(poll_seconds)
    if description["status"] != "SUCCEEDED":
        raise ExecutionFailedError(description)
    return json.loads(description.get("output") or "null")
