"""run_forked: workers are forked only from a process without other threads (else the calls
run in the caller, with the same results); results in argument order; a worker's failure is
raised with its traceback; a thread-free process forks without any warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from modelops.monitoring.parallel import WorkerError, can_fork, run_forked, thread_count


def square_with_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


def fail_on_two(value: int) -> int:
    if value == 2:
        raise ValueError("worker saw 2")
    return value


@pytest.fixture
def another_thread() -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_a_process_with_another_thread_runs_the_calls_itself(another_thread: None) -> None:
    assert thread_count() >= 2 and not can_fork()
    results = run_forked(square_with_pid, [(1,), (2,), (3,)])
    assert results == [(1, os.getpid()), (4, os.getpid()), (9, os.getpid())]


def test_a_failing_call_fails_with_its_traceback_in_the_caller_too(another_thread: None) -> None:
    with pytest.raises(WorkerError) as raised:
        run_forked(fail_on_two, [(1,), (2,)])
    assert "ValueError: worker saw 2" in str(raised.value)


FORKING = """
import json, os, warnings
warnings.simplefilter("error")
from modelops.monitoring.parallel import WorkerError, can_fork, run_forked, thread_count

def square_with_pid(value):
    return value * value, os.getpid()

def fail_on_two(value):
    if value == 2:
        raise ValueError("worker saw 2")
    return value

assert can_fork(), thread_count()
results = run_forked(square_with_pid, [(1,), (2,), (3,)])
try:
    run_forked(fail_on_two, [(1,), (2,)])
    failure = None
except WorkerError as error:
    failure = str(error)
print(json.dumps({"pid": os.getpid(), "results": results, "failure": failure}))
"""


def thread_free_environment() -> dict[str, str]:
    """What MonitorFunction runs with (template.yaml): numpy's BLAS pool is one thread."""
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1"}


def test_a_thread_free_process_forks_workers_without_a_warning() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKING],
        env=thread_free_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r[0] for r in out["results"]] == [1, 4, 9]
    pids = {r[1] for r in out["results"]}
    assert out["pid"] not in pids and len(pids) == 3
    assert "ValueError: worker saw 2" in out["failure"]


def test_a_worker_makes_its_own_client_from_the_session_it_inherited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A forked scan worker needs connections of its own (a new client), but not a new
    parse of the S3 service model: the client comes from the inherited session."""
    from modelops import aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset_clients()
    parent = aws.client("s3")
    aws.forget_clients()
    worker = aws.client("s3")
    assert worker is not parent
    assert worker._endpoint is not parent._endpoint  # its own connection pool
    # The same parsed service description: the session's loader cache, not a second parse.
    assert worker.meta.service_model._service_description is (
        parent.meta.service_model._service_description
    )
    aws.reset_clients()
    fresh = aws.client("s3")
    assert fresh.meta.service_model._service_description is not (
        parent.meta.service_model._service_description
    )
