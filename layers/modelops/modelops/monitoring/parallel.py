"""Run a function in forked worker processes and collect what each returns.

Only `multiprocessing.Process` and `Pipe` (a socket pair): they work inside Lambda, which
has no /dev/shm for the semaphores `Pool` and `Queue` need. Fork start: the workers inherit
the parent's memory (the feedback index, loaded metadata) instead of receiving a pickled
copy; each sends back one pickled result. A worker's exception fails the whole call with its
traceback.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any


class WorkerError(RuntimeError):
    """A worker process failed; the message carries its traceback."""


def run_forked[R](function: Callable[..., R], arguments: Sequence[tuple[Any, ...]]) -> list[R]:
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


def _work(sender: Connection, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = function(*args)
    except BaseException:
        sender.send((False, traceback.format_exc()))
    else:
        sender.send((True, result))
    finally:
        sender.close()
