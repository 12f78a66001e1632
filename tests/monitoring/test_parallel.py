"""run_forked: results in argument order, a worker's failure raised with its traceback."""

from __future__ import annotations

import os

import pytest

from modelops.monitoring.parallel import WorkerError, run_forked


def square_with_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


def fail_on_two(value: int) -> int:
    if value == 2:
        raise ValueError("worker saw 2")
    return value


def test_results_come_back_in_order_from_other_processes() -> None:
    results = run_forked(square_with_pid, [(1,), (2,), (3,)])
    assert [r[0] for r in results] == [1, 4, 9]
    assert os.getpid() not in {r[1] for r in results}


def test_a_failing_worker_fails_the_call_with_its_traceback() -> None:
    with pytest.raises(WorkerError) as raised:
        run_forked(fail_on_two, [(1,), (2,)])
    assert "ValueError: worker saw 2" in str(raised.value)
