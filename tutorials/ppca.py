"""Probabilistic PCA: fit by MAP and by variational inference, then criticise the fit.

Model (2-d data, a 1-d latent per point, known noise ``sigma``)::

    w   ~ Normal(0, 5 I)                      the principal direction, shape (2,)
    z_n ~ Normal(0, 1)                        one latent coordinate per point
    x_n ~ Normal(z_n * w, sigma I)            observed, shape (2,)

Data come from a known ``w_true`` (seeded). Two fits: (a) MAP with ``AutoDelta`` (a point
for ``w`` and every ``z_n``) and (b) VI with the mean-field ``AutoNormal``. Then the fits
are criticised by putting their latents back into the model with ``poutine.condition`` and
regenerating data: with ``w`` *and* the fitted ``z`` (a reconstruction of the observed
points) and with ``w`` alone, ``z`` drawn afresh from its prior (the fitted generative
model). MAP gets the direction right but not its length: trading a large ``w`` against small
``z`` lowers the joint density's prior penalty, so its fresh data spread too wide along the
direction. VI, which has to pay for the width of ``q(z)``, recovers both.
``w`` is identified only up to sign, so directions are compared as lines.

Prints a summary and writes ``directions.png``, ``regenerated.png`` and ``losses.png``.

    python tutorials/ppca.py [--steps 2000] [--n 500] [--out outputs/ppca] [--smoke]
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import pyrolite as pyro  # noqa: E402
import pyrolite.distributions as dist  # noqa: E402
from pyrolite import poutine  # noqa: E402
from pyrolite.infer import SVI, Trace_ELBO  # noqa: E402
from pyrolite.infer.autoguide import AutoDelta, AutoNormal, init_to_sample  # noqa: E402

W_TRUE = torch.tensor([2.0, 1.0])
PRIOR_SCALE = 5.0


def model(x: torch.Tensor | None, n: int, sigma: float) -> torch.Tensor:
    """x (n, 2) observed, or drawn when ``x`` is None; returns x (n, 2)."""
    w = pyro.sample("w", dist.Normal(torch.zeros(2), torch.full((2,), PRIOR_SCALE)).to_event(1))
    with pyro.plate("data", n):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        return pyro.sample("x", dist.Normal(z.unsqueeze(-1) * w, sigma).to_event(1), obs=x)


def make_data(n: int, sigma: float, seed: int) -> torch.Tensor:
    """n points x_n = z_n * W_TRUE + sigma * noise, with z_n ~ Normal(0, 1); shape (n, 2)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator=gen)
    return z.unsqueeze(-1) * W_TRUE + sigma * torch.randn(n, 2, generator=gen)


def fit(
    guide: Callable, x: torch.Tensor, sigma: float, steps: int, lr: float, desc: str
) -> list[float]:
    """Maximise the ELBO of ``guide`` with Adam; returns the loss per step."""
    svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), Trace_ELBO())
    return [svi.step(x, len(x), sigma) for _ in tqdm(range(steps), desc=desc, mininterval=0.5)]


def regenerate(latents: dict[str, torch.Tensor], n: int, sigma: float) -> torch.Tensor:
    """Run the model with ``latents`` substituted (``poutine.condition``) and ``x``
    unobserved: fresh data (n, 2). Latents left out are drawn from the prior."""
    with torch.no_grad():
        return poutine.condition(model, data=latents)(None, n, sigma)


def angle_deg(w: torch.Tensor, ref: torch.Tensor) -> float:
    """Angle in degrees (0..90) between the lines spanned by ``w`` and ``ref`` (both (2,))."""
    cos = (w @ ref).abs() / (w.norm() * ref.norm())
    return math.degrees(math.acos(min(1.0, cos.item())))


def cov_error(fresh: torch.Tensor, x: torch.Tensor) -> float:
    """Relative Frobenius distance between the covariances of two (n, 2) samples."""
    c_fresh, c_x = torch.cov(fresh.T), torch.cov(x.T)
    return ((c_fresh - c_x).norm() / c_x.norm()).item()


def criticise(
    name: str, latents: dict[str, torch.Tensor], x: torch.Tensor, sigma: float
) -> dict[str, object]:
    """Numbers comparing a fit with the truth and with the observed data."""
    n = len(x)
    reconstructed = regenerate(latents, n, sigma)
    fresh = regenerate({"w": latents["w"]}, n, sigma)
    w = latents["w"]
    mean_reco = latents["z"].unsqueeze(-1) * w
    return {
        "name": name,
        "w": w,
        "angle_deg": angle_deg(w, W_TRUE),
        "norm_ratio": (w.norm() / W_TRUE.norm()).item(),
        # with a perfect fit the residual is the noise: about sigma per coordinate
        "reconstruction_rmse": (x - mean_reco).pow(2).mean().sqrt().item(),
        "fresh_cov_error": cov_error(fresh, x),
        "reconstructed": reconstructed,
        "fresh": fresh,
    }


def plot(x: torch.Tensor, fits: list[dict], losses: dict[str, list[float]], out: str) -> list[str]:
    os.makedirs(out, exist_ok=True)
    paths = []
    lim = 1.2 * x.abs().max().item()

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(x[:, 0], x[:, 1], s=5, alpha=0.4, color="grey", label="observed")
    lim = max([lim] + [1.1 * f["w"].norm().item() for f in fits])
    # each w drawn from -w to +w: the line is the direction, its length |w|
    for w, label, style in [(W_TRUE, "truth", "k-")] + [
        (f["w"], f["name"], s) for f, s in zip(fits, ("C3--", "C0:"), strict=True)
    ]:
        ax.plot([-w[0], w[0]], [-w[1], w[1]], style, lw=2.5, label=f"{label}: ±w")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title="principal direction w")
    ax.legend(fontsize=8)
    paths.append(os.path.join(out, "directions.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(2, len(fits), figsize=(5 * len(fits), 10), squeeze=False)
    for col, f in enumerate(fits):
        for row, (key, what) in enumerate(
            [("reconstructed", "fitted w and z"), ("fresh", "fitted w, z from its prior")]
        ):
            ax = axes[row, col]
            ax.scatter(x[:, 0], x[:, 1], s=5, alpha=0.4, color="grey", label="observed")
            ax.scatter(f[key][:, 0], f[key][:, 1], s=5, alpha=0.4, color="C1", label="regenerated")
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
            ax.set_title(f"{f['name']}: {what}", fontsize=10)
            ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(os.path.join(out, "regenerated.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in losses.items():
        ax.plot(curve, label=name)
    ax.set(xlabel="step", ylabel="loss (-ELBO)", yscale="symlog", title="training")
    ax.legend()
    fig.tight_layout()
    paths.append(os.path.join(out, "losses.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--sigma", type=float, default=0.5, help="the known noise scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("outputs", "ppca"))
    parser.add_argument("--smoke", action="store_true", help="a few steps on tiny data")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.n = 20, 40

    x = make_data(args.n, args.sigma, args.seed)
    fits, losses = [], {}
    for name, guide_cls in (("MAP", AutoDelta), ("VI", AutoNormal)):
        pyro.clear_param_store()
        pyro.set_rng_seed(args.seed)
        # a random start: at w = 0, z = 0 the MAP objective has a saddle with zero gradient
        guide = guide_cls(model, init_loc_fn=init_to_sample)
        losses[name] = fit(guide, x, args.sigma, args.steps, args.lr, name)
        fits.append(criticise(name, guide.median(x, args.n, args.sigma), x, args.sigma))

    cov_x = torch.cov(x.T)
    print(f"truth: w = {W_TRUE.tolist()}, sigma = {args.sigma}, n = {args.n}")
    print(f"observed covariance: {[[round(v, 3) for v in row] for row in cov_x.tolist()]}")
    print(f"{'fit':<4} {'w':>18} {'angle':>7} {'|w|/|w*|':>9} {'reco rmse':>10} {'cov err':>8}")
    summary = {}
    for f in fits:
        w = ", ".join(f"{v:+.3f}" for v in f["w"].tolist())
        print(
            f"{f['name']:<4} {'[' + w + ']':>18} {f['angle_deg']:>6.2f}° {f['norm_ratio']:>9.3f} "
            f"{f['reconstruction_rmse']:>10.3f} {f['fresh_cov_error']:>8.3f}"
        )
        summary[f["name"]] = {
            k: f[k] for k in ("angle_deg", "norm_ratio", "reconstruction_rmse", "fresh_cov_error")
        }
    print(
        "angle: between fitted and true direction; reco rmse: data minus z_hat * w_hat "
        f"(the noise across w alone gives about {args.sigma / math.sqrt(2):.3f}); "
        "cov err: relative distance between the covariance of fresh data and the observed one"
    )
    for path in plot(x, fits, losses, args.out):
        print(f"figure written to {path}")
    return summary


if __name__ == "__main__":
    main()
