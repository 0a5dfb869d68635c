"""Start the ranks of a gloo test as processes, under a hard deadline: a hang fails the test."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable

import pytest

DEADLINE_S = 60.0


def _run_and_leave(target: Callable, rank: int, world: int, *args: object) -> None:
    """Run one rank, then leave with ``os._exit``: torch's gloo backend now and then aborts in
    interpreter finalization ("terminate called without an active exception", a thread
    object destroyed while still joinable) after the rank's work and its results are done,
    which would fail a test that has passed. A rank that raises prints its traceback and
    leaves with code 1."""
    code = 0
    try:
        target(rank, world, *args)
    except BaseException:  # noqa: BLE001 - reported through the exit code and stderr
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_ranks(target: Callable, world: int, *args: object, timeout: float = DEADLINE_S) -> None:
    """Run ``target(rank, world, *args)`` in ``world`` spawned processes and wait for them.

    A rank still running after ``timeout`` seconds is killed and the test fails (a collective
    hung); a rank that exits with a non-zero code fails it too (its traceback is on stderr).
    """
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_run_and_leave, args=(target, rank, world, *args))
        for rank in range(world)
    ]
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
