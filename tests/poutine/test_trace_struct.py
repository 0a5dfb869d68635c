import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.poutine.trace_struct import scale_and_mask


def model(y):
    loc = pyro.param("loc", torch.tensor(0.5))
    z = pyro.sample("z", dist.Normal(loc, 1.0))
    k = pyro.sample("k", dist.Bernoulli(0.3))
    with pyro.plate("data", 3):
        pyro.sample("y", dist.Normal(z + k, 2.0), obs=y)
    return z


Y = torch.tensor([0.1, -0.4, 1.2])


def test_site_lists_and_pseudo_sites():
    tr = poutine.trace(model).get_trace(Y)
    assert list(tr.nodes) == ["_INPUT", "loc", "z", "k", "y", "_RETURN"]
    assert tr.nodes["_INPUT"]["args"] == (Y,)
    assert tr.nodes["_RETURN"]["value"] is tr.nodes["z"]["value"]
    assert tr.stochastic_nodes == ["z", "k"]
    assert tr.observation_nodes == ["y"]
    assert tr.param_nodes == ["loc"]
    assert tr.reparameterized_nodes == ["z"]
    assert tr.nonreparam_stochastic_nodes == ["k"]
    site = tr.nodes["y"]
    for key in (
        "type",
        "name",
        "fn",
        "args",
        "kwargs",
        "value",
        "is_observed",
        "infer",
        "scale",
        "mask",
        "cond_indep_stack",
    ):
        assert key in site


def test_log_prob_sum_matches_hand_computation():
    tr = poutine.trace(model).get_trace(Y)
    z, k = tr.nodes["z"]["value"], tr.nodes["k"]["value"]
    expected = (
        dist.Normal(0.5, 1.0).log_prob(z)
        + dist.Bernoulli(0.3).log_prob(k)
        + dist.Normal(z + k, 2.0).log_prob(Y).sum()
    )
    assert torch.allclose(tr.log_prob_sum(), expected)
    only_obs = tr.log_prob_sum(lambda name, site: site["is_observed"])
    assert torch.allclose(only_obs, dist.Normal(z + k, 2.0).log_prob(Y).sum())


def test_compute_log_prob_shapes_and_gradient():
    tr = poutine.trace(model).get_trace(Y)
    tr.compute_log_prob()
    assert tr.nodes["y"]["log_prob"].shape == (3,)
    assert tr.nodes["z"]["log_prob"].shape == ()
    assert torch.equal(tr.nodes["y"]["log_prob_sum"], tr.nodes["y"]["log_prob"].sum())
    tr.log_prob_sum().backward()
    assert pyro.get_param_store().unconstrained("loc").grad is not None


def test_score_parts():
    tr = poutine.trace(model).get_trace(Y)
    tr.compute_score_parts()
    z_parts = tr.nodes["z"]["score_parts"]
    k_parts = tr.nodes["k"]["score_parts"]
    assert z_parts.score_function == 0 and z_parts.entropy_term is z_parts.log_prob
    assert k_parts.entropy_term == 0 and k_parts.score_function is k_parts.log_prob


def test_duplicate_site_name_error():
    def bad():
        pyro.sample("x", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(0.0, 1.0))

    with pytest.raises(RuntimeError, match="Multiple sample sites named 'x'.*unique"):
        poutine.trace(bad).get_trace()


def test_param_read_twice_is_one_site():
    def twice():
        pyro.param("p", torch.tensor(1.0))
        return pyro.param("p")

    tr = poutine.trace(twice).get_trace()
    assert tr.param_nodes == ["p"]


def test_observation_outside_support_names_the_site():
    def bad():
        pyro.sample("count", dist.Poisson(3.0), obs=torch.tensor(-1.0))

    tr = poutine.trace(bad).get_trace()
    with pytest.raises(ValueError, match="site 'count'.*support"):
        tr.log_prob_sum()


def test_scale_and_mask():
    t = torch.tensor([1.0, -float("inf"), 3.0])
    m = torch.tensor([True, False, True])
    assert torch.equal(scale_and_mask(t, 2.0, m), torch.tensor([2.0, 0.0, 6.0]))
    assert torch.equal(scale_and_mask(t, 1.0, False), torch.zeros(3))
    assert scale_and_mask(t) is t
    wide = scale_and_mask(torch.ones(3), torch.tensor(2.0), torch.tensor([[True], [False]]))
    assert torch.equal(wide, torch.tensor([[2.0] * 3, [0.0] * 3]))


def test_format_shapes_lists_sites_and_plates():
    tr = poutine.trace(model).get_trace(Y)
    tr.compute_log_prob()
    text = tr.format_shapes()
    lines = text.splitlines()
    assert lines[0] == "Trace Shapes:"
    y_line = next(line for line in lines if line.startswith("y "))
    assert "obs" in y_line and "(3)" in y_line and "data[-1]:3" in y_line


def test_nonfinite_sites():
    def model_nan():
        pyro.sample("fine", dist.Normal(0.0, 1.0))
        pyro.sample("bad", dist.Normal(torch.tensor(float("nan")), 1.0, validate_args=False))

    tr = poutine.trace(model_nan).get_trace()
    assert tr.nonfinite_sites() == ["bad"]


def test_copy_and_detach():
    tr = poutine.trace(model).get_trace(Y)
    tr2 = tr.copy()
    tr2.remove_node("z")
    assert "z" in tr and "z" not in tr2
    tr.detach_()
    assert not tr.nodes["z"]["value"].requires_grad
