"""Plates record their indices as a ``Subsample`` sample site (as Pyro does), so replay and
condition can set them; ``block_plate`` hides one plate; param shapes are checked."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.poutine.plate_messenger import Subsample, block_plate
from pyrolite.poutine.trace_struct import is_latent, is_subsample


def test_subsample_distribution_interface():
    d = Subsample(10, 4)
    value = d.sample()
    assert value.shape == (4,) and value.dtype == torch.long
    assert len(set(value.tolist())) == 4 and 0 <= value.min() and value.max() < 10
    assert d.batch_shape == () and d.event_shape == (4,)
    assert d.log_prob(value).shape == ()
    expanded = d.expand((3, 2))
    assert expanded.batch_shape == (3, 2) and expanded.event_shape == (4,)
    assert torch.equal(expanded.log_prob(value), torch.zeros(3, 2))
    assert expanded.shape((5,)) == (5, 3, 2, 4)
    assert torch.equal(Subsample(5, None).sample(), torch.arange(5))
    with pytest.raises(NotImplementedError):
        d.sample((2,))


def test_every_sized_plate_records_an_index_site():
    def model():
        with pyro.plate("data", 5) as idx:
            pyro.sample("x", dist.Normal(0.0, 1.0))
        return idx

    tr = poutine.trace(model).get_trace()
    site = tr.nodes["data"]
    assert is_subsample(site) and not is_latent(site)
    assert isinstance(site.fn, Subsample)
    assert torch.equal(site.value, torch.arange(5))
    assert tr.stochastic_nodes == ["x"]
    assert list(tr.nodes) == ["_INPUT", "data", "x", "_RETURN"]


def test_plate_without_size_records_nothing():
    def model():
        with pyro.plate("data"):
            pyro.sample("x", dist.Normal(torch.zeros(3), 1.0))

    tr = poutine.trace(model).get_trace()
    assert "data" not in tr.nodes


def test_nested_subsampling_plate_is_broadcast_without_error():
    # A plate built inside another plate: its index site is broadcast like any site.
    def guide():
        with pyro.plate("outer", 3):
            with pyro.plate("inner", 10, subsample_size=4) as idx:
                pyro.sample("z", dist.Normal(0.0, 1.0))
        return idx

    tr = poutine.trace(guide).get_trace()
    assert tr.nodes["inner"]["fn"].batch_shape == (3,)
    assert tr.nodes["z"]["value"].shape == (4, 3)
    tr.compute_log_prob()
    assert float(tr.nodes["inner"]["log_prob"].abs().sum()) == 0.0


@pytest.mark.parametrize("sequential", [False, True], ids=["vectorized", "sequential"])
def test_custom_subsample_is_returned_as_given(sequential):
    def model(indices):
        if sequential:
            return list(pyro.plate("p", 20, subsample=indices))
        with pyro.plate("p", 20, subsample=indices) as batch:
            return batch

    indices = [1, 3, 5, 7]
    assert model(indices) == indices
    assert poutine.trace(model)(indices) == indices


def test_custom_subsample_scales_and_slices():
    full = torch.arange(20.0)
    with pyro.plate("p", 20, subsample=torch.tensor([2, 5])) as idx:
        data = pyro.subsample(full, event_dim=0)
        tr = poutine.trace(lambda: pyro.sample("x", dist.Normal(0.0, 1.0))).get_trace()
    assert torch.equal(idx, torch.tensor([2, 5])) and torch.equal(data, torch.tensor([2.0, 5.0]))
    assert tr.nodes["x"]["scale"] == 10.0


def _plate_model(subsample_size):
    with pyro.plate("p", 20, subsample_size) as idx:
        return idx


@pytest.mark.parametrize("guide_size", [5, 20, None])
def test_replayed_indices_reach_a_plate_without_subsample_size(guide_size):
    traced = poutine.trace(_plate_model)
    expected = traced(guide_size)
    replayed = poutine.replay(_plate_model, trace=traced.trace)(None)
    assert torch.equal(replayed, expected)


@pytest.mark.parametrize("model_size,guide_size", [(20, 5), (5, 20), (5, None)])
def test_replayed_indices_of_another_size_are_an_error(model_size, guide_size):
    traced = poutine.trace(_plate_model)
    traced(guide_size)
    with pytest.raises(ValueError, match="subsample_size does not match len\\(subsample\\)"):
        poutine.replay(_plate_model, trace=traced.trace)(model_size)


def test_zero_size_plate_is_an_error():
    with pytest.raises(ZeroDivisionError, match="size cannot be zero"):
        pyro.plate("p", 0)


def test_param_of_the_wrong_size_inside_a_plate():
    with pytest.raises(ValueError, match=r"Inside pyro.plate\(p, 10, dim=-1\) invalid shape"):
        with pyro.plate("p", 10, subsample_size=3):
            pyro.param("w", torch.zeros(7), event_dim=0)
    with pyro.plate("p", 10, subsample_size=3):  # size 1 broadcasts
        assert pyro.param("v", torch.zeros(1), event_dim=0).shape == (1,)


@pytest.mark.parametrize("by", ["name", "dim"])
def test_block_plate_hides_one_plate(by):
    def model():
        with pyro.plate("outer", 2, dim=-2):
            with pyro.plate("data", 3, dim=-1):
                kwargs = {"name": "data"} if by == "name" else {"dim": -1}
                with block_plate(**kwargs):
                    a = pyro.sample("a", dist.Normal(0.0, 1.0))
                b = pyro.sample("b", dist.Normal(0.0, 1.0))
        return a, b

    tr = poutine.trace(model).get_trace()
    assert [f.name for f in tr.nodes["a"]["cond_indep_stack"]] == ["outer"]
    assert tr.nodes["a"]["value"].shape == (2, 1)
    assert tr.nodes["b"]["value"].shape == (2, 3)


def test_block_plate_errors():
    with pytest.raises(ValueError, match="Exactly one of name,dim"):
        with block_plate():
            pass
    with pytest.raises(ValueError, match="block_plate matched 0 messengers"):
        with block_plate("missing"):
            pass
    with block_plate("missing", strict=False):
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
    assert x.shape == ()
