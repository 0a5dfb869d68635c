"""Escape predicates and partial-trace extension (``pyrolite.poutine.partial_traces``, also
at Pyro's ``pyro.poutine.util``)."""

import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace
from pyrolite.poutine.util import (
    all_escape,
    discrete_escape,
    enum_extend,
    mc_extend,
    prune_subsample_sites,
    site_is_factor,
    site_is_subsample,
)


def model():
    pyro.sample("z", dist.Normal(0.0, 1.0))
    pyro.sample("k", dist.Bernoulli(0.3))
    with pyro.plate("data", 4, subsample_size=2):
        pyro.sample("y", dist.Normal(0.0, 1.0), obs=torch.zeros(2))
    pyro.factor("f", torch.tensor(-1.0))


def test_escape_predicates():
    partial = Trace()
    z = Message("sample", "z", dist.Normal(0.0, 1.0))
    k = Message("sample", "k", dist.Bernoulli(0.3))
    y = Message("sample", "y", dist.Normal(0.0, 1.0), value=torch.tensor(0.0), is_observed=True)
    assert all_escape(partial, z) and all_escape(partial, k) and not all_escape(partial, y)
    assert discrete_escape(partial, k) and not discrete_escape(partial, z)
    partial.add_site(k)
    assert not all_escape(partial, k) and not discrete_escape(partial, k)


def test_escape_stops_at_the_first_discrete_site():
    partial = Trace()
    escaped = poutine.trace(
        poutine.escape(model, escape_fn=lambda msg: discrete_escape(partial, msg))
    )
    try:
        escaped()
    except poutine.NonlocalExit as exit_:
        site = exit_.site
    assert site.name == "k"
    grown = enum_extend(partial, site)
    assert [float(t.nodes["k"]["value"]) for t in grown] == [0.0, 1.0]
    assert all(len(t) == 1 for t in grown) and len(partial) == 0
    assert len(enum_extend(partial, site, num_samples=0)) == 1


def test_mc_extend_draws_fresh_values():
    partial = Trace()
    site = Message("sample", "z", dist.Normal(torch.zeros(3), 1.0))
    grown = mc_extend(partial, site, num_samples=4)
    assert len(grown) == 4 and all(t.nodes["z"]["value"].shape == (3,) for t in grown)
    assert not torch.equal(grown[0].nodes["z"]["value"], grown[1].nodes["z"]["value"])
    assert len(mc_extend(partial, site)) == 1


def test_site_predicates_and_pruning():
    tr = poutine.trace(model).get_trace()
    assert site_is_subsample(tr.nodes["data"]) and not site_is_subsample(tr.nodes["z"])
    assert site_is_factor(tr.nodes["f"]) and not site_is_factor(tr.nodes["y"])
    pruned = prune_subsample_sites(tr)
    assert "data" not in pruned.nodes and "data" in tr.nodes
    assert [n for n in pruned.nodes if n not in ("_INPUT", "_RETURN")] == ["z", "k", "y", "f"]
