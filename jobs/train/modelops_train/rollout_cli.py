"""`modelops models challenge|status|abort`: start, watch and stop a rollout by hand.

    modelops models challenge --model-name churn --version 3 --mode canary --weight 0.1 --reason "..."
    modelops models status --model-name churn
    modelops models abort --model-name churn --reason "..."

Part of `modelops models` (modelops_train.models_cli): same flags, errors and exit codes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TextIO

from modelops.errors import RolloutError
from modelops.registry import CHAMPION, ROLLOUT_MODES, ChallengerStage, ModelRegistry, RolloutRule

ActionFactory = Callable[[str, str], argparse.ArgumentParser]
ModelFlag = Callable[[argparse.ArgumentParser], None]


def add_rollout_commands(action: ActionFactory, model_flag: ModelFlag) -> None:
    default = RolloutRule()
    challenge = action(
        "challenge", "start a rollout: a version challenges the champion in shadow or canary"
    )
    model_flag(challenge)
    challenge.add_argument("--version", type=int, required=True, help="the challenging version")
    challenge.add_argument(
        "--mode", choices=ROLLOUT_MODES, default="shadow", help="default %(default)s"
    )
    challenge.add_argument(
        "--weight",
        type=float,
        help="canary: share of inference ids it answers (default 0.1); "
        "shadow: share of requests it also scores (default 1)",
    )
    challenge.add_argument(
        "--margin",
        type=float,
        default=default.margin,
        help=f"how much worse than the champion still promotes (default {default.margin:g})",
    )
    challenge.add_argument(
        "--confidence",
        type=float,
        default=default.confidence,
        help=f"confidence of the test (default {default.confidence:g})",
    )
    challenge.add_argument(
        "--min-labeled-rows", type=int, default=default.min_labeled_rows,
        help=f"labeled rows needed before deciding (default {default.min_labeled_rows})",
    )  # fmt: skip
    challenge.add_argument(
        "--max-age-hours", type=float, default=default.max_age_hours,
        help=f"rejected if still undecided after this long (default {default.max_age_hours:g})",
    )  # fmt: skip
    challenge.add_argument(
        "--max-error-rate", type=float, default=default.max_error_rate,
        help=f"rejected above this share of failed scorings (default {default.max_error_rate:g})",
    )  # fmt: skip
    challenge.add_argument(
        "--replace", action="store_true", help="supersede a challenger already running"
    )
    challenge.add_argument("--reason", required=True, help="why: recorded in the history")
    status = action("status", "the champion and the challenger's rollout")
    model_flag(status)
    abort = action("abort", "stop the running rollout; the champion stays")
    model_flag(abort)
    abort.add_argument("--reason", required=True, help="why: recorded in the history")


def run_rollout(registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    """The record the action wrote (challenge, abort) or the rollout's status."""
    name = args.model_name
    stage = ChallengerStage(registry)
    if args.action == "challenge":
        rule = RolloutRule(
            margin=args.margin,
            confidence=args.confidence,
            min_labeled_rows=args.min_labeled_rows,
            max_age_hours=args.max_age_hours,
            max_error_rate=args.max_error_rate,
        )
        started = stage.start(
            name,
            args.version,
            mode=args.mode,
            weight=args.weight,
            rule=rule,
            reason=args.reason,
            replace=args.replace,
        )
        return dict(started.state.record)
    current = stage.read(name)
    if args.action == "abort":
        if current is None or not current.active:
            raise RolloutError(f"model {name!r} has no running challenger to abort")
        return dict(stage.end(name, current, status="aborted", reason=args.reason).state.record)
    champion = registry.get_alias(name, CHAMPION)
    return {
        "model": name,
        "champion": None if champion is None else champion.version,
        "challenger": None
        if current is None
        else {
            "version": current.version,
            "status": current.status,
            **current.rollout(),
            "updated_at": current.state.record.get("updated_at"),
            "reason": current.state.record.get("reason"),
            "decision": (current.state.record.get("details") or {}).get("decision"),
        },
    }


def print_rollout(record: dict[str, Any], out: TextIO) -> None:
    """One readable line per record: what the table view shows."""
    if "champion" in record and "challenger" in record and "alias" not in record:
        challenger = record["challenger"]
        if challenger is None:
            print(f"{record['model']}: champion v{record['champion']}, no challenger", file=out)
            return
        detail = ", ".join(
            f"{k} {challenger[k]}" for k in ("mode", "weight", "started_at") if challenger.get(k)
        )
        print(
            f"{record['model']}: champion v{record['champion']}, challenger "
            f"v{challenger['version']} {challenger['status']} ({detail})",
            file=out,
        )
        return
    print(
        f"{record.get('model')}: {record.get('alias')} -> v{record.get('version')} "
        f"({record.get('reason')})",
        file=out,
    )
