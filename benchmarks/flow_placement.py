"""Flow placement: forward+backward time of an 8-stage flow on one device vs spread over many.

The flow: ``--stages`` AffineAutoregressive stages over ``--dim`` variables, a batch of
``--batch`` points. One timed call is ``y = flow(x)``, ``loss = 0.5 * |y|^2 - log|det|``
summed, ``backward``, and ``loss.item()`` (which waits for the devices, XLA's lazy graphs
included). Contenders: ``one_device`` (all stages on the first device) and ``spread`` (a
:class:`DistributedFlow` over every device given), the same weights, interleaved with the
order rotated each repeat; ``ratio`` is the median over repeats of spread / one_device.

Devices: ``--devices`` (default: XLA devices if torch_xla sees any, else CUDA devices, else
``cpu`` only, where both contenders are the same placement and the ratio is about 1).

What the ratio means. Placement across devices is for memory (a flow too large for one
device) and for pipelining, not for the latency of one batch: the stages run one after the
other, so spreading them adds device-to-device copies and, at best, leaves the time
unchanged. On real accelerators a ratio near 1 says the copies are cheap next to the stages.
On torch_xla's virtual CPU devices (``PJRT_DEVICE=CPU CPU_NUM_DEVICES=4``) all devices share
the same CPU cores and each hop is a separate XLA graph execution plus a host copy, so the
ratio measures that per-hop overhead (typically well above 1), not what a TPU pod would see.

    python benchmarks/flow_placement.py [--devices xla:0 xla:1 ...] [--repeats 3] [--steps 10]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics

import torch
from harness import RESULTS_DIR, environment, median_ratios, rotated, time_steps, write_results

from pyrolite.distributions.transforms import affine_autoregressive
from pyrolite.parallel import DistributedFlow, available_devices

NOTE = (
    "ratio = time(spread over devices) / time(all on the first device), forward+backward "
    "of one batch. Stages run in sequence, so placement trades copies for memory; on "
    "virtual XLA CPU devices the ratio is the per-hop overhead (graph executions and host "
    "copies on shared cores), not the cost on real accelerators."
)


def make_step(flow: DistributedFlow, x: torch.Tensor):
    """One forward+backward of ``flow`` at ``x``; returns the loss as a float."""

    def step() -> float:
        y = flow(x)
        loss = (0.5 * y.pow(2).sum(-1) - flow.log_abs_det_jacobian(x, y)).sum()
        loss.backward()
        for p in flow.parameters():
            p.grad = None
        return loss.item()

    return step


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="*", default=None)
    parser.add_argument("--stages", type=int, default=8)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(RESULTS_DIR, "flow_placement.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    devices = [str(d) for d in (args.devices or available_devices())]
    torch.manual_seed(args.seed)
    stages = [affine_autoregressive(args.dim, [args.hidden]) for _ in range(args.stages)]
    flows = {
        "one_device": DistributedFlow(copy.deepcopy(stages), devices[:1]),
        "spread": DistributedFlow(stages, devices),
    }
    x = torch.randn(args.batch, args.dim).to(devices[0])
    steps = {name: make_step(flow, x) for name, flow in flows.items()}
    losses = {name: step() for name, step in steps.items()}
    for step in steps.values():
        for _ in range(args.warmup):
            step()

    per_repeat: dict[str, list[float]] = {name: [] for name in steps}
    for repeat in range(args.repeats):
        for name in rotated(list(steps), repeat):
            seconds, _ = time_steps(steps[name], args.steps)
            per_repeat[name].append(seconds)
    ratio = median_ratios(per_repeat, "one_device")["spread"]
    result = {
        "benchmark": "flow_placement",
        "devices": devices,
        "stage_devices": [str(d) for d in flows["spread"].stage_devices],
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "devices")},
        "first_loss": losses,
        "ms_per_step": {n: 1e3 * statistics.median(t) for n, t in per_repeat.items()},
        "ratio": ratio,
        "note": NOTE,
        "environment": environment(args.threads),
    }
    for name, ms in result["ms_per_step"].items():
        print(f"{name:>10}: {ms:8.2f} ms per forward+backward")
    print(f"spread / one_device over {devices}: {ratio:.2f}")
    write_results(result, args.out)
    return result


if __name__ == "__main__":
    main()
