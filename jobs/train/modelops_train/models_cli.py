"""`modelops models`: the operator's view of the registry, and the alias and tag changes.

    modelops models list [--model-name churn] [--json]
    modelops models history --model-name churn [--alias champion] [--json]
    modelops models promote --model-name churn --version 2 --reason "roll back: v3 degraded"
    modelops models tag --model-name churn --version 2 --set owner=ds-team --description "..."

A readable table by default, JSON lines with --json (for scripts). Errors are one line,
`modelops models: error: ...`, with the exit codes of EXIT_CODES (docs/OPERATIONS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any, TextIO

from modelops.config import env_str, validate_model_name
from modelops.errors import (
    ConfigurationError,
    IntegrityError,
    ModelNotFoundError,
    StaleAliasError,
)
from modelops.registry import ALIAS_PATTERN, CHAMPION, ModelRegistry
from modelops.tags import VersionTags, validate_description, validate_tags
from modelops_train.errors import UsageError
from modelops_train.preflight import check_bucket

PREFIX = "modelops models"
EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_STALE_ALIAS = 6
EXIT_REGISTRY = 7
EXIT_NOT_FOUND = 8

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_UNEXPECTED: "unexpected error (a traceback is on stderr)",
    EXIT_USAGE: "usage or configuration error (bad flag, MODELOPS_BUCKET unset or unreachable)",
    EXIT_STALE_ALIAS: "the alias changed since --expect-version: nothing changed, read it again",
    EXIT_REGISTRY: "registry inconsistent (metadata or model missing or corrupt)",
    EXIT_NOT_FOUND: "no such model, version or alias in the registry",
}


def model_name_arg(value: str) -> str:
    try:
        return validate_model_name(value)
    except (ConfigurationError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def alias_arg(value: str) -> str:
    if not ALIAS_PATTERN.match(value):
        raise argparse.ArgumentTypeError(
            f"alias {value!r} is invalid: lowercase letters, digits and '-', starting with a "
            "letter (e.g. champion, challenger)"
        )
    return value


def tag_arg(value: str) -> tuple[str, str]:
    key, sep, tag_value = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    try:
        validate_tags({key: tag_value})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return key, tag_value


def description_arg(value: str) -> str:
    try:
        return validate_description(value) or ""
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_tag_flag(parser: argparse.ArgumentParser, flag: str, *, dest: str, help: str) -> None:
    """A repeatable KEY=VALUE tag flag (models tag --set, train --tag)."""
    parser.add_argument(
        flag, dest=dest, type=tag_arg, action="append", default=[], metavar="KEY=VALUE", help=help
    )


def add_models_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    epilog = "exit codes:\n" + "\n".join(f"  {c}  {m}" for c, m in EXIT_CODES.items())
    raw = argparse.RawDescriptionHelpFormatter
    models = commands.add_parser(
        "models",
        help="inspect the registry, move aliases (promote, roll back), tag versions",
        description="Read the registry in $MODELOPS_BUCKET, point an alias at a version "
        "(compare-and-swap, recorded in the history) or tag a version. See docs/OPERATIONS.md.",
        epilog=epilog,
        formatter_class=raw,
    )
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(
            name, help=text, description=text, epilog=epilog, formatter_class=raw
        )
        parser.add_argument(
            "--json", action="store_true", help="JSON lines instead of a table (for scripts)"
        )
        return parser

    def model_flag(parser: argparse.ArgumentParser, required: bool = True) -> None:
        parser.add_argument(
            "--model-name",
            required=required,
            type=model_name_arg,
            help="the model's registry name (models/<name>/)"
            + ("" if required else "; default: every model in the bucket"),
        )

    listing = action("list", "published versions with metrics, aliases, tags and description")
    model_flag(listing, required=False)
    history = action("history", "every alias change, oldest first")
    model_flag(history)
    history.add_argument("--alias", type=alias_arg, help="only this alias's changes")
    promote = action(
        "promote", "point an alias (default champion) at a version: promotion or rollback"
    )
    model_flag(promote)
    promote.add_argument(
        "--version", type=int, required=True, help="the published version to point at"
    )
    promote.add_argument(
        "--alias", type=alias_arg, default=CHAMPION, help="the alias to move (default %(default)s)"
    )
    promote.add_argument("--reason", required=True, help="why: recorded in the history")
    promote.add_argument(
        "--expect-version",
        type=int,
        help="only if the alias still points at this version (guards against a concurrent change)",
    )
    tag = action("tag", "set or remove tags, or set the description, of a version")
    model_flag(tag)
    tag.add_argument("--version", type=int, required=True, help="the published version to tag")
    add_tag_flag(tag, "--set", dest="set_tags", help="set a tag (repeatable)")
    tag.add_argument(
        "--unset", action="append", default=[], metavar="KEY", help="remove a tag (repeatable)"
    )
    tag.add_argument("--description", type=description_arg, help="replace the description")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the parsed `models` command; errors become one line and their exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        bucket = env_str("MODELOPS_BUCKET")
        check_bucket(bucket)
        return _ACTIONS[args.action](ModelRegistry(bucket), args, out)
    except (UsageError, ConfigurationError) as exc:
        return _fail(err, EXIT_USAGE, str(exc))
    except StaleAliasError as exc:
        return _fail(err, EXIT_STALE_ALIAS, str(exc))
    except IntegrityError as exc:
        return _fail(err, EXIT_REGISTRY, str(exc))
    except ModelNotFoundError as exc:
        return _fail(err, EXIT_NOT_FOUND, str(exc))
    except Exception as exc:  # the one catch-all: a clear last line and the documented code
        traceback.print_exc(file=err)
        return _fail(err, EXIT_UNEXPECTED, f"unexpected {type(exc).__name__}")


def _fail(err: TextIO, code: int, message: str) -> int:
    print(f"{PREFIX}: error: {message}", file=err, flush=True)
    return code


def _known_model(registry: ModelRegistry, name: str) -> list[int]:
    """The model's published versions; an unknown model is ModelNotFoundError naming those
    the bucket has."""
    versions = registry.list_versions(name)
    if not versions:
        known = registry.list_models()
        raise ModelNotFoundError(
            f"no model {name!r} in bucket {registry.bucket!r} "
            f"(models: {', '.join(known) if known else 'none yet: train one first'})"
        )
    return versions


def _known_version(registry: ModelRegistry, name: str, version: int) -> None:
    versions = _known_model(registry, name)
    if version not in versions:
        raise ModelNotFoundError(
            f"model {name!r} has no published version {version} "
            f"(versions: {', '.join(map(str, versions))})"
        )


def _version_rows(registry: ModelRegistry, name: str) -> list[dict[str, Any]]:
    aliases: dict[int, list[str]] = {}
    for alias in registry.list_aliases(name):
        state = registry.get_alias(name, alias)
        if state is not None:
            aliases.setdefault(state.version, []).append(alias)
    tags = VersionTags(registry)
    rows = []
    for version in _known_model(registry, name):
        metadata = registry.get_metadata(name, version)
        notes = tags.get(name, version, metadata)
        primary = (metadata.get("primary_metric") or {}).get("name")
        rows.append(
            {
                "model": name,
                "version": version,
                "aliases": sorted(aliases.get(version, [])),
                "published_at": metadata.get("published_at"),
                "task": metadata.get("task"),
                "primary_metric": primary,
                "metrics": metadata.get("metrics"),
                "tags": notes.tags,
                "description": notes.description,
            }
        )
    return rows


def _list(registry: ModelRegistry, args: argparse.Namespace, out: TextIO) -> int:
    names = [args.model_name] if args.model_name else registry.list_models()
    rows = [row for name in names for row in _version_rows(registry, name)]
    if args.json:
        _json_lines(rows, out)
    elif not rows:
        print(
            f"no models in bucket {registry.bucket!r} yet: train one with `modelops train`",
            file=out,
        )
    else:
        table = [
            [
                r["model"],
                f"v{r['version']}",
                ",".join(r["aliases"]) or "-",
                _metric(r),
                (r["published_at"] or "-")[:19],
                " ".join(f"{k}={v}" for k, v in sorted(r["tags"].items())) or "-",
                _short(r["description"]),
            ]
            for r in rows
        ]
        _table(
            ["MODEL", "VERSION", "ALIASES", "PRIMARY METRIC", "PUBLISHED", "TAGS", "DESCRIPTION"],
            table,
            out,
        )
    return EXIT_OK


def _history(registry: ModelRegistry, args: argparse.Namespace, out: TextIO) -> int:
    _known_model(registry, args.model_name)
    records = registry.history(args.model_name, args.alias)
    if args.json:
        _json_lines(records, out)
        return EXIT_OK
    table = [
        [
            r["updated_at"][:19],
            r["alias"],
            f"v{r['previous_version']}" if r.get("previous_version") else "-",
            f"v{r['version']}",
            r.get("updated_by", "-"),
            _short(r.get("reason")),
        ]
        for r in records
    ]
    _table(["WHEN", "ALIAS", "FROM", "TO", "BY", "REASON"], table, out)
    return EXIT_OK


def _promote(registry: ModelRegistry, args: argparse.Namespace, out: TextIO) -> int:
    name = args.model_name
    _known_version(registry, name, args.version)
    current = registry.get_alias(name, args.alias)
    if args.expect_version is not None and (
        current is None or current.version != args.expect_version
    ):
        now = f"version {current.version}" if current else "nothing"
        raise StaleAliasError(
            f"alias {args.alias!r} points at {now}, not version {args.expect_version}"
        )
    state = registry.set_alias(name, args.alias, args.version, expected=current, reason=args.reason)
    if args.json:
        _json_lines([state.record], out)
    else:
        was = f"v{current.version}" if current else "nothing"
        print(
            f"{name}: {args.alias} {was} -> v{state.version} (change {state.sequence}: {args.reason})",
            file=out,
        )
    return EXIT_OK


def _tag(registry: ModelRegistry, args: argparse.Namespace, out: TextIO) -> int:
    name = args.model_name
    _known_version(registry, name, args.version)
    if not (args.set_tags or args.unset or args.description is not None):
        raise UsageError("nothing to change: give --set KEY=VALUE, --unset KEY or --description")
    notes = VersionTags(registry).update(
        name,
        args.version,
        set_tags=dict(args.set_tags),
        unset=args.unset,
        description=args.description,
    )
    row = {
        "model": name,
        "version": args.version,
        "tags": notes.tags,
        "description": notes.description,
    }
    if args.json:
        _json_lines([row], out)
    else:
        tags = " ".join(f"{k}={v}" for k, v in sorted(notes.tags.items())) or "-"
        print(
            f"{name} v{args.version}: tags {tags}; description: {notes.description or '-'}",
            file=out,
        )
    return EXIT_OK


_ACTIONS = {"list": _list, "history": _history, "promote": _promote, "tag": _tag}


def _metric(row: dict[str, Any]) -> str:
    name = row.get("primary_metric")
    value = (row.get("metrics") or {}).get(name) if name else None
    return f"{name} {value:.4g}" if isinstance(value, int | float) else "-"


def _short(text: str | None, width: int = 40) -> str:
    if not text:
        return "-"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for line in [header, *rows]:
        print(
            "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip(),
            file=out,
        )


def _json_lines(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    for row in rows:
        print(json.dumps(row, sort_keys=True), file=out)
