import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.infer.autoguide import AutoNormal


def scalar_model():
    pyro.sample("z", dist.Normal(0.0, 1.0))


def two_site_model():
    x = pyro.sample("x", dist.Normal(0.0, 1.0))
    s = pyro.sample("s", dist.LogNormal(0.0, 1.0).expand([3]).to_event(1))
    pyro.sample("obs", dist.Normal(x, s), obs=torch.zeros(3))


def test_every_site_has_an_auxiliary_site_and_a_zero_density_delta():
    """Pyro's scoring: the guide's density sits on ``z_unconstrained``; ``z`` itself scores
    zero in the guide (a real site has no Jacobian) and its prior density in the model."""
    guide = AutoNormal(scalar_model)
    guide_tr = poutine.trace(guide).get_trace()
    model_tr = poutine.trace(poutine.replay(scalar_model, trace=guide_tr)).get_trace()
    guide_tr.compute_log_prob()
    model_tr.compute_log_prob()
    aux = guide_tr.nodes["z_unconstrained"]
    assert aux["infer"]["is_auxiliary"]
    assert float(guide_tr.nodes["z"]["log_prob_sum"]) == 0.0
    z = guide_tr.nodes["z"]["value"]
    expected = dist.Normal(pyro.param("AutoNormal.locs.z"), pyro.param("AutoNormal.scales.z"))
    assert torch.allclose(aux["log_prob_sum"], expected.log_prob(z))
    assert torch.allclose(model_tr.nodes["z"]["log_prob_sum"], dist.Normal(0.0, 1.0).log_prob(z))
    assert "z_unconstrained" not in model_tr.nodes


def test_site_names_match_real_pyro():
    import pyro as real_pyro
    import pyro.distributions as real_dist
    from pyro.infer.autoguide import AutoNormal as RealAutoNormal

    def real_model():
        x = real_pyro.sample("x", real_dist.Normal(0.0, 1.0))
        s = real_pyro.sample("s", real_dist.LogNormal(0.0, 1.0).expand([3]).to_event(1))
        real_pyro.sample("obs", real_dist.Normal(x, s), obs=torch.zeros(3))

    real_pyro.clear_param_store()
    theirs = real_pyro.poutine.trace(RealAutoNormal(real_model)).get_trace()
    real_pyro.clear_param_store()
    ours = poutine.trace(AutoNormal(two_site_model)).get_trace()
    sample_sites = [n for n, s in ours.nodes.items() if s["type"] == "sample"]
    their_sample_sites = [n for n, s in theirs.nodes.items() if s["type"] == "sample"]
    assert sample_sites == their_sample_sites == ["x_unconstrained", "x", "s_unconstrained", "s"]
    assert sorted(ours.param_nodes) == sorted(theirs.param_nodes)


def test_locs_and_scales_read_and_write_the_store():
    guide = AutoNormal(two_site_model, init_scale=0.3)
    assert not hasattr(guide.locs, "x")  # no sites before the first call
    guide()
    assert hasattr(guide.locs, "x") and hasattr(guide.scales, "s")
    assert not hasattr(guide.locs, "obs")  # observed sites are not guided
    assert guide.locs.x.shape == () and guide.locs.s.shape == (3,)
    assert torch.allclose(guide.scales.s, torch.full((3,), 0.3))
    assert torch.equal(guide.locs.x, pyro.param("AutoNormal.locs.x"))
    guide.scales.x = torch.tensor(2.5)
    assert float(pyro.param("AutoNormal.scales.x").detach()) == pytest.approx(2.5)
    # the constraint is kept: the store holds softplus^-1(2.5) as the unconstrained leaf
    leaf = pyro.get_param_store().unconstrained("AutoNormal.scales.x")
    assert float(torch.nn.functional.softplus(leaf.detach())) == pytest.approx(2.5)
    with pytest.raises(AttributeError, match="'y'"):
        guide.locs.y = torch.tensor(1.0)


def test_locs_carry_over_to_a_guide_of_a_grown_model():
    """A value written through ``locs`` is the init of a later guide with the same prefix."""
    guide = AutoNormal(scalar_model)
    guide()
    guide.locs.z = torch.tensor(12.345)

    def grown():
        pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("w", dist.Normal(0.0, 1.0))

    bigger = AutoNormal(grown)
    bigger()
    assert float(bigger.locs.z.detach()) == pytest.approx(12.345)
    assert hasattr(bigger.locs, "w")
    assert float(bigger.median()["z"]) == pytest.approx(12.345)
