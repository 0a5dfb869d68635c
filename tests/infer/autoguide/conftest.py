"""Shared pieces of the autoguide tests: a tiny trace/replay ELBO trainer and a conjugate
Bayesian linear regression whose exact posterior is known."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine

NOISE = 0.5  # known observation noise sd
PRIOR_SD = 1.0


def _fit(model: Callable, guide: Callable, *args, steps: int, lr: float, final_lr=None):
    """Maximise a one-particle trace/replay ELBO with Adam (ClippedAdam without clipping);
    the learning rate decays geometrically from ``lr`` to ``final_lr`` (default ``lr/300``)
    so the final iterate's SGD noise is small. Returns the last loss."""
    final_lr = lr / 300 if final_lr is None else final_lr
    optim = pyro.optim.ClippedAdam(
        {"lr": lr, "lrd": (final_lr / lr) ** (1 / steps), "clip_norm": 1e6}
    )
    loss = None
    store = pyro.get_param_store()
    for _ in range(steps):
        guide_tr = poutine.trace(guide).get_trace(*args)
        model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args)
        loss = -(model_tr.log_prob_sum() - guide_tr.log_prob_sum())
        loss.backward()
        # by name: a param sliced by a subsampling plate is a new tensor without the
        # ``unconstrained`` attribute, so ask the store for each param's leaf
        params = [store.unconstrained(name) for name in guide_tr.param_nodes]
        optim(params)
        for p in params:
            p.grad = None
    return float(loss.detach())


@pytest.fixture
def fit():
    return _fit


class Regression(NamedTuple):
    model: Callable
    x: torch.Tensor
    y: torch.Tensor
    mean: torch.Tensor  # exact posterior mean of w, (D,)
    cov: torch.Tensor  # exact posterior covariance of w, (D, D)
    precision: torch.Tensor  # exact posterior precision, (D, D)


@pytest.fixture
def regression() -> Regression:
    """``w ~ Normal(0, PRIOR_SD^2 I)`` (D=2), ``y_n ~ Normal(x_n . w, NOISE^2)``, N=20,
    with correlated features so that the posterior has a clear correlation."""
    gen = torch.Generator().manual_seed(123)
    n, d = 20, 2
    z = torch.randn(n, d, generator=gen)
    x = torch.stack([z[:, 0], 0.8 * z[:, 0] + 0.6 * z[:, 1]], -1)
    w_true = torch.tensor([1.0, -0.5])
    y = x @ w_true + NOISE * torch.randn(n, generator=gen)

    def model(x, y):
        w = pyro.sample("w", dist.Normal(torch.zeros(d), PRIOR_SD).to_event(1))
        with pyro.plate("data", n):
            pyro.sample("y", dist.Normal(x @ w, NOISE), obs=y)

    precision = torch.eye(d) / PRIOR_SD**2 + x.T @ x / NOISE**2
    cov = torch.linalg.inv(precision)
    mean = cov @ (x.T @ y) / NOISE**2
    return Regression(model, x, y, mean, cov, precision)
