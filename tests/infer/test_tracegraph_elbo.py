"""TraceGraph_ELBO: unbiased score-function gradients with less variance, and baselines."""

import math

import pytest
import torch
from tolerances import z_bound

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import SVI, Trace_ELBO, TraceGraph_ELBO


class NonReparamNormal(dist.Normal):
    has_rsample = False


X = torch.tensor(1.0)
NOISE_OBS = torch.tensor([3.0, -2.0, 5.0])


def model():
    # an earlier, unrelated and noisy block: its terms do not depend on z
    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    with pyro.plate("noise", 3):
        pyro.sample("noise_obs", dist.Normal(w, 0.3), obs=NOISE_OBS)
    z = pyro.sample("z", dist.Normal(0.0, 1.0))
    pyro.sample("x", dist.Normal(z, 1.0), obs=X)


def guide(baseline=None):
    w_loc = pyro.param("w_loc", torch.tensor(0.0))
    pyro.sample("w", dist.Normal(w_loc, 1.0))
    m = pyro.param("m", torch.tensor(0.3))
    pyro.sample("z", NonReparamNormal(m, 1.0), infer={"baseline": baseline or {}})


def gradient_samples(elbo, n, **guide_kwargs):
    grads = []
    for _ in range(n):
        loss = elbo.differentiable_loss(model, lambda: guide(**guide_kwargs))
        loss.backward()
        m = pyro.get_param_store().unconstrained("m")
        grads.append(m.grad.item())
        for _, p in pyro.get_param_store().named_parameters():
            p.grad = None
    return torch.tensor(grads)


@pytest.mark.statistical
def test_unbiased_and_lower_variance_than_trace_elbo(seed):
    """d(-ELBO)/dm = 2 m - x (only z's block depends on m)."""
    analytic = 2 * 0.3 - X.item()
    graph = gradient_samples(TraceGraph_ELBO(), 3000)
    plain = gradient_samples(Trace_ELBO(), 3000)
    # two means of 3000 independent gradients (and one variance ratio far from its bound)
    for grads in (graph, plain):
        se = grads.std().item() / math.sqrt(len(grads))
        assert abs(grads.mean().item() - analytic) < z_bound(3) * se
    # Trace_ELBO's cost carries the noisy w block; TraceGraph drops it (seen: ~60x lower sd)
    assert graph.std() < plain.std() / 2


@pytest.mark.statistical
def test_decaying_average_baseline_reduces_variance(seed):
    elbo = TraceGraph_ELBO()
    with_baseline = {"use_decaying_avg_baseline": True, "baseline_beta": 0.95}
    gradient_samples(elbo, 200, baseline=with_baseline)  # warm the average up
    baselined = gradient_samples(elbo, 3000, baseline=with_baseline)
    plain = gradient_samples(TraceGraph_ELBO(), 3000)
    analytic = 2 * 0.3 - X.item()
    # The baseline makes consecutive gradients dependent, but only through a slowly moving
    # average that is independent of the current draw, so the mean stays unbiased and the
    # se of independent draws applies; one mean and one sd ratio.
    se = baselined.std().item() / math.sqrt(len(baselined))
    assert abs(baselined.mean().item() - analytic) < z_bound(2) * se
    assert baselined.std() < plain.std() * 0.9


def test_nn_baseline_trains_and_bad_options_are_errors():
    net = torch.nn.Linear(1, 1)

    def guide_nn():
        pyro.module("baseline_net", net)
        guide(baseline={"nn_baseline": net, "nn_baseline_input": torch.ones(1)})

    svi = SVI(model, guide_nn, pyro.optim.Adam({"lr": 0.05}), TraceGraph_ELBO())
    before = net.bias.item()
    for _ in range(50):
        svi.step()
    assert net.bias.item() != before  # the baseline's regression loss reached it
    with pytest.raises(ValueError, match="unknown baseline options"):
        TraceGraph_ELBO().loss(model, lambda: guide(baseline={"typo": 1}))
