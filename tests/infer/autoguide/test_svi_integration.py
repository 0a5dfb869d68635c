"""Autoguides through SVI and Trace_ELBO, reachable as pyro.infer.autoguide."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import SVI, Trace_ELBO


def model(x):
    loc = pyro.sample("loc", dist.Normal(0.0, 10.0))
    scale = pyro.sample("scale", dist.HalfNormal(5.0))
    with pyro.plate("data", len(x), subsample_size=20) as idx:
        pyro.sample("obs", dist.Normal(loc, scale), obs=x[idx])


@pytest.mark.statistical
def test_auto_normal_with_svi_and_subsampling(seed):
    x = 3.0 + 0.5 * torch.randn(200, generator=torch.Generator().manual_seed(0))
    guide = pyro.infer.autoguide.AutoNormal(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
    for _ in range(800):
        svi.step(x)
    median = guide.median(x)
    # posterior of loc is about N(mean(x), 0.5 / sqrt(200) = 0.035); SVI noise with
    # 20-point minibatches keeps the iterate within ~0.1 of it
    assert abs(median["loc"].item() - x.mean().item()) < 0.15
    assert abs(median["scale"].item() - 0.5) < 0.15
