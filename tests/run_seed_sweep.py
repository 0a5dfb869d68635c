"""Run the statistical tests over many seeds and print how often each one passes.

Every test marked ``@pytest.mark.statistical`` claims a family-wise false-alarm probability
of at most 0.01 for one seed (see ``tests/tolerances.py``); a test that fails for some of 20
seeds has a tolerance derivation (or a Monte Carlo size) to fix. Usage, from the repository
root::

    .venv/bin/python tests/run_seed_sweep.py                 # seeds 1..20, all marked tests
    .venv/bin/python tests/run_seed_sweep.py --seeds 1-5 -- tests/infer/mcmc -k nuts

Each seed runs one pytest process (``PYROLITE_TEST_SEED=<seed> pytest -m statistical``); the
table so far is rewritten to ``--table`` after every seed, so an interrupted sweep keeps its
results. Not a test module: pytest does not collect it (its name does not start with
``test_``), and it does nothing on import.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUTCOMES = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")


def parse_seeds(text: str) -> list[int]:
    """``"1-20"`` or ``"1,4,7"`` (or a mix, ``"1-3,9"``) -> the list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def run_one(seed: int, pytest_args: list[str], python: str) -> dict[str, str]:
    """Outcome per test id for one seed, from pytest's ``-rA`` short summary."""
    env = dict(os.environ, PYROLITE_TEST_SEED=str(seed))
    cmd = [python, "-m", "pytest", "-m", "statistical", "-p", "no:cacheprovider", "-q", "-rA"]
    done = subprocess.run(cmd + pytest_args, env=env, capture_output=True, text=True)
    outcomes: dict[str, str] = {}
    for line in done.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in OUTCOMES and "::" in rest:
            outcomes[rest.split(" - ")[0].strip()] = word
    if not outcomes:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
    return outcomes


def table(results: dict[str, dict[int, str]], seeds_run: list[int]) -> str:
    """One line per test: passes out of the seeds run, and the seeds where it did not pass."""
    width = max((len(t) for t in results), default=10)
    lines = [f"{'test id':<{width}}  passes  not passed (seed: outcome)"]
    for test_id in sorted(results):
        by_seed = results[test_id]
        passes = sum(by_seed.get(s) == "PASSED" for s in seeds_run)
        bad = ", ".join(
            f"{s}: {by_seed.get(s, 'missing')}" for s in seeds_run if by_seed.get(s) != "PASSED"
        )
        lines.append(f"{test_id:<{width}}  {passes:>2}/{len(seeds_run):<3}  {bad}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-20", help="e.g. 1-20 or 1,2,5 (default 1-20)")
    parser.add_argument(
        "--table",
        default=str(Path(tempfile.gettempdir()) / "pyrolite_seed_sweep.txt"),
        help="file the table so far goes to after every seed",
    )
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("pytest_args", nargs="*", help="after --: passed on to pytest")
    args = parser.parse_args(argv)
    results: dict[str, dict[int, str]] = collections.defaultdict(dict)
    seeds_run: list[int] = []
    start = time.monotonic()
    for seed in parse_seeds(args.seeds):
        for test_id, outcome in run_one(seed, args.pytest_args, args.python).items():
            results[test_id][seed] = outcome
        seeds_run.append(seed)
        elapsed = time.monotonic() - start
        text = table(results, seeds_run)
        Path(args.table).write_text(f"seeds {seeds_run} ({elapsed:.0f} s)\n{text}\n")
        print(f"seed {seed} done after {elapsed:.0f} s", flush=True)
    print(table(results, seeds_run))
    everything_passed = all(
        results[t].get(s) in ("PASSED", "SKIPPED") for t in results for s in seeds_run
    )
    return 0 if everything_passed and results else 1


if __name__ == "__main__":
    sys.exit(main())
