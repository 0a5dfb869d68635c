"""W2 ``vae_mnist``: seconds per epoch of the tutorial VAE on MNIST (BENCHMARKS.md).

Contenders (those installed): ``torch`` (hand-written, the baseline), ``pyrolite``, ``pyro``.
Each starts from identical weights (encoder then decoder built right after
``torch.manual_seed(seed)``), sees identical batches (epoch e: ``RandomState(seed + e)``
permutation, chunks of 256) and keeps its own torch RNG stream, saved and restored around
its epochs; contenders alternate epoch by epoch, order rotated. Reported: seconds per epoch
(median) and the median per-epoch ratio to ``torch``, the training loss per image of every
epoch, and a common evaluation: the single-sample -ELBO per image over the training set
with each contender's final weights, computed by the same torch code and generator seed.

    python benchmarks/vae_mnist.py [--epochs 5] [--mnist-dir DIR] [--threads 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from harness import (
    RESULTS_DIR,
    environment,
    median_ratios,
    optimiser_step,
    rotated,
    svi_stepper,
    write_results,
)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tutorials"))
from vae import Decoder, Encoder  # noqa: E402

from pyrolite.data import load_mnist  # noqa: E402

Z_DIM, HIDDEN, BATCH, LR = 50, 400, 256, 1e-3
D = torch.distributions


def torch_step_fn(encoder: Encoder, decoder: Decoder) -> Callable[[torch.Tensor], float]:
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=LR)

    def step(x: torch.Tensor) -> float:
        z_loc, z_scale = encoder(x)
        q = D.Independent(D.Normal(z_loc, z_scale), 1)
        z = q.rsample()
        prior = D.Independent(D.Normal(torch.zeros_like(z_loc), torch.ones_like(z_loc)), 1)
        likelihood = D.Independent(D.Bernoulli(decoder(z), validate_args=False), 1)
        loss = -(prior.log_prob(z) + likelihood.log_prob(x) - q.log_prob(z)).sum()
        return optimiser_step(loss, opt)

    return step


def ppl_step_fn(pyro, encoder: Encoder, decoder: Decoder) -> Callable[[torch.Tensor], float]:
    dist = pyro.distributions

    def model(x):
        pyro.module("decoder", decoder)
        with pyro.plate("data", x.shape[0]):
            z_loc = x.new_zeros(torch.Size((x.shape[0], Z_DIM)))
            z_scale = x.new_ones(torch.Size((x.shape[0], Z_DIM)))
            z = pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))
            probs = decoder(z)
            pyro.sample("obs", dist.Bernoulli(probs, validate_args=False).to_event(1), obs=x)

    def guide(x):
        pyro.module("encoder", encoder)
        with pyro.plate("data", x.shape[0]):
            z_loc, z_scale = encoder(x)
            pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))

    return svi_stepper(pyro, model, guide, LR, pyro.infer.Trace_ELBO())


@torch.no_grad()
def evaluate(encoder: Encoder, decoder: Decoder, images: torch.Tensor, seed: int) -> float:
    """Single-sample -ELBO per image over ``images`` (same code for every contender)."""
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for start in range(0, len(images), 1000):
        x = images[start : start + 1000]
        z_loc, z_scale = encoder(x)
        z = z_loc + z_scale * torch.randn(z_loc.shape, generator=gen)
        q = D.Independent(D.Normal(z_loc, z_scale), 1)
        prior = D.Independent(D.Normal(torch.zeros_like(z_loc), torch.ones_like(z_loc)), 1)
        likelihood = D.Independent(D.Bernoulli(decoder(z), validate_args=False), 1)
        total -= (prior.log_prob(z) + likelihood.log_prob(x) - q.log_prob(z)).sum().item()
    return total / len(images)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--limit", type=int, default=None, help="use the first N images")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(RESULTS_DIR, "vae_mnist.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images, _ = load_mnist("train", root=args.mnist_dir)
    if args.limit:
        images = images[: args.limit]
    n = len(images)

    torch.manual_seed(args.seed)
    encoder0, decoder0 = Encoder(Z_DIM, HIDDEN), Decoder(Z_DIM, HIDDEN)

    import pyrolite

    libraries = {"torch": None, "pyrolite": pyrolite}
    try:
        import pyro

        libraries["pyro"] = pyro
    except ImportError:
        print("pyro not installed (pip install -e '.[bench]'): no Pyro contender")

    contenders = {}
    for name, lib in libraries.items():
        encoder, decoder = copy.deepcopy(encoder0), copy.deepcopy(decoder0)
        step = (
            torch_step_fn(encoder, decoder) if lib is None else ppl_step_fn(lib, encoder, decoder)
        )
        torch.manual_seed(args.seed)
        contenders[name] = {"nets": (encoder, decoder), "step": step, "rng": torch.get_rng_state()}

    names = list(contenders)
    seconds: dict[str, list[float]] = {n_: [] for n_ in names}
    losses: dict[str, list[float]] = {n_: [] for n_ in names}
    for epoch in range(args.epochs):
        order = np.random.RandomState(args.seed + epoch).permutation(n)
        batches = [order[i : i + BATCH] for i in range(0, n, BATCH)]
        for name in rotated(names, epoch):
            c = contenders[name]
            torch.set_rng_state(c["rng"])
            total = 0.0
            start = time.perf_counter()
            for idx in batches:
                total += c["step"](images[torch.from_numpy(idx)])
            seconds[name].append(time.perf_counter() - start)
            c["rng"] = torch.get_rng_state()
            losses[name].append(total / n)

    result = {
        "workload": "W2 vae_mnist",
        "images": n,
        "epochs": args.epochs,
        **environment(args.threads),
        "s_per_epoch": {k: statistics.median(v) for k, v in seconds.items()},
        "ratio_to_torch": median_ratios(seconds, "torch"),
        "train_loss_per_image": losses,
        "eval_neg_elbo_per_image": {
            k: evaluate(*c["nets"], images, args.seed) for k, c in contenders.items()
        },
    }
    print(f"{'contender':<10} {'s/epoch':>8} {'ratio':>6} {'eval -ELBO':>11}  train loss per epoch")
    for k in names:
        per_epoch = " ".join(f"{v:.3f}" for v in losses[k])
        print(
            f"{k:<10} {result['s_per_epoch'][k]:>8.2f} {result['ratio_to_torch'][k]:>6.3f} "
            f"{result['eval_neg_elbo_per_image'][k]:>11.3f}  {per_epoch}"
        )
    write_results(result, args.out)
    return result


if __name__ == "__main__":
    main()
