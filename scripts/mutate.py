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
import difflib
import gc
import hashlib
import importlib
import importlib.util
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
import types
from collections.abc import Iterator
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
            "tests/serving/test_backoff_defaults.py",
            "tests/serving/test_load_deadline.py",
        ),
    ),
    Shard(
        "request_validation",
        f"{MODELOPS}/serving/request.py",
        (
            "tests/serving/test_documented_limits.py",
            "tests/serving/test_request.py",
            "tests/serving/test_missing_beside_bad_values.py",
        ),
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
        (
            "tests/monitoring/test_rule_boundaries.py",
            "tests/monitoring/test_statistics.py",
            "tests/monitoring/test_chi2_small_rows.py",
        ),
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
        (
            "tests/monitoring/test_drift_rules.py",
            "tests/monitoring/test_categorical_chi2.py",
            "tests/monitoring/test_rule_boundaries.py",
            "tests/monitoring/test_verdict.py",
        ),
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
        ("tests/monitoring/test_rule_boundaries.py", "tests/monitoring/test_feedback_lookup.py"),
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
        (
            "tests/monitoring/test_cooldown_boundary.py",
            "tests/monitoring/test_retraining.py",
            "tests/monitoring/test_retraining_other_jobs.py",
        ),
        ("<module>", "RetrainingTrigger.decide_and_act", "RetrainingTrigger._active_jobs"),
    ),
    Shard(
        "retraining_markers",
        f"{MODELOPS}/monitoring/markers.py",
        ("tests/monitoring/test_window_markers.py", "tests/monitoring/test_retraining.py"),
        ("<module>", "WindowMarker", "WindowMarkers.claim", "is_conflict"),
    ),
    Shard(
        "promotion_gate",
        "jobs/train/modelops_train/promotion.py",
        ("tests/train/test_promotion_boundary.py", "tests/train/test_promotion_modes.py"),
        ("decide",),
    ),
    Shard(
        "metric_comparison",
        f"{MODELOPS}/metrics.py",
        (
            "tests/train/test_promotion_boundary.py",
            "tests/train/test_metrics.py",
            "tests/monitoring/test_degradation_tolerance.py",
        ),
        ("is_better_or_equal", "tolerance_verdict"),
    ),
    Shard(
        "rollout_decision",
        f"{MODELOPS}/rollout/decision.py",
        (
            "tests/rollout/test_mcnemar_rule.py",
            "tests/rollout/test_shadow_regression.py",
            "tests/rollout/test_decision.py",
        ),
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


# The plugins no shard's unit tests use (parallel runs, API fuzzing) are not loaded.
PYTEST_ARGS = (
    "-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore",
    "-p", "no:xdist", "-p", "no:schemathesis", "-p", "no:anyio",
)  # fmt: skip
# Imported by a shard's fork server before anything else; then, after the baseline run, every
# other library module that run imported (pandas, scikit-learn, onnxruntime, moto's services:
# .mutate/<shard>.preload), so that each mutant's child only imports the project's code
# afresh. The server forks: it must stay single-threaded, hence SERVER_ENV.
PRELOAD = (
    "numpy", "scipy.stats", "orjson", "boto3", "botocore", "moto", "hypothesis", "pytest",
    "aws_lambda_powertools", "yaml",
)  # fmt: skip
SERVER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",  # pyarrow's allocator thread
    "ORT_DISABLE_TELEMETRY": "1",
}


def test_command(shard: Shard) -> str:
    """What cosmic-ray runs for each mutant: ask the shard's fork server for a test run."""
    return f"{PYTHON} -S {REPO / 'scripts' / 'mutate.py'} run {STATE / (shard.name + '.sock')}"


ALL = "*"  # a line whose mutant needs every test of the shard
SHARED = "<shared>"  # lines run while a session/module fixture is set up, or at import
TRAINED = "<trained>"  # lines run while a test model is trained (saved for the shard's mutants)
# Computations the tests cache for the session, whose results the server keeps for the
# shard's mutants: (module, function, environment variable naming the directory kept).
TEST_MODELS = ("tests.models", "train_kind", "MODELOPS_TEST_MODELS")


def line_groups(source: str) -> dict[int, frozenset[int]]:
    """Each line inside a function body -> the lines of its innermost statement (of a compound
    statement or clause: its header). Lines outside every function body (module and class
    statements, decorators, signatures and defaults) run at import: absent here, they need
    every test. A mutated token's line may hold no instruction of its own (a folded constant,
    a continued expression), so a statement's lines are the unit of coverage."""
    groups: dict[int, frozenset[int]] = {}

    def first_line(node: ast.AST) -> int:
        return node.pattern.lineno if isinstance(node, ast.match_case) else node.lineno  # type: ignore[attr-defined]

    def header(start: int, nested: list[ast.AST], end: int) -> None:
        stop = min((first_line(n) for n in nested), default=end + 1) - 1
        lines = frozenset(range(start, max(stop, start) + 1))
        groups.update(dict.fromkeys(lines, lines))

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            nested: list[ast.AST] = [
                child
                for field in ("body", "orelse", "finalbody", "handlers", "cases")
                for child in getattr(node, field, None) or ()
            ]
            header(node.lineno, nested, node.end_lineno or node.lineno)
            for child in nested:
                if isinstance(child, ast.stmt):
                    visit([child])
                else:  # an except clause or a match case: its header, then its body
                    if isinstance(child, ast.ExceptHandler):
                        header(child.lineno, list(child.body), child.lineno)
                    visit(child.body)  # type: ignore[attr-defined]

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            visit(node.body)
    return groups


def select_tests(
    changed: set[int], groups: dict[int, frozenset[int]], covered: dict[str, set[int]]
) -> tuple[set[str] | None, bool]:
    """The test ids that run the changed lines (empty: none does; None: every test), and
    whether the models trained for the shard may be reused: no changed line ran in training
    (a line outside function bodies, a constant, may be read by training without running)."""
    chosen: set[str] = set()
    every = False
    for line in changed:
        if line not in groups:
            return None, False
        for test, lines in covered.items():
            if lines & groups[line]:
                if test == TRAINED:
                    return None, False
                every = every or test == SHARED
                chosen.add(test)
    return (None if every else chosen), True


def changed_lines(pristine: list[str], current: list[str]) -> set[int]:
    """Line numbers (of the pristine module) that the mutant changed."""
    if len(pristine) == len(current):
        return {n for n, (a, b) in enumerate(zip(pristine, current, strict=True), 1) if a != b}
    changed: set[int] = set()
    opcodes = difflib.SequenceMatcher(None, pristine, current, autojunk=False).get_opcodes()
    for tag, i1, i2, _, _ in opcodes:
        if tag != "equal":  # pristine lines i1+1..i2 replaced or deleted; an insertion: both sides
            changed.update(range(i1 + 1, i2 + 1) if i2 > i1 else {max(i1, 1), i1 + 1})
    return changed


def pytest_plugins(filename: str | None, keep: set[str] | None) -> list[object]:
    """The fork server's pytest plugins: a line recorder for `filename` (which test runs which
    line, sys.monitoring, each line reported once per test) and a filter keeping only the
    tests `keep`. Lines run while a session, package, module or class fixture is set up, or at
    import, count as SHARED: tests other than the one that happened to set them up use them."""
    import pytest

    plugins: list[object] = []

    class LineRecorder:
        def __init__(self, filename: str) -> None:
            self.context = SHARED
            self.lines: dict[str, set[int]] = {}
            monitoring = sys.monitoring
            tool = monitoring.COVERAGE_ID

            def line(code: types.CodeType, number: int) -> object:
                if code.co_filename == filename:
                    self.lines.setdefault(self.context, set()).add(number)
                return monitoring.DISABLE

            monitoring.use_tool_id(tool, "mutate")
            monitoring.register_callback(tool, monitoring.events.LINE, line)
            monitoring.set_events(tool, monitoring.events.LINE)

        def switch(self, context: str) -> str:
            previous, self.context = self.context, context
            sys.monitoring.restart_events()
            return previous

        def pytest_collection_finish(self) -> None:
            """Lines run while a test model is trained count as TRAINED."""
            module = sys.modules.get(TEST_MODELS[0])
            train = getattr(module, TEST_MODELS[1], None)
            if train is None:
                return

            def recorded(*args: object, **kwargs: object) -> object:
                previous = self.switch(TRAINED)
                try:
                    return train(*args, **kwargs)
                finally:
                    self.switch(previous)

            setattr(module, TEST_MODELS[1], recorded)

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[object]:
            previous = self.switch(item.nodeid)
            self.lines.setdefault(item.nodeid, set())
            try:
                return (yield)
            finally:
                self.switch(previous)

        @pytest.hookimpl(wrapper=True)
        def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[object]) -> Iterator[object]:
            if fixturedef.scope == "function":
                return (yield)
            previous = self.switch(SHARED)
            try:
                return (yield)
            finally:
                self.switch(previous)

    class OnlyTests:
        def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
            items[:] = [item for item in items if item.nodeid in (keep or ())]

    if filename is not None:
        plugins.append(LineRecorder(filename))
    if keep is not None:
        plugins.append(OnlyTests())
    return plugins


def _pytest_in_child(tests: list[str], plugins: list[object], output: str = os.devnull) -> int:
    sink = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(sink, 1)
    os.dup2(sink, 2)
    import pytest

    return int(pytest.main([*PYTEST_ARGS, *tests], plugins=plugins))


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            done = os.waitpid(pid, 0)
            break
        time.sleep(0.01)
    return os.waitstatus_to_exitcode(done[1])


def record_coverage(module: Path, tests: list[str], out: Path) -> int:
    """Run the shard's tests once on the pristine module, recording per test which of its
    lines ran; writes `out` (JSON) and the library modules the run imported (.preload).
    The project's own modules are compiled to .pyc once here (only the mutated module's
    .pyc is never kept). Returns pytest's exit code."""
    pid = os.fork()
    if pid == 0:
        sys.dont_write_bytecode = False
        plugins = pytest_plugins(str(module.resolve()), None)
        code = _pytest_in_child(tests, plugins, str(out.with_suffix(".txt")))
        covered = {test: sorted(lines) for test, lines in plugins[0].lines.items()}  # type: ignore[attr-defined]
        out.write_text(json.dumps(covered))
        work = str(Path.cwd())
        libraries = sorted(
            name
            for name, loaded in list(sys.modules.items())
            if (origin := getattr(loaded, "__file__", None))
            and not str(Path(origin).resolve()).startswith(work)
            and name != "__main__"
        )
        out.with_suffix(".preload").write_text("\n".join(libraries))
        os._exit(code)
    code = _wait(pid, 3600.0)
    Path(importlib.util.cache_from_source(str(module))).unlink(missing_ok=True)
    return code


def preload_libraries(names: list[str]) -> None:
    """Import what the baseline run imported from libraries; stop at a thread."""
    for name in names:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # a module that only imports in its package's context: left to the child
            continue
        tasks = [t.name for t in Path("/proc/self/task").iterdir()]
        if len(tasks) != 1:
            comm = [(Path("/proc/self/task") / t / "comm").read_text().strip() for t in tasks]
            raise SystemExit(
                f"mutate: importing {name} started a thread ({', '.join(comm)}): the fork "
                "server must stay single-threaded (see SERVER_ENV in scripts/mutate.py)"
            )


def serve(sock_path: str, module: str, select: bool, tests: list[str]) -> None:
    """The fork server: records which test runs which line of the pristine module (the
    baseline run), then per request finds the mutated lines and runs, in a forked child,
    only the tests that run them; answers the exit code (0: survived)."""
    sys.dont_write_bytecode = True  # a mutant must never be read back from a stale .pyc
    for name in PRELOAD:
        importlib.import_module(name)
    tasks = Path("/proc/self/task")
    threads = len(list(tasks.iterdir())) if tasks.is_dir() else 1
    if threads != 1:
        raise SystemExit(f"mutate: the fork server has {threads} threads after its imports")
    path = Path(module)
    pristine = path.read_text().splitlines()
    groups = line_groups("\n".join(pristine))
    state = Path(sock_path).with_suffix("")
    coverage_file = state.with_name(state.name + ".lines.json")
    models = state.with_name(state.name + ".models")
    shutil.rmtree(models, ignore_errors=True)
    models.mkdir()
    os.environ[TEST_MODELS[2]] = str(models)  # filled by the baseline run, pristine
    started = time.monotonic()
    code = record_coverage(path, tests, coverage_file)
    baseline = time.monotonic() - started
    if code != 0:
        output = coverage_file.with_suffix(".txt").read_text()[-3000:]
        raise SystemExit(f"mutate: the tests fail unmutated (exit code {code}):\n{output}")
    covered = {t: set(lines) for t, lines in json.loads(coverage_file.read_text()).items()}
    preload_libraries(coverage_file.with_suffix(".preload").read_text().split())
    # The preloaded heap is never garbage: a child's collections (pytest runs some at the end
    # of a session) skip it instead of walking it, and its pages stay shared.
    gc.collect()
    gc.freeze()
    timeout = max(30.0, baseline * 4)
    state.with_name(state.name + ".baseline.json").write_text(
        json.dumps({"seconds": round(baseline, 2), "timeout": round(timeout)})
    )
    everyone = {t for t in covered if t not in (SHARED, TRAINED)}
    log = state.with_name(state.name + ".select.log").open("a")
    log.write(
        f"# {time.strftime('%Y-%m-%d %H:%M:%S')} baseline {baseline:.1f} s, {len(everyone)} tests\n"
    )
    log.flush()

    Path(sock_path).unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    while True:
        conn, _ = server.accept()
        if conn.recv(16) != b"run":
            conn.close()
            return
        begun = time.monotonic()
        changed = changed_lines(pristine, path.read_text().splitlines())
        Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)
        chosen, reuse_models = select_tests(changed, groups, covered) if select else (None, False)
        if chosen is not None and not chosen:
            code = 0  # no test runs the mutated line: it survives, as it would with them all
        else:
            pid = os.fork()
            if pid == 0:
                server.close()
                conn.close()
                if not reuse_models:
                    os.environ.pop(TEST_MODELS[2], None)
                os._exit(_pytest_in_child(tests, pytest_plugins(None, chosen)))
            code = _wait(pid, timeout)
        ran = ("all" if chosen is None else str(len(chosen))) + (
            "" if reuse_models else " fresh models"
        )
        log.write(
            f"lines {sorted(changed)} tests {ran}/{len(everyone)} exit {code} "
            f"{time.monotonic() - begun:.2f} s\n"
        )
        log.flush()
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


def run_shard(shard: Shard, files: list[str], select: bool) -> dict[str, object]:
    started = time.monotonic()
    work = STATE / "work" / shard.name
    refresh_copy(work, files)
    env = shard_env(work)
    config, session = prepare(shard, work, env, select)
    if not pending(session):
        return summarize(shard, session, time.monotonic() - started)
    for cache in list(work.rglob("__pycache__")):  # compiled afresh by the baseline run
        shutil.rmtree(cache)
    sock = STATE / f"{shard.name}.sock"
    sock.unlink(missing_ok=True)
    server = subprocess.Popen(
        [PYTHON, __file__, "serve", sock, work / shard.module, str(int(select)), *shard.tests],
        cwd=work, env=env | SERVER_ENV,
    )  # fmt: skip
    try:
        # The server first runs the tests once, unmutated, recording which test runs which
        # line; it listens when they pass.
        while not sock.exists():
            if server.poll() is not None:
                raise SystemExit(f"mutate: {shard.name}: the fork server stopped (see above)")
            time.sleep(0.1)
        timeout = json.loads((STATE / f"{shard.name}.baseline.json").read_text())["timeout"]
        write_config(shard, config, timeout + 10)
        with (STATE / f"{shard.name}.log").open("a") as out:
            subprocess.run(
                [TOOLS_BIN / "cosmic-ray", "exec", config, session],
                cwd=work, env=env, check=True, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return summarize(shard, session, time.monotonic() - started)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        sock.unlink(missing_ok=True)
        refresh_copy(work, [shard.module])


def write_config(shard: Shard, config: Path, timeout: float) -> None:
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(shard.module)}\n"
        f"timeout = {timeout:.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(shard))}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )


def prepare(shard: Shard, work: Path, env: dict[str, str], select: bool) -> tuple[Path, Path]:
    """The shard's cosmic-ray config and session; a fresh session (operators and scope
    applied as SKIPPED) when the module, its tests, the shard, the operators or the test
    selection changed."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    config = STATE / f"{shard.name}.toml"
    write_config(shard, config, 600.0)
    session, key_file = STATE / f"{shard.name}.sqlite", STATE / f"{shard.name}.key"
    key = shard_key(shard) + ("" if select else "-all-tests")
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


def summarize(shard: Shard, session: Path, seconds: float) -> dict[str, object]:
    from cosmic_ray.work_db import WorkDB, use_db

    killed = survived = incompetent = 0
    survivors: list[dict[str, object]] = []
    lines_file = STATE / f"{shard.name}.lines.json"
    covered = (
        {t: set(lines) for t, lines in json.loads(lines_file.read_text()).items()}
        if lines_file.exists()
        else None
    )
    groups = line_groups((REPO / shard.module).read_text())
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
                line = mutation.start_pos[0]
                survivors.append(
                    {
                        "where": f"{shard.module}:{line}",
                        "operator": mutation.operator_name.removeprefix("core/"),
                        "occurrence": mutation.occurrence,
                        "becomes": changed[0] if changed else "",
                        # no test of the shard runs the line (as recorded on the pristine code)
                        "not_covered": covered is not None
                        and select_tests({line}, groups, covered)[0] == set(),
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


def run_or_report(shard: Shard, files: list[str], select: bool) -> dict[str, object]:
    """A shard's result; a shard that cannot run is reported, the others still run."""
    try:
        return run_shard(shard, files, select)
    except (SystemExit, subprocess.CalledProcessError) as exc:
        print(f"mutate: {shard.name}: {exc}", file=sys.stderr)
        session = STATE / f"{shard.name}.sqlite"
        empty: dict[str, object] = {"shard": shard.name, "module": shard.module, "mutants": 0}
        kept = summarize(shard, session, 0.0) if session.exists() else empty
        return kept | {"error": str(exc)[:500]}


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5:])
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
    parser.add_argument(
        "--all-tests",
        action="store_true",
        help="run every test of the shard against each mutant (no selection by coverage)",
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
            _, session = prepare(shard, work, shard_env(work), not args.all_tests)
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
            results = list(pool.map(lambda s: run_or_report(s, files, not args.all_tests), chosen))
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
            uncovered = " (no test runs this line)" if s.get("not_covered") else ""
            print(f"SURVIVED {s['where']} {s['operator']}{uncovered}: {s['becomes']}")
    print(
        f"this run: {report['wall_seconds_this_run']} s wall, {report['cpu_seconds_this_run']} s "
        f"CPU, {args.jobs} job(s), load average {os.getloadavg()[0]:.1f}; {report_path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
