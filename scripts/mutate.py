"""`make mutate`: mutation testing of the code that decides (docs/TESTING.md).

Each shard is one deciding module (or the deciding functions of a larger one) with the fast
tests that hold it. A shard runs cosmic-ray in its own copy of the checkout under .mutate/
(cosmic-ray mutates files in place; the copy is imported first through PYTHONPATH), so the
working tree is never touched and shards run side by side (--jobs, default 2).

Incremental: a shard's session (.mutate/<shard>.sqlite) is kept and only mutants without a
result are run; it is started afresh when the module, its tests, the shard or the operators change.
Operators: the ones that change a decision (comparison boundaries and negations, and/or,
true/false, numbers +-1, + and -, * and /, loops that run zero times); the dozens of
exotic operator swaps cosmic-ray also knows (x + y -> x << y, ...) are skipped.

    python scripts/mutate.py [--shard NAME ...] [--jobs N] [--list]

Prints the score per shard and every surviving mutant (file:line, operator, the changed line),
and writes .mutate/report.json. Run with the tool environment's python (cosmic-ray).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / ".mutate"
PYTHON = REPO / ".venv" / "bin" / "python"
TOOLS_BIN = Path(sys.executable).parent

MODELOPS = "layers/modelops/modelops"
KEPT_OPERATORS = re.compile(
    r"core/("
    r"ReplaceComparisonOperator_(Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Eq_NotEq|NotEq_Eq|Is_IsNot|IsNot_Is"
    r"|In_NotIn|NotIn_In)"
    r"|ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul)"
    r"|NumberReplacer|AddNot|ReplaceTrueWithFalse|ReplaceFalseWithTrue"
    r"|ReplaceAndWithOr|ReplaceOrWithAnd|ZeroIterationForLoop"
    r")$"
)


@dataclass(frozen=True)
class Shard:
    name: str
    module: str
    tests: tuple[str, ...]
    # Qualified names of the functions (or classes) mutated; "<module>" is the module-level
    # statements (constants). None: the whole module.
    scope: tuple[str, ...] | None = None


SHARDS = (
    Shard(
        "registry",
        f"{MODELOPS}/registry.py",
        (
            "tests/registry/test_write_races.py",
            "tests/registry/test_registry.py",
            "tests/registry/test_error_classification.py",
        ),
        (
            "<module>",
            "_is_conflict",
            "_is_missing",
            "_alias_state",
            "ModelRegistry.reserve_version",
            "ModelRegistry.publish",
            "ModelRegistry._create",
            "ModelRegistry.get_model_bytes",
            "ModelRegistry.get_alias_if_changed",
            "ModelRegistry.set_alias",
            "ModelRegistry.list_versions",
            "ModelRegistry._version_dirs",
        ),
    ),
    Shard(
        "model_cache",
        f"{MODELOPS}/serving/model_cache.py",
        (
            "tests/serving/test_refresh_not_modified.py",
            "tests/serving/test_model_cache.py",
            "tests/serving/test_backoff.py",
        ),
    ),
    Shard(
        "request_validation",
        f"{MODELOPS}/serving/request.py",
        ("tests/serving/test_documented_limits.py", "tests/serving/test_request.py"),
    ),
    Shard(
        "body_limits",
        f"{MODELOPS}/http.py",
        ("tests/serving/test_documented_limits.py", "tests/serving/test_request.py"),
        ("<module>", "read_json_body", "_check_size"),
    ),
    Shard(
        "statistics",
        f"{MODELOPS}/monitoring/statistics.py",
        ("tests/monitoring/test_rule_boundaries.py", "tests/monitoring/test_statistics.py"),
        (
            "<module>",
            "psi",
            "ks_2samp",
            "chi2_contingency",
            "wasserstein_distance",
            "jensenshannon_distance",
        ),
    ),
    Shard(
        "drift",
        f"{MODELOPS}/monitoring/drift.py",
        ("tests/monitoring/test_verdict.py", "tests/monitoring/test_rule_boundaries.py"),
        ("numeric_drift", "categorical_drift", "_missing_reason"),
    ),
    Shard(
        "verdict",
        f"{MODELOPS}/monitoring/verdict.py",
        ("tests/monitoring/test_rule_boundaries.py", "tests/monitoring/test_verdict.py"),
        ("window_verdict", "_share_rule", "importance_shares", "feature_thresholds"),
    ),
    Shard(
        "status",
        f"{MODELOPS}/monitoring/report.py",
        ("tests/monitoring/test_rule_boundaries.py",),
        ("<module>", "version_status", "overall_status"),
    ),
    Shard(
        "performance",
        f"{MODELOPS}/monitoring/performance.py",
        ("tests/monitoring/test_rule_boundaries.py", "tests/monitoring/test_verdict.py"),
        ("<module>", "PerformanceThresholds", "evaluate"),
    ),
    Shard(
        "latest_label",
        f"{MODELOPS}/monitoring/join.py",
        ("tests/monitoring/test_rule_boundaries.py",),
        ("FeedbackIndex.from_records", "FeedbackIndex.lookup", "FeedbackIndex.truth"),
    ),
    Shard(
        "window_limit",
        f"{MODELOPS}/monitoring/window.py",
        ("tests/monitoring/test_rule_boundaries.py",),
        ("<module>", "Window._explicit"),
    ),
    Shard(
        "retraining",
        f"{MODELOPS}/monitoring/retraining.py",
        ("tests/monitoring/test_cooldown_boundary.py", "tests/monitoring/test_retraining.py"),
        ("<module>", "RetrainingTrigger.decide_and_act", "RetrainingTrigger._active_jobs"),
    ),
    Shard(
        "retraining_markers",
        f"{MODELOPS}/monitoring/markers.py",
        ("tests/monitoring/test_retraining.py",),
        ("<module>", "WindowMarker", "WindowMarkers.claim", "is_conflict"),
    ),
    Shard(
        "promotion_gate",
        "jobs/train/modelops_train/promotion.py",
        ("tests/train/test_promotion_boundary.py",),
        ("decide",),
    ),
    Shard(
        "metric_comparison",
        f"{MODELOPS}/metrics.py",
        ("tests/train/test_promotion_boundary.py", "tests/train/test_metrics.py"),
        ("is_better_or_equal", "tolerance_verdict"),
    ),
    Shard(
        "rollout_decision",
        f"{MODELOPS}/rollout/decision.py",
        ("tests/rollout/test_decision.py",),
        ("decide", "interval_verdict", "_undecided", "_paired_row_test"),
    ),
)


def scoped_lines(source: str, scope: tuple[str, ...] | None) -> set[int] | None:
    """Line numbers of the scope's functions/classes (and module-level statements)."""
    if scope is None:
        return None
    tree = ast.parse(source)
    lines: set[int] = set()

    def span(node: ast.AST) -> range:
        return range(node.lineno, (node.end_lineno or node.lineno) + 1)  # type: ignore[attr-defined]

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + node.name
                if name in scope:
                    lines.update(span(node))
                elif isinstance(node, ast.ClassDef):
                    walk(node.body, name + ".")
            elif (
                not prefix and "<module>" in scope and isinstance(node, (ast.Assign, ast.AnnAssign))
            ):
                lines.update(span(node))

    walk(tree.body, "")
    missing = [n for n in scope if n != "<module>" and not _defined(tree, n)]
    if missing:
        raise SystemExit(f"mutate: {', '.join(missing)} not found: update SHARDS")
    return lines


def _defined(tree: ast.Module, qualified: str) -> bool:
    body: list[ast.stmt] = tree.body
    for part in qualified.split("."):
        found = next(
            (n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part),
            None,
        )
        if found is None:
            return False
        body = found.body
    return True


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [f for f in out.splitlines() if f and (REPO / f).is_file()]


def refresh_copy(work: Path, files: list[str]) -> None:
    """The shard's copy of the checkout, equal to the working tree (mutants undone)."""
    for name in files:
        source, target = REPO / name, work / name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def shard_key(shard: Shard) -> str:
    digest = hashlib.sha256()
    for name in (shard.module, *shard.tests, "tests/conftest.py"):
        digest.update(name.encode() + b"\0" + (REPO / name).read_bytes())
    digest.update(repr(shard).encode() + KEPT_OPERATORS.pattern.encode())
    return digest.hexdigest()


PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore")
# Imported once by a shard's fork server so that each mutant's test run starts fast; never
# modelops or the tests, which each child imports afresh (mutated), and nothing that starts
# a thread at import (pandas, onnxruntime): the server forks, and must be single-threaded.
PRELOAD = (
    "numpy", "scipy.stats", "orjson", "boto3", "botocore", "moto", "hypothesis", "pytest",
    "aws_lambda_powertools", "yaml",
)  # fmt: skip


def test_command(shard: Shard) -> str:
    """What cosmic-ray runs for each mutant: ask the shard's fork server for a test run."""
    return f"{PYTHON} -S {REPO / 'scripts' / 'mutate.py'} run {STATE / (shard.name + '.sock')}"


def serve(sock_path: str, timeout: float, tests: list[str]) -> None:
    """The fork server: one child per request runs pytest on `tests`; answers its exit code."""
    import importlib

    sys.dont_write_bytecode = True  # a mutant must never be read back from a stale .pyc
    for name in PRELOAD:
        importlib.import_module(name)
    tasks = Path("/proc/self/task")
    threads = len(list(tasks.iterdir())) if tasks.is_dir() else 1
    if threads != 1:
        raise SystemExit(f"mutate: the fork server has {threads} threads after its imports")
    import pytest

    Path(sock_path).unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    while True:
        conn, _ = server.accept()
        if conn.recv(16) != b"run":
            conn.close()
            return
        pid = os.fork()
        if pid == 0:
            server.close()
            conn.close()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os._exit(int(pytest.main([*PYTEST_ARGS, *tests])))
        deadline = time.monotonic() + timeout
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                done = os.waitpid(pid, 0)
                break
            time.sleep(0.01)
        code = os.waitstatus_to_exitcode(done[1])
        conn.sendall(str(code).encode())
        conn.close()


def request_run(sock_path: str) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(sock_path)
        conn.sendall(b"run")
        answer = conn.recv(16).decode() or "1"
    return int(answer) if int(answer) >= 0 else 1  # killed by a signal: the mutant is caught


def shard_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        str(work / p) for p in ("layers/modelops", "jobs/train", ".")
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_shard(shard: Shard, files: list[str]) -> dict[str, object]:
    work = STATE / "work" / shard.name
    refresh_copy(work, files)
    env = shard_env(work)
    for cache in (work / "layers").rglob("__pycache__"):
        shutil.rmtree(cache)
    for cache in (work / "jobs").rglob("__pycache__"):
        shutil.rmtree(cache)
    started = time.monotonic()
    baseline = subprocess.run(
        [PYTHON, "-m", "pytest", *PYTEST_ARGS, *shard.tests],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    baseline_seconds = time.monotonic() - started
    if baseline.returncode != 0:
        raise SystemExit(
            f"mutate: {shard.name}: the tests fail unmutated:\n{baseline.stdout[-3000:]}"
        )
    timeout = max(30.0, baseline_seconds * 4)
    sock = STATE / f"{shard.name}.sock"
    server = subprocess.Popen(
        [PYTHON, __file__, "serve", sock, f"{timeout:.0f}", *shard.tests],
        cwd=work, env=env | {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    try:
        return _run_session(shard, work, env, sock, server, timeout, started)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        sock.unlink(missing_ok=True)
        refresh_copy(work, [shard.module])


def prepare(shard: Shard, work: Path, env: dict[str, str], timeout: float) -> tuple[Path, Path]:
    """The shard's cosmic-ray config and session; a fresh session (operators and scope
    applied as SKIPPED) when the module, its tests, the shard or the operators changed."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    config = STATE / f"{shard.name}.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(shard.module)}\n"
        f"timeout = {timeout + 10:.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(shard))}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    session, key_file = STATE / f"{shard.name}.sqlite", STATE / f"{shard.name}.key"
    key = shard_key(shard)
    if not session.exists() or not key_file.exists() or key_file.read_text() != key:
        session.unlink(missing_ok=True)
        subprocess.run(
            [TOOLS_BIN / "cosmic-ray", "init", config, session], cwd=work, check=True, env=env
        )
        lines = scoped_lines((REPO / shard.module).read_text(), shard.scope)
        with use_db(str(session), WorkDB.Mode.open) as db:
            skipped = [
                item.job_id
                for item in db.pending_work_items
                if not KEPT_OPERATORS.match(item.mutations[0].operator_name)
                or (lines is not None and item.mutations[0].start_pos[0] not in lines)
            ]
            db.set_multiple_results(skipped, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        key_file.write_text(key)
    return config, session


def pending(session: Path) -> int:
    from cosmic_ray.work_db import WorkDB, use_db

    with use_db(str(session), WorkDB.Mode.open) as db:
        return len(db.pending_work_items)


def _run_session(
    shard: Shard,
    work: Path,
    env: dict[str, str],
    sock: Path,
    server: subprocess.Popen[bytes],
    timeout: float,
    started: float,
) -> dict[str, object]:
    config, session = prepare(shard, work, env, timeout)
    while not sock.exists():
        if server.poll() is not None:
            raise SystemExit(f"mutate: {shard.name}: the fork server did not start")
        time.sleep(0.1)
    with (STATE / f"{shard.name}.log").open("a") as out:
        subprocess.run(
            [TOOLS_BIN / "cosmic-ray", "exec", config, session],
            cwd=work, env=env, check=True, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return summarize(shard, session, time.monotonic() - started)


def summarize(shard: Shard, session: Path, seconds: float) -> dict[str, object]:
    from cosmic_ray.work_db import WorkDB, use_db

    killed = survived = incompetent = 0
    survivors: list[dict[str, object]] = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            outcome = result.test_outcome.value if result.test_outcome else None
            if outcome == "killed":
                killed += 1
            elif outcome == "incompetent":
                incompetent += 1
            elif outcome == "survived":
                survived += 1
                mutation = item.mutations[0]
                changed = [
                    line[1:].strip()
                    for line in (result.diff or "").splitlines()
                    if line.startswith("+") and not line.startswith("+++")
                ]
                survivors.append(
                    {
                        "where": f"{shard.module}:{mutation.start_pos[0]}",
                        "operator": mutation.operator_name.removeprefix("core/"),
                        "occurrence": mutation.occurrence,
                        "becomes": changed[0] if changed else "",
                    }
                )
    scored = killed + survived
    return {
        "shard": shard.name,
        "module": shard.module,
        "mutants": scored + incompetent,
        "killed": killed,
        "survived": survived,
        "incompetent": incompetent,
        "score": round(killed / scored, 4) if scored else None,
        "seconds": round(seconds),
        "survivors": sorted(survivors, key=lambda s: str(s["where"])),
    }


def run_or_report(shard: Shard, files: list[str]) -> dict[str, object]:
    """A shard's result; a shard that cannot run is reported, the others still run."""
    try:
        return run_shard(shard, files)
    except (SystemExit, subprocess.CalledProcessError) as exc:
        print(f"mutate: {shard.name}: {exc}", file=sys.stderr)
        session = STATE / f"{shard.name}.sqlite"
        empty: dict[str, object] = {"shard": shard.name, "module": shard.module, "mutants": 0}
        kept = summarize(shard, session, 0.0) if session.exists() else empty
        return kept | {"error": str(exc)[:500]}


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
        return 0
    if sys.argv[1:2] == ["run"]:
        return request_run(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shard", action="append", help="run only these shards (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="shards run side by side (2)")
    parser.add_argument("--list", action="store_true", help="list the shards and exit")
    parser.add_argument(
        "--report", action="store_true", help="summarize the results kept, run nothing"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="also print the scores as a Markdown table"
    )
    parser.add_argument(
        "--plan", action="store_true", help="count each shard's mutants still to run, run none"
    )
    args = parser.parse_args()
    if args.list:
        for shard in SHARDS:
            print(f"{shard.name:20} {shard.module}  <- {' '.join(shard.tests)}")
        return 0
    unknown = set(args.shard or ()) - {s.name for s in SHARDS}
    if unknown:
        parser.error(f"unknown shard(s): {', '.join(sorted(unknown))}")
    chosen = [s for s in SHARDS if not args.shard or s.name in args.shard]
    STATE.mkdir(exist_ok=True)
    files = [f for f in tracked_files() if not f.startswith(".mutate/")]
    if args.plan:
        for shard in chosen:
            work = STATE / "work" / shard.name
            refresh_copy(work, files)
            _, session = prepare(shard, work, shard_env(work), 60.0)
            print(f"{shard.name:20} {pending(session):>5} mutants to run")
        return 0
    started = time.monotonic()
    if args.report:
        results = [
            summarize(s, STATE / f"{s.name}.sqlite", 0.0)
            for s in chosen
            if (STATE / f"{s.name}.sqlite").exists()
        ]
    else:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(lambda s: run_or_report(s, files), chosen))
    report_path = STATE / "report.json"
    previous = json.loads(report_path.read_text()) if report_path.exists() else {}
    shards = {r["shard"]: r for r in previous.get("shards", [])} | {r["shard"]: r for r in results}
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_seconds_this_run": round(time.monotonic() - started),
        # CPU of every process the run started (tests, cosmic-ray): what a quiet machine needs.
        "cpu_seconds_this_run": round(
            (usage := resource.getrusage(resource.RUSAGE_CHILDREN)).ru_utime + usage.ru_stime
        ),
        "jobs": args.jobs,
        "shards": [shards[s.name] for s in SHARDS if s.name in shards],
    }
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'shard':20} {'mutants':>7} {'killed':>6} {'survived':>8} {'score':>6} {'s':>5}")
    for r in report["shards"]:
        score = "-" if r.get("score") is None else f"{r['score']:.0%}"
        print(
            f"{r['shard']:20} {r.get('mutants', 0):>7} {r.get('killed', 0):>6} "
            f"{r.get('survived', 0):>8} {score:>6} {r.get('seconds', 0):>5}"
        )
    if args.markdown:
        print("\n| shard | module | mutants | killed | survived | score |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for r in report["shards"]:
            score = "-" if r.get("score") is None else f"{r['score']:.0%}"
            print(
                f"| {r['shard']} | `{r['module']}` | {r.get('mutants', 0)} | {r.get('killed', 0)} "
                f"| {r.get('survived', 0)} | {score} |"
            )
    for r in report["shards"]:
        for s in r.get("survivors", []):
            print(f"SURVIVED {s['where']} {s['operator']}: {s['becomes']}")
    print(
        f"this run: {report['wall_seconds_this_run']} s wall, {report['cpu_seconds_this_run']} s "
        f"CPU, {args.jobs} job(s), load average {os.getloadavg()[0]:.1f}; {report_path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
