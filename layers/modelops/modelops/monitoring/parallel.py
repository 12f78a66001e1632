"""Run a function in forked worker processes and collect what each returns.

Workers are forked only from a process that has no other thread. A thread that holds a
lock (the allocator's, a logging handler's, an import lock) when the process forks leaves
that lock held forever in the child, which then hangs; Python 3.12+ warns about every
such fork (DeprecationWarning). The deployed MonitorFunction has no other thread: it runs
no thread of its own before the workers exist (the scan's read-ahead thread runs inside
each worker), and template.yaml limits numpy's BLAS pool, the only library thread the
monitor would start, to the calling thread (OPENBLAS_NUM_THREADS=1; the monitor does no
linear algebra worth a pool). A process that does have other threads (a test run, a
local server in the same process) runs the same calls one after another in itself
instead: the same results, without the parallelism.

Fork rather than spawn or a fork server: the workers inherit the caller's memory (the
feedback index, whose hashes are only valid in a process with the caller's hash seed) and
the caller's environment, and start in microseconds; a spawned worker would import numpy,
boto3 and the package again for every window (docs/PERFORMANCE.md, "Monitoring").

Only `multiprocessing.Process` and `Pipe` (a socket pair): they work inside Lambda, which
has no /dev/shm for the semaphores `Pool` and `Queue` need. Each worker sends back one
pickled result. A worker's exception fails the whole call with its traceback.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


class WorkerError(RuntimeError):
    """A worker process failed; the message carries its traceback."""


def thread_count() -> int:
    """Threads of this process, including those that Python did not start (a native
    library's pool), where the OS tells; else the threads Python knows of."""
    try:
        return sum(1 for _ in Path("/proc/self/task").iterdir())
    except OSError:
        return threading.active_count()


def can_fork() -> bool:
    """True when forking this process is safe: fork exists and no other thread runs."""
    return hasattr(os, "fork") and thread_count() == 1


def run_forked[R](function: Callable[..., R], arguments: Sequence[tuple[Any, ...]]) -> list[R]:
    """`function(*args)` for each args, in worker processes when `can_fork()`, else one
    after another in this process; results in the order of `arguments`."""
    if not can_fork():
        return [_here(function, args) for args in arguments]
    context = multiprocessing.get_context("fork")
    running = []
    for args in arguments:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(sender, function, args), daemon=True)
        process.start()
        sender.close()
        running.append((process, receiver))
    results: list[R] = []
    failures: list[str] = []
    for process, receiver in running:
        try:
            ok, payload = receiver.recv()
        except EOFError:
            ok, payload = False, "the worker exited without a result"
        finally:
            receiver.close()
        process.join()
        if ok:
            results.append(payload)
        else:
            failures.append(f"worker {process.pid} (exit code {process.exitcode}): {payload}")
    if failures:
        raise WorkerError("; ".join(failures))
    return results


def _here[R](function: Callable[..., R], args: tuple[Any, ...]) -> R:
    """One call in this process, failing as a worker would."""
    try:
        return function(*args)
    except Exception as exc:
        raise WorkerError(f"worker in process {os.getpid()}: {traceback.format_exc()}") from exc


def _work(sender: Connection, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = function(*args)
    except BaseException:
        sender.send((False, traceback.format_exc()))
    else:
        sender.send((True, result))
    finally:
        sender.close()
