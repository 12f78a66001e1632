"""`make invoke FUNCTION=MonitorFunction EVENT=events/monitor_window.json`: run any function
of template.yaml on any event file, without Docker (what `sam local invoke` does with it).

The handler runs in this process from its CodeUri, with the function's environment resolved
against a local stack (embedded_aws.lambda_runtime, as `make api` runs it):
- the stack of a running `make api` (described in .modelops-local/stack.json), so the
  function sees the traffic, labels and models that API has: this is how to monitor a
  window you just served, or replay a direct-invocation event against your model;
- otherwise a fresh embedded AWS with the stack provisioned and the saved local registry
  loaded (a function that needs a model then serves its champion).

Prints what the handler returned as JSON on stdout; a handler error is printed as Lambda
reports it ({"errorType", "errorMessage", "stackTrace"}) and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embedded_aws.provision import STACK_NAME, LocalStack, provision_stack
from embedded_aws.template import load_template

EXIT_OK, EXIT_HANDLER_ERROR, EXIT_USAGE = 0, 1, 2


def set_path(event: dict[str, Any], assignment: str) -> None:
    """Apply `a.b.c=value` to the event: the value is JSON when it parses, else a string."""
    path, sep, raw = assignment.partition("=")
    if not sep or not path:
        raise ValueError(f"expected KEY=VALUE (a.b=value), got {assignment!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    *parents, last = path.split(".")
    node = event
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ValueError(f"{assignment!r}: {key!r} is not an object in the event")
        node = child
    node[last] = value


@contextmanager
def local_stack(
    registry_dir: Path, stack_name: str = STACK_NAME
) -> Iterator[tuple[LocalStack, str]]:
    """The running `make api`'s stack, else a fresh one; yields it and where it came from."""
    from embedded_aws import local_registry
    from embedded_aws.server import embedded_aws
    from modelops import aws

    running = local_registry.running_stack(registry_dir)
    if running is not None and running.endpoint_url:
        saved = os.environ.get("AWS_ENDPOINT_URL")
        os.environ["AWS_ENDPOINT_URL"] = running.endpoint_url
        aws.apply_local_defaults()
        aws.reset_clients()
        try:
            yield running, f"the running make api ({running.endpoint_url})"
        finally:
            if saved is None:
                os.environ.pop("AWS_ENDPOINT_URL", None)
            else:
                os.environ["AWS_ENDPOINT_URL"] = saved
            aws.reset_clients()
        return
    with embedded_aws():
        aws.reset_clients()
        stack = provision_stack(
            stack_name=stack_name, parameters={"CaptureSink": "firehose", "MonitorWorkers": "1"}
        )
        loaded = local_registry.load_registry(aws.client("s3"), stack.bucket, registry_dir)
        yield stack, f"a fresh embedded AWS ({loaded} registry objects loaded)"
        aws.reset_clients()


def invoke(function: str, event: Any, stack: LocalStack) -> Any:
    from embedded_aws.lambda_runtime import LocalFunction

    # The function's own output (its logs, EMF metrics) goes to stderr, as `sam local invoke`
    # shows it, so stdout carries only the result.
    return LocalFunction.from_stack(stack, function, stdout=sys.stderr).invoke(event)


def main(argv: Sequence[str] | None = None) -> int:
    functions = sorted(
        logical_id
        for logical_id, res in load_template()["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    )
    parser = argparse.ArgumentParser(
        prog="make invoke", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("function", choices=functions, help="the function's logical id")
    parser.add_argument("event", type=Path, help="a JSON event file (events/ has samples)")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change the event before invoking, e.g. window.start=2026-11-30T15:00:00Z "
        "(dotted path; the value is JSON when it parses, else a string); repeatable",
    )
    parser.add_argument(
        "--registry-dir",
        type=Path,
        default=None,
        help="the local registry and running-stack file (default .modelops-local/)",
    )
    parser.add_argument(
        "--stack-name",
        default=STACK_NAME,
        help="name of a fresh stack, when no make api is running (default %(default)s)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    from embedded_aws.local_registry import DEFAULT_DIR

    try:
        event = json.loads(args.event.read_text())
        for assignment in args.assignments:
            set_path(event, assignment)
    except (OSError, json.JSONDecodeError, ValueError) as exc:
        print(f"make invoke: error: {args.event}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with local_stack(args.registry_dir or DEFAULT_DIR, args.stack_name) as (stack, where):
        print(f"make invoke: {args.function} on {where}", file=sys.stderr)
        try:
            result = invoke(args.function, event, stack)
        except Exception as exc:  # reported as Lambda reports a handler error to its caller
            trace = traceback.format_exception(exc)
            print(
                json.dumps(
                    {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": trace}
                )
            )
            return EXIT_HANDLER_ERROR
    print(json.dumps(result, indent=2, default=str))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
