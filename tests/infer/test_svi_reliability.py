"""SVI when a step goes wrong: an interrupted step leaves no gradient behind, a density that
fails names its site, and a non-finite gradient's error reports the loss as it was."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.infer import SVI, Trace_ELBO

X = torch.tensor([1.0, 1.2, 0.8])


def model(x):
    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(x)):
        pyro.sample("x", dist.Normal(w, 0.5), obs=x)


def guide(x):
    loc = pyro.param("loc", torch.tensor(0.0))
    pyro.sample("w", dist.Normal(loc, 0.1))


class InterruptFirstCall:
    """Wraps ``fn`` (the optimiser, or ``loss_and_grads``); its first call raises
    KeyboardInterrupt (Ctrl-C mid-step), before ``fn`` runs or, with ``after``, after."""

    def __init__(self, fn, after=False):
        self.fn = fn
        self.after = after
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 1 and not self.after:
            raise KeyboardInterrupt
        result = self.fn(*args, **kwargs)
        if self.calls == 1:
            raise KeyboardInterrupt
        return result


def _loc_after_one_good_step():
    pyro.clear_param_store()
    pyro.set_rng_seed(1)
    SVI(model, guide, pyro.optim.SGD({"lr": 0.1}), Trace_ELBO()).step(X)
    return pyro.param("loc").item()


@pytest.mark.parametrize("where", ["optimiser", "after backward"])
def test_an_interrupted_step_leaves_no_gradient_for_the_next_one(where):
    expected = _loc_after_one_good_step()
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    optim = pyro.optim.SGD({"lr": 0.1})
    if where == "optimiser":
        svi = SVI(model, guide, InterruptFirstCall(optim), Trace_ELBO())
    else:
        loss_and_grads = InterruptFirstCall(Trace_ELBO().loss_and_grads, after=True)
        svi = SVI(model, guide, optim, Trace_ELBO().loss, loss_and_grads)
    with pytest.raises(KeyboardInterrupt):
        svi.step(X)
    assert pyro.get_param_store().unconstrained("loc").grad is None
    assert pyro.param("loc").item() == 0.0  # the interrupted step did not move it
    pyro.set_rng_seed(1)
    svi.step(X)
    assert pyro.param("loc").item() == expected  # exactly one good step's worth


def int_bernoulli_model():
    p = pyro.param("p", torch.tensor(0.3), constraint=dist.constraints.unit_interval)
    with pyro.plate("data", 3):
        pyro.sample("obs", dist.Bernoulli(p), obs=torch.tensor([0, 1, 1]))


def empty_guide():
    pass


@pytest.mark.parametrize("validate", [True, False])
def test_int_observation_of_a_bernoulli_names_the_site_dtype_and_fix(validate):
    """Torch (and so Pyro) fails deep in binary_cross_entropy_with_logits; ours says where."""
    svi = SVI(int_bernoulli_model, empty_guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())
    with (
        pyro.validation_enabled(validate),
        pytest.raises(RuntimeError, match="at site 'obs'") as info,
    ):
        svi.step()
    message = str(info.value)
    assert "dtype torch.int64" in message
    assert "obs.float()" in message
    assert "value shape (3)" in message and "batch_shape (3)" in message
    assert "can't be cast" in str(info.value.__cause__)  # chained from torch's error


def test_the_float_observation_works_and_gets_no_dtype_advice():
    def model():
        p = pyro.param("p", torch.tensor(0.3), constraint=dist.constraints.unit_interval)
        with pyro.plate("data", 3):
            pyro.sample("obs", dist.Bernoulli(p), obs=torch.tensor([0, 1, 1]).float())

    assert SVI(model, empty_guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO()).step() > 0


def test_a_shape_mismatch_inside_log_prob_names_the_site_and_shapes():
    """A value whose shape does not broadcast against the batch shape: torch raises a bare
    RuntimeError from inside log_prob (validation off skips the shape check before it)."""

    def model():
        loc = pyro.param("loc", torch.zeros(3))
        pyro.sample("y", dist.Normal(loc, 1.0).to_event(1), obs=torch.zeros(2))

    svi = SVI(model, empty_guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())
    with pyro.validation_enabled(False), pytest.raises(RuntimeError, match="at site 'y'") as info:
        svi.step()
    message = str(info.value)
    assert "event_shape (3)" in message and "value shape (2)" in message
    assert "dtype torch.float32" in message
    assert "obs.float()" not in message  # not a dtype problem: the generic fix
    assert "broadcasts to its batch_shape + event_shape" in message


def sqrt_at_zero_model(x):
    """sqrt(|offset|) at offset = 0 is finite, its derivative inf * 0 = NaN."""
    offset = pyro.param("offset", torch.tensor(0.0))
    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(x)):
        pyro.sample("x", dist.Normal(w + torch.sqrt(offset.abs()), 0.5), obs=x)


def trace_loss(model, guide, *args):
    guide_tr = poutine.trace(guide).get_trace(*args)
    model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args)
    return -(model_tr.log_prob_sum() - guide_tr.log_prob_sum())


def log_at_zero_loss(model, guide, *args):
    """A custom loss that is +inf at offset = 0, with gradient -inf there."""
    trace_loss(model, guide, *args)
    return -torch.log(pyro.param("offset", torch.tensor(0.0)).abs())


@pytest.mark.parametrize(
    "loss, says",
    [
        (log_at_zero_loss, "and so is the loss (inf)"),
        (trace_loss, "although the loss is finite"),
    ],
)
def test_nonfinite_gradient_error_reports_the_loss_as_it_is(loss, says):
    svi = SVI(sqrt_at_zero_model, guide, pyro.optim.Adam({"lr": 0.1}), loss)
    with pytest.raises(ValueError, match=r"param\(s\) \['offset'\]") as info:
        svi.step(X)
    message = str(info.value)
    assert says in message
    if loss is log_at_zero_loss:
        assert "although the loss is finite" not in message
        assert "keep the loss finite" in message


def test_nan_loss_is_reported_as_nan():
    def nan_loss(model, guide, *args):
        return pyro.param("offset", torch.tensor(0.0)) * float("nan")

    svi = SVI(sqrt_at_zero_model, guide, pyro.optim.Adam({"lr": 0.1}), nan_loss)
    with pytest.raises(ValueError, match=r"NaN or infinite and so is the loss \(nan\)"):
        svi.step(X)


class OutOfMemoryNormal(dist.Normal):
    def log_prob(self, value):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 TiB")


def test_out_of_memory_in_a_density_keeps_torchs_error():
    """Running out of memory is not the site's fault: its type (which batch-size back-off
    code catches) and torch's message survive unchanged."""

    def model():
        pyro.sample("z", OutOfMemoryNormal(0.0, 1.0), obs=torch.tensor(0.0))

    tr = poutine.trace(model).get_trace()
    with pytest.raises(torch.OutOfMemoryError, match="^CUDA out of memory"):
        tr.log_prob_sum()
