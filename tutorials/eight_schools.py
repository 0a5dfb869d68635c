"""Eight schools with NUTS: the centred model diverges, the non-centred one does not.

Rubin's (1981) eight schools: coaching effects ``y_j`` measured with known standard errors
``sigma_j``, pooled through a hierarchical prior ``theta_j ~ Normal(mu, tau)``. Written that
way (centred), the posterior has a funnel: where ``tau`` is small the ``theta_j`` are squeezed
together, the curvature grows without bound and NUTS with one step size cannot follow it;
it reports divergent transitions there and under-explores small ``tau``. Writing
``theta_j = mu + tau * theta_trans_j`` with ``theta_trans_j ~ Normal(0, 1)`` (non-centred)
defines the same model with a posterior NUTS samples easily.

The script runs both with 4 chains in lockstep, prints each ``summary()`` table, and saves
trace plots and a pair plot of ``log tau`` against ``theta[0]`` with the divergent draws
in red to ``--out``.

    python tutorials/eight_schools.py [--samples 1000] [--warmup 1000] [--chains 4]
                                      [--out outputs/eight_schools] [--smoke]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import pyrolite as pyro  # noqa: E402
import pyrolite.distributions as dist  # noqa: E402
from pyrolite.infer import MCMC, NUTS  # noqa: E402

# Estimated coaching effects and their standard errors (Rubin 1981).
Y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]
SIGMA = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]


def centered(y: torch.Tensor, sigma: torch.Tensor) -> None:
    """theta_j ~ Normal(mu, tau) sampled directly: a funnel in (tau, theta)."""
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("schools", len(y)):
        theta = pyro.sample("theta", dist.Normal(mu, tau))
        pyro.sample("y", dist.Normal(theta, sigma), obs=y)


def noncentered(y: torch.Tensor, sigma: torch.Tensor) -> None:
    """theta_j = mu + tau * theta_trans_j: the same model, without the funnel."""
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("schools", len(y)):
        theta_trans = pyro.sample("theta_trans", dist.Normal(0.0, 1.0))
        theta = pyro.deterministic("theta", mu + tau * theta_trans)
        pyro.sample("y", dist.Normal(theta, sigma), obs=y)


def divergent_mask(mcmc: MCMC) -> torch.Tensor:
    """A bool tensor (chains, draws): True where the draw ended a divergent transition."""
    samples = mcmc.get_samples(group_by_chain=True)["mu"]
    mask = torch.zeros(samples.shape, dtype=torch.bool)
    for c, indices in enumerate(mcmc.diagnostics()["divergences"].values()):
        mask[c, indices] = True
    return mask


def trace_plot(fits: dict[str, MCMC], path: str) -> None:
    """mu and log tau of every chain against the iteration, one row per model."""
    fig, axes = plt.subplots(len(fits), 2, figsize=(11, 3.2 * len(fits)), squeeze=False)
    for row, (name, mcmc) in zip(axes, fits.items(), strict=True):
        samples = mcmc.get_samples(group_by_chain=True)
        for ax, label, values in (
            (row[0], "mu", samples["mu"]),
            (row[1], "log tau", samples["tau"].log()),
        ):
            for c, chain in enumerate(values):
                ax.plot(chain.numpy(), lw=0.6, alpha=0.8, label=f"chain {c}")
            ax.set_title(f"{name}: {label}")
            ax.set_xlabel("draw")
        row[0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pair_plot(fits: dict[str, MCMC], path: str) -> None:
    """log tau against theta[0], divergent draws in red: they gather in the funnel's neck."""
    fig, axes = plt.subplots(1, len(fits), figsize=(5.5 * len(fits), 4.5), sharey=True)
    for ax, (name, mcmc) in zip(axes, fits.items(), strict=True):
        samples = mcmc.get_samples(group_by_chain=True)
        theta0, log_tau = samples["theta"][..., 0], samples["tau"].log()
        divergent = divergent_mask(mcmc)
        ax.scatter(theta0[~divergent], log_tau[~divergent], s=4, alpha=0.4, label="draws")
        ax.scatter(theta0[divergent], log_tau[divergent], s=12, c="red", label="divergent")
        ax.set_title(f"{name}: {int(divergent.sum())} divergences")
        ax.set_xlabel("theta[0]")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("log tau")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, MCMC]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("outputs", "eight_schools"))
    parser.add_argument("--smoke", action="store_true", help="150 + 150 iterations, for tests")
    args = parser.parse_args(argv)
    if args.smoke:
        args.samples, args.warmup = 150, 150
    os.makedirs(args.out, exist_ok=True)

    y = torch.tensor(Y, dtype=torch.float64)
    sigma = torch.tensor(SIGMA, dtype=torch.float64)
    fits = {}
    for name, model in (("centered", centered), ("noncentered", noncentered)):
        pyro.set_rng_seed(args.seed)
        mcmc = MCMC(
            NUTS(model, target_accept_prob=0.8),
            num_samples=args.samples,
            warmup_steps=args.warmup,
            num_chains=args.chains,
        )
        mcmc.run(y, sigma)
        print(f"\n{name} eight schools")
        mcmc.summary(prob=0.9)
        fits[name] = mcmc

    trace_plot(fits, os.path.join(args.out, "trace.png"))
    pair_plot(fits, os.path.join(args.out, "pair_log_tau_theta0.png"))
    print(f"\nfigures saved to {args.out}")
    return fits


if __name__ == "__main__":
    main()
