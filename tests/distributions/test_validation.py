"""The validation switch: on by default, drives torch's default, switchable off."""

import pytest
import torch

import pyrolite.distributions as dist


@pytest.fixture
def restore_validation():
    old = dist.is_validation_enabled()
    yield
    dist.enable_validation(old)


def test_on_by_default():
    # Importing pyrolite.distributions turns it on (nothing in this package turns it off).
    assert dist.is_validation_enabled() is True
    with pytest.raises(ValueError, match="support"):
        dist.Exponential(1.0).log_prob(torch.tensor(-1.0))
    with pytest.raises(ValueError):
        dist.Normal(0.0, -1.0)


def test_switch_off_and_on(restore_validation):
    dist.enable_validation(False)
    assert dist.is_validation_enabled() is False
    # It is torch's default that was switched: plain torch distributions follow it too.
    torch.distributions.Exponential(1.0).log_prob(torch.tensor(-1.0))
    lp = dist.Exponential(1.0).log_prob(torch.tensor(-1.0))  # no error when off
    assert lp.item() == 1.0  # log(rate) - rate * value, evaluated blindly
    dist.Normal(0.0, -1.0)  # no error either
    dist.enable_validation()
    assert dist.is_validation_enabled() is True
    with pytest.raises(ValueError):
        dist.Exponential(1.0).log_prob(torch.tensor(-1.0))
    with pytest.raises(ValueError):
        torch.distributions.Exponential(1.0).log_prob(torch.tensor(-1.0))


def test_switch_applies_to_existing_instances(restore_validation):
    d = dist.Exponential(1.0)
    dist.enable_validation(False)
    d.log_prob(torch.tensor(-1.0))
    dist.enable_validation(True)
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor(-1.0))


def test_explicit_validate_args_wins(restore_validation):
    dist.enable_validation(False)
    with pytest.raises(ValueError):
        dist.Exponential(1.0, validate_args=True).log_prob(torch.tensor(-1.0))
    dist.enable_validation(True)
    dist.Exponential(1.0, validate_args=False).log_prob(torch.tensor(-1.0))


def test_pyrolite_distributions_follow_the_switch(restore_validation):
    d = dist.Delta(torch.zeros(2))
    with pytest.raises(ValueError):
        d.log_prob(torch.zeros(3))
    dist.enable_validation(False)
    assert d.log_prob(torch.tensor([0.0, float("nan")])).tolist()[1] == float("-inf")


@pytest.mark.parametrize("inner", [False, True])
def test_validation_enabled_context_restores_the_setting(restore_validation, inner):
    for outer in (True, False):
        dist.enable_validation(outer)
        with dist.validation_enabled(inner):
            assert dist.is_validation_enabled() is inner
        assert dist.is_validation_enabled() is outer
    with pytest.raises(RuntimeError), dist.validation_enabled(not outer):
        raise RuntimeError
    assert dist.is_validation_enabled() is outer
