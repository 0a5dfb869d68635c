import warnings

import pytest
import torch
from torch import nn

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.distributions import constraints


def test_sample_with_infer_and_obs():
    def m():
        pyro.sample("x", dist.Normal(0.0, 1.0), infer={"hint": 1})
        pyro.sample("y", dist.Normal(0.0, 1.0), obs=torch.tensor(2.0))

    tr = poutine.trace(m).get_trace()
    assert tr.nodes["x"]["infer"] == {"hint": 1}
    assert tr.nodes["y"]["is_observed"] and tr.nodes["y"]["value"].item() == 2.0


def test_sample_reparameterised_gradient():
    loc = torch.tensor(1.0, requires_grad=True)
    with poutine.trace():
        x = pyro.sample("x", dist.Normal(loc, 1.0))
    x.backward()
    assert loc.grad.item() == 1.0


def test_param_constraint_and_lazy_init():
    calls = []

    def init():
        calls.append(1)
        return torch.tensor([0.2, 0.8])

    def m():
        return pyro.param("p", init, constraint=constraints.simplex)

    first = poutine.trace(m).get_trace().nodes["p"]["value"]
    second = m()
    assert torch.allclose(first, torch.tensor([0.2, 0.8])) and torch.allclose(second, first)
    assert calls == [1]
    scale = pyro.param("s", torch.tensor(2.0), constraint=constraints.positive)
    assert torch.allclose(pyro.get_param_store().unconstrained("s"), torch.log(torch.tensor(2.0)))
    scale.backward()
    assert torch.allclose(pyro.get_param_store().unconstrained("s").grad, torch.tensor(2.0))


def test_param_without_init_is_an_error():
    with pytest.raises(KeyError, match="nope"):
        pyro.param("nope")


def test_module_registration_shares_parameters():
    net = nn.Linear(3, 2)

    def m():
        pyro.module("net", net)

    tr = poutine.trace(m).get_trace()
    assert tr.param_nodes == ["net$$$weight", "net$$$bias"]
    store = pyro.get_param_store()
    assert store.unconstrained("net$$$weight") is net.weight
    assert set(store.keys()) == {"net$$$weight", "net$$$bias"}


def test_module_update_from_store():
    net = nn.Linear(2, 1)
    pyro.module("net", net)
    other = nn.Linear(2, 1)
    pyro.module("net", other, update_module_params=True)
    # the module now holds the store's very tensors (here: net's), as in Pyro
    assert other.weight is net.weight and other.bias is net.bias
    with pytest.raises(ValueError, match=r"\$\$\$"):
        pyro.module("a$$$b", net)


def test_module_after_load_reads_the_tensors_the_optimiser_steps(tmp_path):
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    pyro.module("net", net)
    path = str(tmp_path / "params.pt")
    pyro.get_param_store().save(path)
    saved = {k: v.detach().clone() for k, v in net.state_dict().items()}
    pyro.clear_param_store()
    pyro.get_param_store().load(path)
    fresh = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    pyro.module("net", fresh, update_module_params=True)
    store = pyro.get_param_store()
    for key, value in fresh.named_parameters():
        assert torch.equal(value, saved[key])
        assert store.unconstrained("net$$$" + key) is value
        assert isinstance(value, nn.Parameter)
    # a gradient step on the store's tensors changes what the network computes
    out = fresh(torch.ones(1, 2)).sum()
    out.backward()
    with torch.no_grad():
        for _, leaf in store.named_parameters():
            leaf -= 0.1 * leaf.grad
    assert not torch.equal(fresh[0].weight, saved["0.weight"])


def test_factor_adds_log_density():
    def m():
        pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))
        pyro.factor("penalty", torch.tensor(-3.0))

    tr = poutine.trace(m).get_trace()
    assert torch.allclose(tr.log_prob_sum(), dist.Normal(0.0, 1.0).log_prob(torch.tensor(0.0)) - 3)
    assert tr.nodes["penalty"]["is_observed"]


def test_deterministic_is_recorded_without_density():
    def m():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        return pyro.deterministic("twice", 2 * x)

    tr = poutine.trace(m).get_trace()
    assert torch.equal(tr.nodes["twice"]["value"], 2 * tr.nodes["x"]["value"])
    assert torch.allclose(tr.log_prob_sum(), dist.Normal(0.0, 1.0).log_prob(tr.nodes["x"]["value"]))


def test_set_rng_seed_reproduces():
    pyro.set_rng_seed(11)
    a = pyro.sample("x", dist.Normal(0.0, 1.0))
    pyro.set_rng_seed(11)
    assert torch.equal(pyro.sample("x", dist.Normal(0.0, 1.0)), a)


def test_enable_validation_switch():
    assert pyro.is_validation_enabled()
    with pyro.validation_enabled(False):
        assert not pyro.is_validation_enabled()
        dist.Normal(0.0, -1.0)  # no error
    assert pyro.is_validation_enabled()
    with pytest.raises(ValueError):
        dist.Normal(0.0, -1.0)


def test_pyro_model_runs_unchanged():
    """A model written for Pyro, using only the foundation API."""
    pyro.clear_param_store()
    data = torch.randn(20, 2)

    def model(data):
        mu = pyro.sample("mu", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        sigma = pyro.param("sigma", torch.ones(2), constraint=constraints.positive)
        with pyro.plate("N", data.shape[0], subsample_size=5) as ind:
            pyro.sample("x", dist.Normal(mu, sigma).to_event(1), obs=data[ind])
        for i in pyro.plate("extra", 2):
            pyro.sample(f"e_{i}", dist.Bernoulli(0.5))
        pyro.factor("f", torch.tensor(0.0))
        return mu

    tr = poutine.trace(model).get_trace(data)
    assert tr.nodes["x"]["fn"].batch_shape == (5,)
    assert tr.nodes["x"]["scale"] == 4.0
    assert torch.isfinite(tr.log_prob_sum())


def test_observe_outside_inference_warns():
    obs = torch.tensor(0.0)
    with pytest.warns(RuntimeWarning, match="trying to observe a value outside of inference at x"):
        assert pyro.sample("x", dist.Normal(0.0, 1.0), obs=obs) is obs


def test_infer_is_observed_overrides_obs():
    def m():
        pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(1.0), infer={"is_observed": False})

    site = poutine.trace(m).get_trace().nodes["x"]
    assert not site["is_observed"] and site["value"].item() == 1.0
    assert "is_observed" not in site["infer"]


@pytest.mark.parametrize("mask", [torch.tensor(True), torch.tensor([True, False, True])])
def test_obs_mask_splits_observed_and_latent(mask):
    data = torch.tensor([1.0, 2.0, 3.0])

    def model():
        with pyro.plate("data", 3):
            return pyro.sample("y", dist.Normal(0.0, 1.0), obs=data, obs_mask=mask)

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["y_observed"]["is_observed"]
    assert not tr.nodes["y_unobserved"]["is_observed"]
    value = tr.nodes["y"]["value"]
    unobserved = tr.nodes["y_unobserved"]["value"]
    assert torch.equal(value, torch.where(mask, data, unobserved))
    assert tr.nodes["y"]["fn"].batch_shape == (3,)


def test_obs_mask_of_a_wrong_shape():
    def model():
        with pyro.plate("data", 3):
            pyro.sample(
                "y", dist.Normal(0.0, 1.0), obs=torch.zeros(3), obs_mask=torch.tensor([True, False])
            )

    with pytest.raises((ValueError, RuntimeError)):
        poutine.trace(model).get_trace()


def test_plate_stack_gives_contiguous_dims():
    with pyro.plate_stack("p", (2, 3, 4), rightmost_dim=-2):
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        plates = {f.name: (f.dim, f.size) for f in poutine.get_plates()}
    assert x.shape == (2, 3, 4, 1)
    assert plates == {"p_0": (-2, 4), "p_1": (-3, 3), "p_2": (-4, 2)}
    with pytest.raises(ValueError, match="rightmost_dim"):
        with pyro.plate_stack("q", (2,), rightmost_dim=0):
            pass


def test_module_warns_about_frozen_parameters():
    net = nn.Linear(2, 1)
    net.bias.requires_grad_(False)
    with pytest.warns(UserWarning, match="bias was not registered in the param store"):
        pyro.module("net", net)
    assert "net$$$weight" in pyro.get_param_store() and "net$$$bias" not in pyro.get_param_store()
    net.train(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pyro.module("net", net)


def test_barrier_returns_its_data():
    x = torch.ones(2)
    assert pyro.barrier(x) is x
    with poutine.trace():
        assert pyro.barrier(x) is x


def test_top_level_condition_and_do():
    def m():
        return pyro.sample("x", dist.Normal(0.0, 1.0))

    assert pyro.condition(m, data={"x": torch.tensor(2.0)})().item() == 2.0
    assert pyro.do(m, data={"x": torch.tensor(3.0)})().item() == 3.0
