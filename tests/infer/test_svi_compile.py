"""SVI(compile=True): the compiled step gives the eager step's numbers; failures fall back."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import SVI, Trace_ELBO

X = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.5


def model(x, y):
    w = pyro.sample("w", dist.Normal(torch.zeros(3), torch.ones(3)).to_event(1))
    sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
    with pyro.plate("data", len(x)):
        pyro.sample("obs", dist.Normal(x @ w, sigma), obs=y)


def guide(x, y):
    w_loc = pyro.param("w_loc", torch.zeros(3))
    w_scale = pyro.param("w_scale", torch.full((3,), 0.1), constraint=dist.constraints.positive)
    pyro.sample("w", dist.Normal(w_loc, w_scale).to_event(1))
    pyro.sample("sigma", dist.LogNormal(pyro.param("s_loc", torch.tensor(0.0)), 0.1))


def run(steps, **svi_kwargs):
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO(), **svi_kwargs)
    losses = [svi.step(X, Y) for _ in range(steps)]
    return losses, {k: v.detach().clone() for k, v in pyro.get_param_store().items()}


def test_compiled_step_equals_eager():
    eager_losses, eager_params = run(6)
    options = {"options": {"fallback_random": True}}  # same random stream as eager
    compiled_losses, compiled_params = run(6, compile=True, compile_options=options)
    # fused kernels may round differently: float32 tolerance
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-4)
    for name, value in eager_params.items():
        assert torch.allclose(compiled_params[name], value, rtol=1e-4, atol=1e-5), name


def test_compiler_failure_falls_back_with_a_warning():
    def failing_backend(graph_module, example_inputs):
        raise RuntimeError("this backend cannot compile")

    eager_losses, _ = run(3)
    with pytest.warns(UserWarning, match="(?s)torch.compile failed.*continuing with the eager"):
        losses, _ = run(3, compile=True, compile_options={"backend": failing_backend})
    assert losses == eager_losses


def test_compile_needs_an_elbo():
    with pytest.raises(TypeError, match="ELBO"):
        SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), lambda m, g, *a: 0.0, compile=True)
