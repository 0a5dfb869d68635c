"""Handled programs: what ``handler(fn)`` returns pickles and refuses non-callables."""

import io
import pickle

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine

ONE = torch.tensor(1.0)


def beta_bernoulli(a=ONE, b=ONE):
    p = pyro.sample("p", dist.Beta(a, b))
    return pyro.sample("y", dist.Bernoulli(p), obs=torch.tensor(1.0))


@pytest.mark.parametrize(
    "wrap",
    [
        lambda fn: poutine.block(fn),
        lambda fn: poutine.condition(fn, {"p": torch.tensor(0.9)}),
        lambda fn: poutine.scale(fn, scale=2.0),
        lambda fn: poutine.replay(fn, trace=poutine.trace(fn).get_trace()),
    ],
    ids=["block", "condition", "scale", "replay"],
)
def test_handled_program_survives_a_pickle_round_trip(wrap):
    wrapped = wrap(beta_bernoulli)
    buffer = io.BytesIO()
    torch.save(wrapped, buffer, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=False)
    pyro.set_rng_seed(3)
    expected = poutine.trace(wrapped).get_trace()
    pyro.set_rng_seed(3)
    actual = poutine.trace(restored).get_trace()
    assert list(actual.nodes) == list(expected.nodes)
    for name in expected.stochastic_nodes:
        assert torch.equal(actual.nodes[name]["value"], expected.nodes[name]["value"])
    assert restored.__name__ == "beta_bernoulli"


def test_a_handler_argument_passed_positionally_is_named_as_not_callable():
    with pytest.raises(ValueError, match="False is not callable, did you mean to pass it as"):
        poutine.mask(False)
    with poutine.mask(mask=False):
        tr = poutine.trace(beta_bernoulli).get_trace()
    assert tr.nodes["y"]["mask"] is False


class _Host:
    """A class whose methods are handled programs."""

    @poutine.block
    def hidden(self, x):
        return pyro.sample("x", dist.Normal(x, 1.0))


def test_a_handler_decorating_a_method_binds_self():
    tr = poutine.trace(_Host().hidden).get_trace(torch.tensor(0.0))
    assert "x" not in tr.nodes
