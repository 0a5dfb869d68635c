"""SVI: steps, custom losses, parameter collection, optimiser input checks."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.infer import SVI, Trace_ELBO


def model(x):
    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(x)):
        pyro.sample("x", dist.Normal(w, 0.5), obs=x)


def guide(x):
    loc = pyro.param("loc", torch.tensor(0.0))
    pyro.sample("w", dist.Normal(loc, 0.1))


X = torch.tensor([1.0, 1.2, 0.8])


def custom_elbo(model, guide, *args, **kwargs):
    guide_tr = poutine.trace(guide).get_trace(*args, **kwargs)
    model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args, **kwargs)
    return -(model_tr.log_prob_sum() - guide_tr.log_prob_sum())


def test_custom_loss_equals_trace_elbo_step_for_step():
    results = []
    for loss in (Trace_ELBO(), custom_elbo):
        pyro.clear_param_store()
        pyro.set_rng_seed(3)
        svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), loss)
        losses = [svi.step(X) for _ in range(30)]
        results.append((losses, pyro.param("loc").item()))
    assert results[0] == results[1]


def test_step_returns_float_and_moves_params():
    svi = SVI(model, guide, pyro.optim.SGD({"lr": 0.01}), Trace_ELBO())
    loss = svi.step(X)
    assert isinstance(loss, float)
    assert pyro.param("loc").item() != 0.0
    assert pyro.get_param_store().unconstrained("loc").grad is None  # grads cleared


def test_only_params_read_in_the_step_are_updated():
    pyro.param("unused", torch.tensor(5.0))
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())
    for _ in range(5):
        svi.step(X)
    assert pyro.param("unused").item() == 5.0


def test_torch_optimizer_is_rejected_with_advice():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(TypeError, match="pyro.optim.Adam"):
        SVI(model, guide, opt, Trace_ELBO())


def test_evaluate_loss_with_custom_callable():
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), custom_elbo)
    guide(X)
    before = pyro.param("loc").item()
    assert isinstance(svi.evaluate_loss(X), float)
    assert pyro.param("loc").item() == before


@pytest.mark.filterwarnings("ignore::FutureWarning")  # gc.get_objects touches deprecated torch
def test_nothing_survives_a_step():
    """Memory stays flat: after a step no trace, message or graph of an earlier step lives."""
    import gc

    from pyrolite.poutine.runtime import Message
    from pyrolite.poutine.trace_struct import Trace

    def live(cls):
        return sum(1 for obj in gc.get_objects() if isinstance(obj, cls))

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
    # The baseline is taken after a warm-up long enough for one-time caches elsewhere in the
    # process (which depend on what ran before this test) to fill; a leak grows per step.
    for _ in range(20):
        svi.step(X)
    gc.collect()
    counts = (live(Trace), live(Message), live(torch.Tensor))
    for _ in range(50):
        svi.step(X)
    gc.collect()
    assert (live(Trace), live(Message), live(torch.Tensor)) == counts
    assert counts[0] == 0 and counts[1] == 0
