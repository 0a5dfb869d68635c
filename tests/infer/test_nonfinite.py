"""SVI stops on a NaN/inf gradient behind a finite loss, names the culprits, does not step."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import SVI, Trace_ELBO
from pyrolite.infer.grad_check import check_finite_grads

X = torch.tensor([1.0, 1.2, 0.8])


def healthy_guide(x):
    loc = pyro.param("loc", torch.tensor(0.0))
    pyro.sample("w", dist.Normal(loc, 0.1))


def sqrt_at_zero_model(x):
    """sqrt(|offset|) at offset = 0 is finite, its derivative inf * 0 = NaN."""
    offset = pyro.param("offset", torch.tensor(0.0))
    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(x)):
        pyro.sample("x", dist.Normal(w + torch.sqrt(offset.abs()), 0.5), obs=x)


def healthy_model(x):
    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(x)):
        pyro.sample("x", dist.Normal(w, 0.5), obs=x)


def where_guide(x):
    """The unselected torch.where branch sqrt(loc) at loc = 0 sends 0 / 0 = NaN back."""
    loc = pyro.param("loc", torch.tensor(0.0))
    safe = torch.where(loc > 0, torch.sqrt(loc), loc)
    pyro.sample("w", dist.Normal(safe, 0.1))


def test_model_param_with_nan_gradient_is_named_with_its_site():
    svi = SVI(sqrt_at_zero_model, healthy_guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())
    with pytest.raises(ValueError, match=r"param\(s\) \['offset'\]") as info:
        svi.step(X)
    message = str(info.value)
    assert "model site 'x'" in message
    assert "'loc'" not in message.split("param(s)")[1].split("]")[0]  # loc's grad is fine
    assert "guide site" not in message


def test_optimiser_does_not_step_and_grads_are_cleared():
    healthy_guide(X)
    svi = SVI(sqrt_at_zero_model, healthy_guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())
    with pytest.raises(ValueError, match="did not step"):
        svi.step(X)
    store = pyro.get_param_store()
    assert pyro.param("loc").item() == 0.0
    assert pyro.param("offset").item() == 0.0
    assert store.unconstrained("loc").grad is None
    assert store.unconstrained("offset").grad is None


def test_guide_where_trick_names_param_and_sites():
    svi = SVI(healthy_model, where_guide, pyro.optim.SGD({"lr": 0.1}), Trace_ELBO())
    with pytest.raises(ValueError, match=r"param\(s\) \['loc'\]") as info:
        svi.step(X)
    # the NaN flows through the draw of w into both densities that score it
    assert "guide site 'w'" in str(info.value)
    assert "model site 'w'" in str(info.value)
    assert pyro.param("loc").item() == 0.0


def test_custom_callable_loss_is_checked_too():
    def loss(model, guide, *args):
        guide_tr = pyro.poutine.trace(guide).get_trace(*args)
        model_tr = pyro.poutine.trace(pyro.poutine.replay(model, trace=guide_tr)).get_trace(*args)
        return -(model_tr.log_prob_sum() - guide_tr.log_prob_sum())

    svi = SVI(sqrt_at_zero_model, healthy_guide, pyro.optim.Adam({"lr": 0.1}), loss)
    with pytest.raises(ValueError, match="offset"):
        svi.step(X)


def test_healthy_model_steps_without_error():
    svi = SVI(healthy_model, healthy_guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())
    for _ in range(3):
        assert isinstance(svi.step(X), float)
    assert pyro.param("loc").item() > 0.0


def test_large_finite_gradients_are_not_flagged():
    """Gradients that are finite one by one but whose norm overflows float32."""
    a = torch.tensor(0.0, requires_grad=True)
    b = torch.tensor(0.0, requires_grad=True)
    a.grad, b.grad = torch.tensor(3e38), torch.tensor(3e38)
    check_finite_grads({"a": a, "b": b}, healthy_model, healthy_guide, (X,), {})
    assert a.grad.item() == pytest.approx(3e38)  # left in place for the optimiser


def test_sparse_gradient_is_checked_too():
    table = torch.zeros(4, 2, requires_grad=True)
    other = torch.zeros(3, requires_grad=True)
    nan = torch.tensor([[float("nan"), 0.0]])
    table.grad = torch.sparse_coo_tensor([[1]], nan, (4, 2), check_invariants=True)
    other.grad = torch.ones(3)
    with pytest.raises(ValueError, match=r"param\(s\) \['table'\]"):
        check_finite_grads({"table": table, "other": other}, healthy_model, healthy_guide, (X,), {})
    assert table.grad is None and other.grad is None


def test_validation_off_skips_the_gradient_check():
    svi = SVI(sqrt_at_zero_model, healthy_guide, pyro.optim.SGD({"lr": 0.1}), Trace_ELBO())
    pyro.enable_validation(False)
    try:
        svi.step(X)
    finally:
        pyro.enable_validation(True)
    assert torch.isnan(pyro.param("offset"))


def half_infinite_model():
    """The log density is -inf for exactly the draws with w > 0 (half of them)."""
    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    pyro.factor("cliff", torch.where(w > 0, torch.tensor(-float("inf")), torch.tensor(0.0)))


def standard_guide():
    pyro.sample("w", dist.Normal(pyro.param("loc", torch.tensor(0.0)), 1.0))


@pytest.mark.parametrize("num_particles", [1, 3])
def test_nonfinite_loss_names_the_sites_of_the_draw_that_failed(num_particles):
    """The error is built from the traces of the failing step, not from a fresh draw (which
    would be finite half of the time and then name no site)."""
    elbo = Trace_ELBO(num_particles=num_particles)
    svi = SVI(half_infinite_model, standard_guide, pyro.optim.Adam({"lr": 0.0}), elbo)
    failures = 0
    for step in range(40):
        pyro.set_rng_seed(step)
        try:
            svi.step()
        except ValueError as err:
            failures += 1
            assert "non-finite log density at model site 'cliff'" in str(err)
    # P(no failure in 40 steps) <= 2**-40
    assert failures > 0
