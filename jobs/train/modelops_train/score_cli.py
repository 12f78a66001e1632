"""`modelops score`: start a batch-scoring run (BatchScoringStateMachine) and wait for it.

    modelops score --input s3://bucket/datasets/2026-11-30/ [--model-version 3]
                   [--output s3://...] [--id-column customer_id] [--run-id nightly-2026-11-30]
                   [--max-concurrency 50] [--tolerated-failure-percentage 1]
                   [--output-format jsonl|parquet] [--no-wait]

The state machine comes from --state-machine or MODELOPS_SCORING_STATE_MACHINE (the stack's
BatchScoringStateMachineArn output). Prints the run's summary as one JSON line (with
--no-wait: the execution's ARN). docs/SCORING.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from modelops import aws, workflows

PREFIX = "modelops score"
EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_RUN_FAILED = 9
EXIT_CODES = {
    EXIT_OK: "the run succeeded (its summary is printed)",
    EXIT_UNEXPECTED: "unexpected error (a traceback is on stderr)",
    EXIT_USAGE: "usage error (bad flag, no state machine)",
    EXIT_RUN_FAILED: "the run failed or timed out (its error and cause are printed)",
}


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return number


def _percentage(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage from 0 to 100, got {value!r}")
    return number


def add_score_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    score = commands.add_parser(
        "score",
        help="score an S3 prefix of CSV / JSON Lines / Parquet files with the model (batch scoring)",
        description=(__doc__ or "").split("\n\n")[0] + " See docs/SCORING.md.",
        epilog="exit codes:\n"
        + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument("--input", required=True, help="s3://bucket/prefix of the input files")
    score.add_argument("--output", help="s3:// prefix of the run (default scoring/<model>/<run>/)")
    score.add_argument(
        "--model-version", type=_positive, help="score with this version (default: the champion)"
    )
    score.add_argument(
        "--id-column", help="the column holding each row's id (default inference_id)"
    )
    score.add_argument(
        "--output-format",
        choices=("jsonl", "parquet"),
        help="the results files' format (default jsonl)",
    )
    score.add_argument("--run-id", help="the run's name (default: the execution's name)")
    score.add_argument("--max-concurrency", type=_positive, help="Map children at once")
    score.add_argument(
        "--tolerated-failure-percentage",
        type=_percentage,
        help="share of items that may fail before the run fails (default 0)",
    )
    score.add_argument(
        "--state-machine",
        default=os.environ.get("MODELOPS_SCORING_STATE_MACHINE"),
        help="BatchScoringStateMachine's ARN (default $MODELOPS_SCORING_STATE_MACHINE)",
    )
    score.add_argument("--timeout", type=_positive, default=6 * 3600, help="seconds to wait")
    score.add_argument("--no-wait", action="store_true", help="print the execution ARN and exit")


def execution_input(args: argparse.Namespace) -> dict[str, Any]:
    fields = {
        "input": args.input,
        "output": args.output,
        "model_version": args.model_version,
        "id_column": args.id_column,
        "run_id": args.run_id,
        "max_concurrency": args.max_concurrency,
        "tolerated_failure_percentage": args.tolerated_failure_percentage,
        "output_format": args.output_format,
    }
    return {k: v for k, v in fields.items() if v is not None}


def run_score(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if not args.state_machine:
        print(
            f"{PREFIX}: error: no state machine: pass --state-machine or set "
            "MODELOPS_SCORING_STATE_MACHINE (the stack's BatchScoringStateMachineArn output)",
            file=err,
        )
        return EXIT_USAGE
    sfn = aws.client("stepfunctions")
    arn = workflows.start(sfn, args.state_machine, execution_input(args), name=args.run_id)
    if args.no_wait:
        print(json.dumps({"execution": arn}), file=out)
        return EXIT_OK
    print(f"{PREFIX}: started {arn}", file=err)
    try:
        summary = workflows.wait(sfn, arn, timeout=args.timeout, poll_seconds=2.0)
    except workflows.ExecutionFailedError as exc:
        d = exc.description
        print(
            f"{PREFIX}: error: run {d.get('status')}: {d.get('error')}: {d.get('cause')}", file=err
        )
        return EXIT_RUN_FAILED
    except TimeoutError as exc:
        print(f"{PREFIX}: error: {exc}", file=err)
        return EXIT_RUN_FAILED
    print(json.dumps(summary), file=out)
    return EXIT_OK
