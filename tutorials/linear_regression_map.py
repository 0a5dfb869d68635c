"""Bayesian linear regression, fitted by MAP with pyrolite's primitives and optimisers.

A model written with ``sample``/``plate``, its joint density taken with ``log_density``
(the latents substituted by learnable params), and ``pyrolite.optim.Adam`` maximising it.
Prints the fitted coefficients and saves a figure of the data and the fitted line.

    python tutorials/linear_regression_map.py [--steps 1000] [--out outputs/linreg] [--smoke]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import pyrolite as pyro  # noqa: E402
import pyrolite.distributions as dist  # noqa: E402
from pyrolite.infer import log_density  # noqa: E402


def model(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """y_n ~ Normal(w * x_n + b, sigma) with Normal priors on w, b and a HalfNormal on sigma."""
    w = pyro.sample("w", dist.Normal(0.0, 10.0))
    b = pyro.sample("b", dist.Normal(0.0, 10.0))
    sigma = pyro.sample("sigma", dist.HalfNormal(5.0))
    with pyro.plate("data", x.shape[0]):
        return pyro.sample("obs", dist.Normal(w * x + b, sigma), obs=y)


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.linspace(-3, 3, n)
    y = 1.5 * x - 0.7 + 0.4 * torch.randn(n, generator=gen)
    return x, y


def fit(x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> list[float]:
    """MAP estimate: maximise log p(w, b, sigma, y) over params; returns the loss curve."""
    pyro.clear_param_store()
    optim = pyro.optim.Adam({"lr": lr})
    losses = []
    for _ in tqdm(range(steps), desc="MAP", mininterval=0.5):
        values = {
            "w": pyro.param("w_map", torch.tensor(0.0)),
            "b": pyro.param("b_map", torch.tensor(0.0)),
            "sigma": pyro.param(
                "sigma_map", torch.tensor(1.0), constraint=dist.constraints.positive
            ),
        }
        log_joint, _ = log_density(model, (x, y), {}, values)
        loss = -log_joint
        loss.backward()
        params = [pyro.get_param_store().unconstrained(n) for n in ("w_map", "b_map", "sigma_map")]
        optim(params)
        for p in params:
            p.grad = None
        losses.append(loss.item())
    return losses


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("outputs", "linear_regression_map"))
    parser.add_argument("--smoke", action="store_true", help="a few steps, for tests")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.n = 50, 50

    pyro.set_rng_seed(args.seed)
    x, y = make_data(args.n, args.seed)
    losses = fit(x, y, args.steps, args.lr)
    store = pyro.get_param_store()
    fitted = {k: store[k].item() for k in ("w_map", "b_map", "sigma_map")}
    print("fitted: " + ", ".join(f"{k}={v:.3f}" for k, v in fitted.items()))

    os.makedirs(args.out, exist_ok=True)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    ax0.plot(losses)
    ax0.set(xlabel="step", ylabel="-log p(w, b, sigma, y)", title="MAP objective")
    ax1.scatter(x.numpy(), y.numpy(), s=6, alpha=0.6, label="data")
    line = fitted["w_map"] * x + fitted["b_map"]
    ax1.plot(x.numpy(), line.numpy(), color="C3", label="MAP fit")
    ax1.set(xlabel="x", ylabel="y", title="data and fitted line")
    ax1.legend()
    fig.tight_layout()
    path = os.path.join(args.out, "linear_regression_map.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure written to {path}")
    return fitted


if __name__ == "__main__":
    main()
