import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine


def test_vectorised_plate_broadcasts_and_returns_indices():
    def model():
        with pyro.plate("data", 5) as idx:
            x = pyro.sample("x", dist.Normal(0.0, 1.0))
        return idx, x

    tr = poutine.trace(model).get_trace()
    idx, x = tr.nodes["_RETURN"]["value"]
    assert torch.equal(idx, torch.arange(5))
    assert x.shape == (5,)
    frame = tr.nodes["x"]["cond_indep_stack"][0]
    assert (frame.name, frame.dim, frame.size, frame.counter) == ("data", -1, 5, 0)
    assert tr.nodes["x"]["fn"].batch_shape == (5,)


def test_nested_plates_automatic_dims():
    def model():
        with pyro.plate("outer", 3):
            with pyro.plate("inner", 4):
                return pyro.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    # as in Pyro, a plate entered first takes the rightmost free dim
    assert tr.nodes["x"]["value"].shape == (4, 3)
    dims = {f.name: f.dim for f in tr.nodes["x"]["cond_indep_stack"]}
    assert dims == {"outer": -1, "inner": -2}
    # outermost first
    assert [f.name for f in tr.nodes["x"]["cond_indep_stack"]] == ["outer", "inner"]


def test_nested_plates_explicit_dims():
    def model():
        with pyro.plate("a", 3, dim=-1):
            with pyro.plate("b", 2, dim=-3):
                return pyro.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["x"]["value"].shape == (2, 1, 3)
    tr.compute_log_prob()
    assert tr.nodes["x"]["log_prob"].shape == (2, 1, 3)


def test_auto_dim_skips_explicit_one():
    with pyro.plate("a", 3, dim=-1):
        with pyro.plate("b", 2) as _:
            x = pyro.sample("x", dist.Normal(0.0, 1.0))
    assert x.shape == (2, 3)


def test_two_plates_claiming_one_dim():
    with pytest.raises(ValueError, match="plates 'a' and 'b' collide at dim=-1"):
        with pyro.plate("a", 3, dim=-1):
            with pyro.plate("b", 4, dim=-1):
                pass


def test_positive_dim_rejected():
    with pytest.raises(ValueError, match="negative"):
        with pyro.plate("a", 3, dim=0):
            pass


def test_batch_shape_disagreeing_with_plate():
    def model():
        with pyro.plate("data", 100):
            pyro.sample("obs", dist.Normal(torch.zeros(50), 1.0))

    with pytest.raises(ValueError) as err:
        poutine.trace(model).get_trace()
    text = str(err.value)
    assert "'obs'" in text and "'data'" in text
    assert "(50)" in text and "100" in text and "(100)" in text


def test_subsample_scale_in_log_density():
    data = torch.arange(10.0)

    def model():
        with pyro.plate("data", 10, subsample_size=4) as idx:
            pyro.sample("obs", dist.Normal(0.0, 1.0), obs=data[idx])
        return idx

    tr = poutine.trace(model).get_trace()
    idx = tr.nodes["_RETURN"]["value"]
    assert idx.shape == (4,) and len(set(idx.tolist())) == 4
    assert tr.nodes["obs"]["scale"] == 10 / 4
    expected = 2.5 * dist.Normal(0.0, 1.0).log_prob(data[idx]).sum()
    assert torch.allclose(tr.log_prob_sum(), expected)
    # the subsample is recorded, replayable, and not a latent
    assert "data" in tr.nodes and tr.stochastic_nodes == []
    tr2 = poutine.trace(poutine.replay(model, trace=tr)).get_trace()
    assert torch.equal(tr2.nodes["_RETURN"]["value"], idx)


def test_explicit_subsample_indices():
    with pyro.plate("data", 10, subsample=torch.tensor([1, 3])) as idx:
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
    assert torch.equal(idx, torch.tensor([1, 3])) and x.shape == (2,)


def test_param_and_data_subsampled_by_plate():
    full = torch.arange(10.0)

    def model():
        with pyro.plate("data", 10, subsample_size=3) as idx:
            loc = pyro.param("loc", torch.arange(10.0) * 2, event_dim=0)
            data = pyro.subsample(full, event_dim=0)
            return idx, loc, data

    idx, loc, data = model()
    assert torch.equal(loc, 2 * full[idx])
    assert torch.equal(data, full[idx])


def test_sequential_plate():
    def model():
        values = []
        for i in pyro.plate("seq", 3):
            values.append(pyro.sample(f"x_{i}", dist.Normal(float(i), 1.0)))
        return values

    tr = poutine.trace(model).get_trace()
    assert [n for n in tr.stochastic_nodes] == ["x_0", "x_1", "x_2"]
    for counter, name in enumerate(["x_0", "x_1", "x_2"]):
        (frame,) = tr.nodes[name]["cond_indep_stack"]
        assert frame.dim is None and frame.counter == counter and frame.name == "seq"
        assert tr.nodes[name]["value"].shape == ()


def test_sequential_plate_subsampled_scale():
    def model():
        for i in pyro.plate("seq", 10, subsample_size=2):
            pyro.sample(f"x{i}", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert [tr.nodes[n]["scale"] for n in tr.stochastic_nodes] == [5.0, 5.0]


def test_reusing_a_plate_object():
    plate = pyro.plate("data", 4, subsample_size=2)
    with plate as i1:
        pyro.sample("a", dist.Normal(0.0, 1.0))
    with plate as i2:
        pyro.sample("b", dist.Normal(0.0, 1.0))
    assert torch.equal(i1, i2)


def test_plate_with_vector_event():
    with pyro.plate("data", 6):
        x = pyro.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1))
    assert x.shape == (6, 3)


def test_subsampled_param_keeps_its_leaf():
    with pyro.plate("data", 10, subsample_size=3):
        loc = pyro.param("loc", torch.zeros(10), event_dim=0)
    assert loc.shape == (3,)
    assert loc.unconstrained() is pyro.get_param_store().unconstrained("loc")
