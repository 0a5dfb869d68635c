"""Start the ranks of a gloo test as processes, under a hard deadline: a hang fails the test."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable

import pytest

DEADLINE_S = 60.0


def run_ranks(target: Callable, world: int, *args: object, timeout: float = DEADLINE_S) -> None:
    """Run ``target(rank, world, *args)`` in ``world`` spawned processes and wait for them.

    A rank still running after ``timeout`` seconds is killed and the test fails (a collective
    hung); a rank that exits with a non-zero code fails it too (its traceback is on stderr).
    """
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=(rank, world, *args)) for rank in range(world)]
    for process in processes:
        process.start()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    hung = [rank for rank, process in enumerate(processes) if process.is_alive()]
    for rank in hung:
        processes[rank].kill()
        processes[rank].join()
    if hung:
        pytest.fail(f"rank(s) {hung} of {world} still running after {timeout} s: a collective hung")
    codes = {rank: process.exitcode for rank, process in enumerate(processes)}
    failed = {rank: code for rank, code in codes.items() if code != 0}
    assert not failed, f"rank(s) exited with codes {failed} (tracebacks on stderr)"
