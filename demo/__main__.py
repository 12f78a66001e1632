"""`make demo`: the model lifecycle loop on embedded AWS, step by step (see demo/loop.py).

Exits 0 only when the loop closed: drift detected, the retrained version promoted from shadow
on live evidence and serving, a bad candidate rejected in shadow without ever answering a
client, performance recovered, all judged from the real outcomes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from demo.loop import LoopConfig, format_table, run_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("demo-output"),
        help="where reports and logs are copied",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    result = run_loop(LoopConfig(output_dir=args.output_dir, seed=args.seed))

    print("\n" + format_table(result))
    print("\nHTML reports:")
    for window in result.windows:
        print(f"  {window.name}: {window.html_report or 'none written'}")
    print(
        f"function logs: {args.output_dir / 'lambda-logs.txt'}; training job logs: {args.output_dir}/batch-job-*.log"
    )
    print("\nchecks:")
    for check in result.checks:
        print(
            f"  [{'ok' if check.ok else 'FAILED'}] {check.what}{': ' + check.detail if check.detail else ''}"
        )
    verdict = "the loop closed" if result.ok else "the loop did NOT close"
    print(f"\n{verdict} in {result.seconds:.0f}s")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
