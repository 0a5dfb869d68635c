"""The torchrun launcher example runs with two gloo processes and fits the weights."""

import os
import re
import subprocess
import sys

EXAMPLE = os.path.join(
    os.path.dirname(__file__), os.pardir, os.pardir, "examples", "torchrun_svi.py"
)


def test_torchrun_example_two_processes():
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", EXAMPLE, "--steps", "120"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    fitted = re.search(r"fitted weights \[([^\]]+)\]", done.stdout)
    assert fitted, done.stdout
    weights = [float(v) for v in fitted.group(1).split(",")]
    # 1000 points with noise sd 0.3: the posterior sd of each weight is about 0.01; the
    # guide's mean after 120 steps of Adam(0.05) is within 0.1 of the truth
    for w, true in zip(weights, [1.0, -2.0, 0.5], strict=True):
        assert abs(w - true) < 0.1
