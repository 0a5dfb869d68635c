"""Model/guide checks the ELBOs run while validating: Pyro's messages, and a fix."""

import warnings

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.infer import Trace_ELBO, TraceMeanField_ELBO


def _loss(model, guide, elbo=None):
    return (elbo or Trace_ELBO()).loss(model, guide)


def test_a_batch_dim_no_plate_declares_is_an_invalid_log_prob_shape():
    def model():
        pyro.sample("x", dist.Normal(torch.zeros(3), 1.0), obs=torch.ones(3))

    with pytest.raises(ValueError, match='at site "x", invalid log_prob shape') as err:
        _loss(model, lambda: None)
    assert "Expected [], actual [3]" in str(err.value)
    assert "with pyro.plate(...)" in str(err.value)


def test_the_same_site_inside_a_plate_is_fine():
    def model():
        with pyro.plate("data", 3):
            pyro.sample("x", dist.Normal(torch.zeros(3), 1.0), obs=torch.ones(3))

    assert _loss(model, lambda: None) == pytest.approx(3 * (0.5 + 0.9189385), rel=1e-6)


def test_plates_deeper_than_max_plate_nesting_overflow():
    def model():
        with pyro.plate("a", 2, dim=-1), pyro.plate("b", 3, dim=-2):
            pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(3, 2))

    with pytest.raises(ValueError, match="plate stack overflow"):
        _loss(model, lambda: None, Trace_ELBO(max_plate_nesting=1))


def test_model_and_guide_shapes_must_agree():
    def model():
        pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))

    def guide():
        pyro.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    with pytest.raises(ValueError, match=r"Model and guide shapes disagree at site 'z'"):
        _loss(model, guide)


def test_model_and_guide_event_dims_must_agree():
    def model():
        pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))

    def guide():
        with pyro.plate("p", 2):
            pyro.sample("z", dist.Normal(torch.zeros(2), 1.0))

    with pytest.raises(ValueError, match="Model and guide event_dims disagree at site 'z'"):
        _loss(model, guide)


def test_guide_only_sites_and_plates_warn_unless_auxiliary():
    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("w", dist.Normal(0.0, 1.0))

    with pytest.warns(UserWarning, match="Found non-auxiliary vars in guide but not model"):
        _loss(model, guide)

    def aux_guide():
        pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("w", dist.Normal(0.0, 1.0), infer={"is_auxiliary": True})

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _loss(model, aux_guide)

    def plate_guide():
        with pyro.plate("extra", 2):
            pass
        pyro.sample("z", dist.Normal(0.0, 1.0))

    with pytest.warns(UserWarning, match="Found plate statements in guide but not model"):
        _loss(model, plate_guide)


def test_factor_in_a_guide_must_say_whether_it_is_reparameterised():
    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide(has_rsample=None):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.factor("f", -z.pow(2), has_rsample=has_rsample)

    with pytest.raises(ValueError, match=r'At guide site pyro.factor\("f",...\), missing'):
        _loss(model, guide)
    _loss(model, lambda: guide(has_rsample=True))


def test_mean_field_elbo_warns_when_the_guide_samples_in_another_order():
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        pyro.sample("y", dist.Normal(x, 1.0))

    def guide():
        y = pyro.sample("y", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(y, 1.0))

    with pytest.warns(UserWarning, match="Failed to verify mean field restriction"):
        _loss(model, guide, TraceMeanField_ELBO())


def test_mean_field_elbo_with_a_site_masked_out_entirely():
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0).mask(False))
        pyro.sample("y", dist.Normal(x, 1.0), obs=torch.tensor(0.5))

    def guide():
        pyro.sample("x", dist.Normal(pyro.param("loc", torch.tensor(0.3)), 1.0).mask(False))

    loss = TraceMeanField_ELBO().loss(model, guide)
    assert isinstance(loss, float)
