"""A small local stand-in for AWS Batch's compute: runs the jobs submitted to a job queue.

moto accepts SubmitJob and, without Docker, marks the job SUCCEEDED without running anything.
This executor takes those jobs from the queue and runs each one's command the way the Batch
container would: the image's entry point (`modelops`, from jobs/train/Dockerfile) followed by
the job's command, with `Ref::name` placeholders replaced by the job's parameters (the job
definition's defaults overridden by the submission's), and the container's environment.

Each job it runs is tagged on Batch (TagResource on the job's ARN) before it starts and again
with its exit code, so a job is never run twice, even by another executor instance.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

CLAIM_TAG = "modelops:local-executor-started"
EXIT_CODE_TAG = "modelops:local-executor-exit-code"
REF_PREFIX = "Ref::"


def default_entry_point() -> list[str]:
    """The training image's ENTRYPOINT: the `modelops` console script of this environment."""
    script = Path(sys.executable).parent / "modelops"
    if script.exists():
        return [str(script)]
    return [
        sys.executable,
        "-c",
        "import sys; from modelops_train.cli import main; sys.exit(main())",
    ]


def substitute_parameters(command: Sequence[str], parameters: Mapping[str, str]) -> list[str]:
    """Batch's substitution: an argument `Ref::name` becomes the parameter `name`'s value.
    A placeholder without a parameter is passed on unchanged, as Batch does."""
    out = []
    for arg in command:
        name = arg.removeprefix(REF_PREFIX) if arg.startswith(REF_PREFIX) else None
        out.append(parameters[name] if name is not None and name in parameters else arg)
    return out


@dataclass(frozen=True)
class JobRun:
    """One job the executor ran: what it ran and how it ended."""

    job_id: str
    job_name: str
    command: list[str]  # the job's command, placeholders substituted
    argv: list[str]  # entry point + command: what was run
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


class LocalBatchExecutor:
    """Runs, once each, the jobs submitted to `job_queue` (name or ARN)."""

    def __init__(
        self,
        job_queue: str,
        *,
        entry_point: Sequence[str] | None = None,
        base_environment: Mapping[str, str] | None = None,
        timeout_seconds: float = 600,
        batch_client: Any = None,
    ) -> None:
        self.job_queue = job_queue
        self.entry_point = list(entry_point) if entry_point is not None else default_entry_point()
        # The local process's environment carries what the job role's credentials and the
        # AWS endpoint give a real container (AWS_ENDPOINT_URL, region, credentials).
        self.base_environment = dict(os.environ if base_environment is None else base_environment)
        self.timeout_seconds = timeout_seconds
        self._batch: Any = batch_client or boto3.client("batch")
        self._lock = threading.Lock()

    def pending_jobs(self) -> list[dict[str, Any]]:
        """Jobs on the queue, oldest first, that no executor has started yet."""
        # With a filter Batch lists jobs of every status (moto marks them SUCCEEDED at once).
        summaries: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "jobQueue": self.job_queue,
            "filters": [{"name": "JOB_NAME", "values": ["*"]}],
        }
        while True:
            page = self._batch.list_jobs(**kwargs)
            summaries.extend(page["jobSummaryList"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        if not summaries:
            return []
        ids = [s["jobId"] for s in summaries]
        jobs: list[dict[str, Any]] = []
        for start in range(0, len(ids), 100):  # DescribeJobs takes up to 100 ids
            jobs.extend(self._batch.describe_jobs(jobs=ids[start : start + 100])["jobs"])
        pending = [
            j for j in jobs if j["status"] != "FAILED" and CLAIM_TAG not in self._tags(j["jobArn"])
        ]
        return sorted(pending, key=lambda j: j["createdAt"])

    def run_pending(self) -> list[JobRun]:
        """Run every pending job, one after another, and return what happened."""
        with self._lock:
            return [self._run(job) for job in self.pending_jobs()]

    def command(self, job: Mapping[str, Any]) -> list[str]:
        """The job's command with its `Ref::` placeholders substituted."""
        command = job.get("container", {}).get("command", [])
        return substitute_parameters(command, job.get("parameters", {}))

    def environment(self, job: Mapping[str, Any]) -> dict[str, str]:
        env = dict(self.base_environment)
        for pair in job.get("container", {}).get("environment", []):
            env[pair["name"]] = pair["value"]
        env["AWS_BATCH_JOB_ID"] = job["jobId"]
        env["AWS_BATCH_JQ_NAME"] = self.job_queue.rsplit("/", 1)[-1]
        return env

    def _tags(self, arn: str) -> dict[str, str]:
        tags: dict[str, str] = self._batch.list_tags_for_resource(resourceArn=arn).get("tags", {})
        return tags

    def _run(self, job: Mapping[str, Any]) -> JobRun:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        self._batch.tag_resource(resourceArn=job["jobArn"], tags={CLAIM_TAG: started})
        command = self.command(job)
        argv = [*self.entry_point, *command]  # what a container of the image runs
        clock = time.perf_counter()
        try:
            done = subprocess.run(
                argv,
                env=self.environment(job),
                capture_output=True,
                text=True,
                timeout=self.timeout_seconds,
                check=False,
            )
            exit_code, stdout, stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            # Batch's attempt timeout: the job fails, the executor goes on
            exit_code = 124
            stdout = _text(exc.stdout)
            stderr = _text(exc.stderr) + f"\njob timed out after {self.timeout_seconds:g} s"
        self._batch.tag_resource(resourceArn=job["jobArn"], tags={EXIT_CODE_TAG: str(exit_code)})
        return JobRun(
            job_id=job["jobId"],
            job_name=job["jobName"],
            command=command,
            argv=argv,
            exit_code=exit_code,
            stdout=stdout,
            stderr=stderr,
            seconds=time.perf_counter() - clock,
        )


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
