"""The whole model lifecycle on embedded AWS: build, deploy, serve, monitor, retrain, roll out.

`run_loop` is what `make demo` (python -m demo) runs and what tests/e2e/test_loop.py runs
with less traffic. Everything goes through the real parts: the training job's entry point
run by the local Batch executor, the functions' handlers loaded from template.yaml and
invoked with API Gateway events (through the same translation as `make api`) and directly,
captures through the Firehose stream, reports and markers in S3, the retraining job submitted
by the monitor to moto's Batch queue, and the RetrainingRequested event delivered by the
template's rule to the alert topic (observed through an SQS subscription).

The retrained version does not go straight to all traffic: it becomes the challenger in
shadow, scores every request beside the champion (the client gets the champion's answer
only), and the next window's monitor run compares both on the same labeled requests and
promotes it. Then a deliberately bad candidate (trained on shuffled labels) goes through the
same door and is rejected by the monitor without ever answering a client.

Windows are real: each is the span of wall-clock time in which its traffic was sent and its
labels arrived, so every captured record keeps the time it was really served at.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import boto3

from embedded_aws.batch_executor import JobRun, LocalBatchExecutor
from embedded_aws.lambda_runtime import LocalFunction
from embedded_aws.local_api import (
    LocalApi,
    gateway_responses_from_template,
    routes_from_template,
    stage_name,
)
from embedded_aws.provision import STACK_NAME, LocalStack, provision_stack
from embedded_aws.server import embedded_aws
from embedded_aws.template import parameter_default
from modelops import aws
from modelops.registry import CHAMPION, ModelRegistry

# Parameter overrides of the local stack (as `sam deploy --parameter-overrides` would set):
# captures go straight to Firehose (the default log sink needs CloudWatch Logs' subscription
# delivery, which moto does not run); serving re-checks the champion every 2 s; the monitor
# reads in one process (on Lambda it forks workers from a single-threaded process, here the
# process also runs moto's server threads, and fork() with threads can deadlock); function
# logs stay quiet so the demo's own story is readable (they are kept in demo-output/).
# The demo's windows hold hundreds of labels, not an hour's thousands: a holdout AUC from a
# few hundred rows moves by several points between samples, so a 5 % tolerance would call a
# healthy retrained model DEGRADED by chance. 10 % still catches window 2's 60 % drop.
# The retrained version earns its traffic: it becomes the challenger in shadow (the stack's
# default RetrainingPromote=challenger), decided by the monitor on the next window.
STACK_PARAMETERS = {
    "CaptureSink": "firehose",
    "ModelRefreshSeconds": "2",
    "MonitorWorkers": "1",
    "LogLevel": "WARNING",
    "PerformanceTolerance": "0.1",
}
API_KEY = "demo-api-key"


@dataclass(frozen=True)
class LoopConfig:
    training_rows: int = 4000
    # Windows: 1 as trained, 2 drifted (retraining), 3 the retrained challenger in shadow
    # (promoted), 4 the bad candidate in shadow (rejected).
    rows_per_window: tuple[int, int, int, int] = (800, 2000, 1200, 1200)
    # Share of each window's rows whose ground truth arrives before the window is monitored.
    # Few labels of the old world in window 1 keep the retraining data mostly of the new one.
    labeled_share: tuple[float, float, float, float] = (0.25, 0.8, 0.8, 0.8)
    # Rows of the bad candidate's training data (the new world, its labels shuffled).
    bad_candidate_rows: int = 1500
    rows_per_request: int = 100
    numeric_shift: float = 25.0
    new_category_share: float = 0.2
    concept_drift: float = 1.0
    seed: int = 0
    output_dir: Path = Path("demo-output")
    # moto's servers in one process share their state: tests give each run its own names
    stack_name: str = STACK_NAME


@dataclass
class Captured:
    """What the window's capture records say, read back from S3: per version, the rows it
    answered (the client's answer) and the rows it scored in shadow (never returned)."""

    records: int = 0
    answered_by: dict[int, int] = field(default_factory=dict)
    shadowed_by: dict[int, int] = field(default_factory=dict)
    shadow_errors: int = 0


@dataclass
class WindowOutcome:
    name: str
    start: datetime
    end: datetime
    rows_sent: int
    labels_sent: int
    served_versions: set[int]  # every version named in a response, request- or row-level
    client_accuracy: float  # from the responses and the labels the demo sent
    summary: dict[str, Any]
    html_report: Path | None = None
    captured: Captured = field(default_factory=Captured)
    inference_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def status(self) -> str:
        return str(self.summary["status"])

    @property
    def drifted_features(self) -> list[str]:
        drift = self.summary.get("drift") or {}
        return sorted(name for name, f in (drift.get("features") or {}).items() if f.get("drifted"))

    @property
    def primary_metric(self) -> tuple[str, float | None, float | None]:
        """(name, value in this window, the serving model's baseline)."""
        performance = self.summary.get("performance") or {}
        primary = performance.get("primary_metric") or "accuracy"
        name = primary.get("name", "accuracy") if isinstance(primary, dict) else str(primary)
        value = (performance.get("metrics") or {}).get(name)
        baseline = (performance.get("baseline") or {}).get(name)
        return name, value, baseline

    @property
    def retraining(self) -> dict[str, Any]:
        return self.summary.get("retraining") or {}

    @property
    def rollout(self) -> dict[str, Any]:
        """The monitor's decision on the challenger that ran in this window ({} if none)."""
        return self.summary.get("rollout") or {}

    @property
    def rollout_action(self) -> str | None:
        """promoted, rejected, observing, already-decided, or None (no challenger)."""
        outcome = self.rollout.get("outcome") or {}
        return outcome.get("action")


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str


@dataclass
class LoopResult:
    windows: list[WindowOutcome] = field(default_factory=list)
    initial_version: int | None = None
    retraining_run: JobRun | None = None
    retraining_result: dict[str, Any] | None = None
    champion_after_retraining: int | None = None
    champion_after_window_3: int | None = None
    bad_candidate_result: dict[str, Any] | None = None
    champion_after: int | None = None  # at the end of the run
    events: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    step_seconds: list[tuple[str, float]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


class Narrator:
    """Prints the story step by step (or nothing, for tests)."""

    def __init__(self, out: Callable[[str], None] | None = print) -> None:
        self.out = out
        self.started = time.monotonic()
        self.step_starts: list[tuple[str, float]] = [("0. embedded AWS and the stack", 0.0)]

    def step(self, number: int, text: str) -> None:
        offset = time.monotonic() - self.started
        self.step_starts.append((f"{number}. {text}", offset))
        self.say(f"\n[{offset:6.1f}s] {number}. {text}")

    def step_seconds(self) -> list[tuple[str, float]]:
        """How long each step took, in order."""
        ends = [start for _, start in self.step_starts[1:]] + [time.monotonic() - self.started]
        return [
            (name, end - start) for (name, start), end in zip(self.step_starts, ends, strict=True)
        ]

    def say(self, text: str) -> None:
        if self.out is not None:
            self.out(text)


class Traffic:
    """Sends predictions and labels through the functions' two doors: API Gateway events
    (the local API's translation of an HTTP request) and direct invocations."""

    def __init__(self, api: LocalApi, predict: LocalFunction, feedback: LocalFunction) -> None:
        self.api = api
        self.predict = predict
        self.feedback = feedback
        self.requests = 0

    def _via_api(self) -> bool:
        self.requests += 1
        return self.requests % 2 == 1

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = [
            ("Content-Type", "application/json"),
            ("x-api-key", self.api.api_key),
            ("User-Agent", "demo"),
        ]
        response = self.api.handle("POST", path, headers, json.dumps(body).encode(), "127.0.0.1")
        return response.status, json.loads(response.body)

    def predict_rows(self, instances: list[dict[str, Any]], ids: list[str]) -> dict[str, Any]:
        body = {"instances": instances, "inference_ids": ids}
        if self._via_api():
            status, payload = self._post("/predict", body)
            if status != 200:
                raise RuntimeError(f"POST /predict answered {status}: {payload}")
            return payload
        result: dict[str, Any] = self.predict.invoke(body)
        return result

    def send_labels(self, labels: list[dict[str, Any]]) -> int:
        body = {"labels": labels}
        if self._via_api():
            status, payload = self._post("/feedback", body)
            if status != 202:
                raise RuntimeError(f"POST /feedback answered {status}: {payload}")
        else:
            payload = self.feedback.invoke(body)
        return int(payload["accepted"])


def run_loop(
    config: LoopConfig = LoopConfig(), *, say: Callable[[str], None] | None = print
) -> LoopResult:
    """Run the loop on a fresh embedded AWS; the result says what happened and whether the
    loop closed (`checks`, judged from real outcomes: reports, registry, responses)."""
    started = time.monotonic()
    narrator = Narrator(say)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    result = LoopResult()
    with embedded_aws() as endpoint, (config.output_dir / "lambda-logs.txt").open("w") as logs:
        aws.reset_clients()  # shared clients must reach the embedded endpoint
        narrator.say(f"embedded AWS (moto) on {endpoint}")
        stack = provision_stack(stack_name=config.stack_name, parameters=STACK_PARAMETERS)
        narrator.say(
            f"provisioned from template.yaml: bucket {stack.bucket}, Firehose {stack.ref('CaptureDeliveryStream')}, "
            f"Batch queue {stack.ref('TrainingJobQueue.JobQueueName')}, rule {stack.ref('RetrainingRequestedRule')}"
        )
        _run(config, stack, narrator, result, logs)
    result.seconds = time.monotonic() - started
    result.step_seconds = narrator.step_seconds()
    return result


def _run(
    config: LoopConfig,
    stack: LocalStack,
    narrator: Narrator,
    result: LoopResult,
    logs: TextIO,
) -> None:
    from embedded_aws.churn_data import TARGET, generate_churn

    model_name = str(parameter_default("ModelName"))
    registry = ModelRegistry(stack.bucket)
    executor = LocalBatchExecutor(stack.ref("TrainingJobQueue"))
    events_queue = _observe_events(stack, ("RetrainingRequestedRule", "RolloutDecisionsRule"))
    refresh = float(STACK_PARAMETERS["ModelRefreshSeconds"]) + 0.2

    # 1 ------------------------------------------------------------------ build
    narrator.step(
        1,
        f"generate {config.training_rows} customers and run the training job (Batch, local executor)",
    )
    initial = _train_on(
        stack,
        executor,
        config,
        f"datasets/{model_name}/initial.csv",
        generate_churn(config.training_rows, seed=config.seed),
        name="initial",
    )
    initial_result = _job_result(initial)
    result.initial_version = int(initial_result["version"])
    narrator.say(
        f"   ran `modelops {' '.join(initial.command)}` -> v{initial_result['version']} "
        f"promoted={initial_result['promoted']} metrics={_fmt_metrics(initial_result['metrics'])} ({initial.seconds:.1f}s)"
    )
    narrator.say(f"   published to {initial_result['location']}")

    # 2, 3 ----------------------------------------------------------- deploy, serve, monitor
    predict = LocalFunction.from_stack(stack, "PredictFunction", stdout=logs)
    feedback = LocalFunction.from_stack(stack, "FeedbackFunction", stdout=logs)
    monitor = LocalFunction.from_stack(stack, "MonitorFunction", stdout=logs)
    functions = {"PredictFunction": predict, "FeedbackFunction": feedback}
    api = LocalApi(
        routes_from_template(refs=stack.refs),
        lambda name, event: functions[name].invoke(event),
        api_key=API_KEY,
        stage=stage_name(refs=stack.refs),
        gateway_responses=gateway_responses_from_template(refs=stack.refs),
    )
    traffic = Traffic(api, predict, feedback)

    drift_knobs = {
        "numeric_shift": config.numeric_shift,
        "new_category_share": config.new_category_share,
        "concept_drift": config.concept_drift,
    }
    drift_text = (
        f"with injected drift (monthly_charges +{config.numeric_shift:g}, "
        f"{config.new_category_share:.0%} new plan 'enterprise', concept drift {config.concept_drift:g})"
    )
    windows: list[tuple[str, dict[str, float], str, tuple[int, int]]] = [
        ("window 1", {}, "like the training data", (2, 3)),
        ("window 2", drift_knobs, drift_text, (4, 5)),
        ("window 3", drift_knobs, "of the new world", (8, 9)),
        ("window 4", drift_knobs, "of the new world", (11, 12)),
    ]
    for index, ((name, knobs, described, (serve_step, monitor_step)), rows, share) in enumerate(
        zip(windows, config.rows_per_window, config.labeled_share, strict=True)
    ):
        narrator.step(
            serve_step, f"{name}: serve {rows} rows {described}; labels for {share:.0%} of them"
        )
        frame = generate_churn(rows, seed=config.seed + index + 1, **knobs)
        outcome = _serve_window(name, frame, share, traffic, config, narrator)
        outcome.captured = _read_captures(stack, model_name, set(outcome.inference_ids))
        _say_captured(narrator, outcome)
        narrator.step(
            monitor_step,
            f"{name}: MonitorFunction (direct invocation) on {_span(outcome.start, outcome.end)}",
        )
        outcome.summary = monitor.invoke(
            {"window": {"start": _iso(outcome.start), "end": _iso(outcome.end)}}
        )
        outcome.html_report = _copy_html_report(stack, outcome, config.output_dir)
        result.windows.append(outcome)
        _say_monitor(narrator, outcome)

        if name == "window 2":
            _retrain(outcome, executor, registry, model_name, config, narrator, result)
            narrator.step(
                7,
                f"v{result.champion_after_retraining} stays champion; the retrained version is "
                "its challenger in shadow: PredictFunction picks it up without a restart",
            )
        elif name == "window 3":
            result.champion_after_window_3 = _champion(registry, model_name)
            # 10 ---------------------------------------------- a bad candidate
            narrator.step(
                10,
                "a bad candidate: the training job on new-world data whose labels were shuffled "
                "(a broken join); it enters shadow like any new version",
            )
            corrupted = generate_churn(
                config.bad_candidate_rows, seed=config.seed + 100, **drift_knobs
            )
            corrupted[TARGET] = (
                corrupted[TARGET].sample(frac=1.0, random_state=config.seed).to_numpy()
            )
            run = _train_on(
                stack,
                executor,
                config,
                f"datasets/{model_name}/shuffled-labels.csv",
                corrupted,
                name="bad-candidate",
                # A linear model: as useless on shuffled labels, and trained in a fraction
                # of the time of the default gradient boosting.
                options=("--estimator", "linear"),
            )
            result.bad_candidate_result = _job_result(run)
            r = result.bad_candidate_result
            narrator.say(
                f"   ran `modelops {' '.join(run.command)}` -> v{r['version']} "
                f"({r['promotion']['reason']})"
            )
        if name in ("window 2", "window 3"):
            # a warm PredictFunction re-checks both aliases every ModelRefreshSeconds
            time.sleep(refresh)
    result.champion_after = _champion(registry, model_name)
    result.events = _received_events(events_queue)
    for event in result.events:
        narrator.say(f"   event {event.get('detail-type')} from {event.get('source')}")
    result.checks = judge(result)


def _retrain(
    outcome: WindowOutcome,
    executor: LocalBatchExecutor,
    registry: ModelRegistry,
    model_name: str,
    config: LoopConfig,
    narrator: Narrator,
    result: LoopResult,
) -> None:
    """6: the local Batch executor runs the job the monitor submitted."""
    narrator.step(6, "the local Batch executor runs the job the monitor submitted")
    runs = executor.run_pending()
    for job_run in runs:
        _keep_job_log(job_run, config.output_dir)
    submitted = outcome.retraining.get("job_id")
    retraining = next((r for r in runs if r.job_id == submitted), None)
    if retraining is not None:
        result.retraining_run = retraining
        narrator.say(
            f"   ran `modelops {' '.join(retraining.command)}` (exit {retraining.exit_code}, {retraining.seconds:.1f}s)"
        )
        if retraining.succeeded:
            result.retraining_result = _job_result(retraining)
            r = result.retraining_result
            narrator.say(
                f"   -> v{r['version']} ({r['promotion']['reason']}) "
                f"metrics={_fmt_metrics(r['metrics'])}"
            )
            narrator.say(f"   published to {r['location']}")
        else:
            narrator.say(f"   the job failed:\n{retraining.stderr[-2000:]}")
    else:
        narrator.say(
            f"   the monitor's job {submitted} was not on the queue (ran: {[r.job_id for r in runs]})"
        )
    result.champion_after_retraining = _champion(registry, model_name)


def _train_on(
    stack: LocalStack,
    executor: LocalBatchExecutor,
    config: LoopConfig,
    data_key: str,
    frame: Any,
    *,
    name: str,
    options: Sequence[str] = (),
) -> JobRun:
    """Upload `frame`, submit the training job on it and run it (`modelops train` promotes by
    default as a challenger: the first version becomes champion, any later one challenger)."""
    from embedded_aws.churn_data import TARGET

    boto3.client("s3").put_object(
        Bucket=stack.bucket, Key=data_key, Body=frame.to_csv(index=False).encode()
    )
    boto3.client("batch").submit_job(
        jobName=f"modelops-{name}-churn",
        jobQueue=stack.ref("TrainingJobQueue"),
        jobDefinition=stack.ref("TrainingJobDefinition"),
        containerOverrides={
            "command": [
                "train",
                "--data",
                f"s3://{stack.bucket}/{data_key}",
                "--target",
                TARGET,
                "--model-name",
                "Ref::model_name",
                "--seed",
                str(config.seed),
                *options,
            ],
        },
    )
    (run,) = executor.run_pending()
    _keep_job_log(run, config.output_dir)
    return run


def _champion(registry: ModelRegistry, model_name: str) -> int | None:
    champion = registry.get_alias(model_name, CHAMPION)
    return champion.version if champion else None


def _serve_window(
    name: str,
    frame: Any,
    labeled_share: float,
    traffic: Traffic,
    config: LoopConfig,
    narrator: Narrator,
) -> WindowOutcome:
    from embedded_aws.churn_data import TARGET, as_instances

    start = _next_whole_second()
    instances = as_instances(frame)
    truth = frame[TARGET].tolist()
    run_id = uuid.uuid4().hex[:8]
    ids = [f"{name.replace(' ', '')}-{run_id}-{i:05d}" for i in range(len(instances))]
    predicted: list[Any] = []
    versions: set[int] = set()
    for chunk in _chunks(range(len(instances)), config.rows_per_request):
        payload = traffic.predict_rows([instances[i] for i in chunk], [ids[i] for i in chunk])
        versions.add(int(payload["model"]["version"]))
        for p in payload["predictions"]:
            if "model" in p:  # a canary names the version that answered each row
                versions.add(int(p["model"]["version"]))
            predicted.append(p["label"])
    labeled = list(range(int(len(instances) * labeled_share)))
    accepted = 0
    for chunk in _chunks(labeled, 500):
        accepted += traffic.send_labels(
            [{"inference_id": ids[i], "label": truth[i]} for i in chunk]
        )
    # The window closes after its last record; whole seconds keep window keys (report paths,
    # retraining markers) distinct and readable.
    end = _next_whole_second()
    correct = sum(1 for i in labeled if predicted[i] == truth[i])
    narrator.say(
        f"   {len(instances)} rows served by v{', v'.join(map(str, sorted(versions)))} "
        f"({traffic.requests} requests so far, half as API Gateway events); {accepted} labels accepted"
    )
    return WindowOutcome(
        name=name,
        start=start,
        end=end,
        rows_sent=len(instances),
        labels_sent=accepted,
        served_versions=versions,
        client_accuracy=correct / len(labeled) if labeled else float("nan"),
        summary={},
        inference_ids=ids,
    )


def judge(result: LoopResult) -> list[Check]:
    """Did the loop close? Each check reads a real outcome."""
    checks: list[Check] = []

    def check(what: str, ok: bool, detail: str) -> None:
        checks.append(Check(what, bool(ok), detail))

    check(
        "v1 trained and champion",
        result.initial_version == 1,
        f"initial version {result.initial_version}",
    )
    if len(result.windows) != 4:
        check("four windows monitored", False, f"{len(result.windows)} windows")
        return checks
    w1, w2, w3, w4 = result.windows
    for w in result.windows:
        counts = w.summary.get("counts", {})
        check(
            f"{w.name}: every served row and label was captured and joined",
            counts.get("predictions") == w.rows_sent and counts.get("labeled") == w.labels_sent,
            f"monitor counted {counts.get('predictions')} rows / {counts.get('labeled')} labeled; "
            f"sent {w.rows_sent} / {w.labels_sent}",
        )
        accuracy = ((w.summary.get("performance") or {}).get("metrics") or {}).get("accuracy")
        check(
            f"{w.name}: the monitor's accuracy matches the clients' own count",
            accuracy is not None and abs(accuracy - w.client_accuracy) < 1e-9,
            f"monitor {accuracy}, client {w.client_accuracy:.4f}",
        )
    check(
        "window 1: OK, no action",
        w1.status == "OK" and not w1.retraining.get("triggered"),
        f"status {w1.status}",
    )
    check(
        "window 2: drift and degraded performance detected",
        w2.status in ("DRIFT", "DEGRADED")
        and bool(w2.drifted_features)
        and bool((w2.summary.get("performance") or {}).get("degraded")),
        f"status {w2.status}, drifted {w2.drifted_features}, performance {w2.primary_metric}",
    )
    check(
        "window 2: retraining submitted to Batch",
        bool(w2.retraining.get("triggered") and w2.retraining.get("job_id")),
        str(w2.retraining.get("reason")),
    )
    check(
        "RetrainingRequested event delivered by the template's rule",
        any(
            e.get("detail-type") == "RetrainingRequested"
            and e.get("detail", {}).get("job", {}).get("id") == w2.retraining.get("job_id")
            for e in result.events
        ),
        f"{len(result.events)} event(s) received",
    )
    run = result.retraining_run
    check(
        "the submitted job ran the training entry point with the monitor's command",
        run is not None and run.succeeded and run.command[:2] == ["train", "--from-feedback"],
        "exit code " + (str(run.exit_code) if run else "-"),
    )
    retrained = result.retraining_result or {}
    new_version = retrained.get("version")
    check(
        "the retrained version entered shadow as v1's challenger, not champion",
        new_version == 2
        and not retrained.get("promoted")
        and (retrained.get("challenger") or {}).get("mode") == "shadow"
        and result.champion_after_retraining == 1,
        f"retrained v{new_version}, challenger {retrained.get('challenger')}, "
        f"champion v{result.champion_after_retraining}",
    )
    _rollout_checks(check, w3, champion=1, challenger=2, expected="promoted")
    check(
        "after window 3 the challenger is champion (decided by the monitor on live evidence)",
        result.champion_after_window_3 == 2,
        f"champion v{result.champion_after_window_3}",
    )
    bad = result.bad_candidate_result or {}
    check(
        "the bad candidate (shuffled labels) entered shadow as v2's challenger",
        bad.get("version") == 3
        and (bad.get("challenger") or {}).get("mode") == "shadow"
        and (bad.get("challenger") or {}).get("champion_version") == 2,
        f"v{bad.get('version')}, challenger {bad.get('challenger')}",
    )
    _rollout_checks(check, w4, champion=2, challenger=3, expected="rejected")
    check(
        "the rejected candidate never became champion",
        result.champion_after == 2,
        f"champion v{result.champion_after}",
    )
    for detail_type, version in (("ModelPromoted", 2), ("ChallengerRejected", 3)):
        sent = [e for e in result.events if e.get("detail-type") == detail_type]
        check(
            f"{detail_type} for v{version} delivered once by the template's rule",
            len(sent) == 1 and sent[0].get("detail", {}).get("challenger_version") == version,
            f"{len(sent)} {detail_type} event(s)",
        )
    _, v2, _ = w2.primary_metric
    _, v4, _ = w4.primary_metric
    check(
        "window 4: performance recovered (served by the promoted version)",
        v2 is not None
        and v4 is not None
        and v4 > v2
        and not (w4.summary.get("performance") or {}).get("degraded"),
        f"primary metric {v2} -> {v4}",
    )
    check(
        "HTML reports written",
        all(w.html_report is not None and w.html_report.exists() for w in result.windows),
        "",
    )
    return checks


def _rollout_checks(
    check: Callable[[str, bool, str], None],
    w: WindowOutcome,
    *,
    champion: int,
    challenger: int,
    expected: str,
) -> None:
    """A shadow window: only the champion answered (responses and captures), the challenger
    scored every row beside it, and the monitor decided `expected` on the same labeled rows."""
    c = w.captured
    check(
        f"{w.name}: only v{champion} answered clients; v{challenger} scored every row in shadow",
        w.served_versions == {champion}
        and c.answered_by == {champion: w.rows_sent}
        and c.shadowed_by == {challenger: w.rows_sent}
        and c.shadow_errors == 0,
        f"responses named {sorted(w.served_versions)}; captures answered by {c.answered_by}, "
        f"shadow {c.shadowed_by}, {c.shadow_errors} shadow errors",
    )
    r = w.rollout
    rows = ((r.get("decision") or {}).get("statistics") or {}).get("labeled_rows") or {}
    check(
        f"{w.name}: the monitor compared v{challenger} with v{champion} on the same labeled "
        f"rows and it was {expected}",
        r.get("challenger_version") == challenger
        and r.get("champion_version") == champion
        and r.get("mode") == "shadow"
        and rows == {"champion": w.labels_sent, "challenger": w.labels_sent}
        and w.rollout_action == expected,
        f"{w.rollout_action}: {(r.get('decision') or {}).get('reason') or r.get('error')}",
    )


def format_table(result: LoopResult) -> str:
    header = (
        "window",
        "rows",
        "labeled",
        "drifted features",
        "primary metric",
        "serving version",
        "challenger (shadow, same requests)",
        "action",
    )
    rows = [header]
    for w in result.windows:
        name, value, baseline = w.primary_metric
        metric = (
            f"{name} {value:.3f} (baseline {baseline:.3f})"
            if value is not None and baseline is not None
            else "-"
        )
        counts = w.summary.get("counts", {})
        if w.retraining.get("triggered"):
            action = "retraining submitted"
        else:  # the reason's first clause: "status is OK", "cooldown", ...
            action = "none (" + str(w.retraining.get("reason", "")).split(":")[0] + ")"
        challenger = (result.retraining_result or {}).get("challenger")
        if w.name == "window 2" and challenger:
            action += f" -> v{challenger['version']} challenger ({challenger['mode']})"
        bad = (result.bad_candidate_result or {}).get("challenger")
        if w.name == "window 3" and bad:
            action += f"; bad candidate v{bad['version']} challenger"
        rollout = (
            f"{_rollout_text(w)} -> {w.rollout_action}"
            if w.rollout_action
            else ("failed: " + str(w.rollout["error"]) if w.rollout.get("error") else "-")
        )
        rows.append(
            (
                f"{w.name} [{w.status}]",
                str(counts.get("predictions", "-")),
                str(counts.get("labeled", "-")),
                ", ".join(w.drifted_features) or "none",
                metric,
                ", ".join(f"v{v}" for v in sorted(w.served_versions)),
                rollout,
                action,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------- helpers


def _observe_events(stack: LocalStack, rules: Sequence[str]) -> str:
    """An SQS queue as a target of the template's event rules (their own target, the alert
    topic, is one moto's EventBridge cannot deliver to): the event patterns are the
    template's, so an event arriving here is one the deployed rules would forward."""
    sqs = boto3.client("sqs")
    url: str = sqs.create_queue(QueueName=f"{stack.name}-demo-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for rule in rules:
        boto3.client("events").put_targets(
            Rule=stack.ref(rule), Targets=[{"Id": "demo-probe", "Arn": arn}]
        )
    return url


def _received_events(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    events = []
    for _ in range(10):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            body = json.loads(message["Body"])
            events.append(
                json.loads(body["Message"]) if "Message" in body and "detail" not in body else body
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return events


def _read_captures(stack: LocalStack, model_name: str, ids: set[str]) -> Captured:
    """The capture records of these inference ids, as the stack delivered them to S3."""
    s3 = boto3.client("s3")
    captured = Captured()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.bucket, Prefix=f"capture/{model_name}/"
    )
    for page in pages:
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=stack.bucket, Key=item["Key"])["Body"].read()
            for line in body.splitlines():
                record = json.loads(line)
                if record.get("eventMetadata", {}).get("inferenceId") not in ids:
                    continue
                captured.records += 1
                answered = int(record["model"]["version"])
                captured.answered_by[answered] = captured.answered_by.get(answered, 0) + 1
                shadow = record.get("shadow")
                if isinstance(shadow, dict):
                    if "output" in shadow:
                        version = int(shadow["model"]["version"])
                        captured.shadowed_by[version] = captured.shadowed_by.get(version, 0) + 1
                    else:
                        captured.shadow_errors += 1
    return captured


def _keep_job_log(run: JobRun, output_dir: Path) -> None:
    """The job's output, as CloudWatch Logs would keep a Batch job's."""
    log = output_dir / f"batch-job-{run.job_name}.log"
    log.write_text(
        f"$ {' '.join(run.argv)}\nexit code {run.exit_code}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    )


def _job_result(run: JobRun) -> dict[str, Any]:
    """The training job's one JSON result line (contract section 7)."""
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if not run.succeeded or not lines:
        raise RuntimeError(
            f"training job {run.job_name} failed (exit {run.exit_code}):\n{run.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _copy_html_report(stack: LocalStack, outcome: WindowOutcome, output_dir: Path) -> Path | None:
    reports = outcome.summary.get("reports") or {}
    location = reports.get("html") if isinstance(reports, dict) else None
    if not location:
        return None
    key = location.split(f"s3://{stack.bucket}/", 1)[-1]
    target = output_dir / f"{outcome.name.replace(' ', '-')}-report.html"
    target.write_bytes(boto3.client("s3").get_object(Bucket=stack.bucket, Key=key)["Body"].read())
    return target


def _say_monitor(narrator: Narrator, w: WindowOutcome) -> None:
    counts = w.summary.get("counts", {})
    name, value, baseline = w.primary_metric
    metric = (
        f"{name} {value:.3f} vs baseline {baseline:.3f}"
        if value is not None and baseline is not None
        else "no labels"
    )
    narrator.say(
        f"   status {w.status}: {counts.get('predictions')} rows, {counts.get('labeled')} labeled; "
        f"drifted: {', '.join(w.drifted_features) or 'none'}; {metric}"
    )
    if w.rollout_action:
        narrator.say(f"   rollout: {_rollout_text(w)} -> {w.rollout_action}")
        narrator.say(f"   why: {(w.rollout.get('decision') or {}).get('reason')}")
    elif w.rollout.get("error"):
        narrator.say(f"   rollout: the decision failed: {w.rollout['error']}")
    narrator.say(f"   retraining: {w.retraining.get('reason')}")
    if w.html_report:
        narrator.say(f"   report: {w.html_report}")


def _say_captured(narrator: Narrator, w: WindowOutcome) -> None:
    c = w.captured
    answered = ", ".join(f"v{v} {n}" for v, n in sorted(c.answered_by.items()))
    line = f"   captures in S3: {c.records} records; answered to clients by {answered or 'none'}"
    if c.shadowed_by or c.shadow_errors:
        shadowed = ", ".join(f"v{v} {n}" for v, n in sorted(c.shadowed_by.items()))
        line += f"; scored in shadow (never returned) by {shadowed or 'none'}"
        if c.shadow_errors:
            line += f", {c.shadow_errors} shadow errors"
    narrator.say(line)


def _rollout_text(w: WindowOutcome) -> str:
    """'v2 shadow vs v1: roc_auc 0.712 vs 0.281 on 960 labeled rows' (what the table shows)."""
    r = w.rollout
    test = ((r.get("decision") or {}).get("statistics") or {}).get("test") or {}
    rows = ((r.get("decision") or {}).get("statistics") or {}).get("labeled_rows") or {}
    text = f"v{r.get('challenger_version')} {r.get('mode')} vs v{r.get('champion_version')}"
    metric = ((r.get("decision") or {}).get("statistics") or {}).get("metric")
    if test.get("challenger") is not None and test.get("champion") is not None:
        text += (
            f": {metric} {test['challenger']:.3f} vs {test['champion']:.3f} "
            f"on {min(rows.values(), default=0)} labeled rows"
        )
    return text


def _chunks(items: Sequence[int] | range, size: int) -> Iterator[list[int]]:
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _next_whole_second() -> datetime:
    """Wait for the next whole second of the clock and return it."""
    now = datetime.now(UTC)
    boundary = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((boundary - now).total_seconds())
    return boundary


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _span(start: datetime, end: datetime) -> str:
    return f"{_iso(start)} .. {_iso(end)} ({(end - start).total_seconds():.1f}s of real traffic)"


def _fmt_metrics(metrics: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.3f}" for k, v in sorted(metrics.items()) if isinstance(v, (int, float))
    )
