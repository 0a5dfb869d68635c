"""Differential tests: the same program and seed give the same numbers in Pyro and pyrolite.

Pyro is a test-only dependency (the ``dev`` extra); pyrolite never imports it.
"""

import pytest
import torch

pyro = pytest.importorskip("pyro")
import pyro.distributions as pyro_dist  # noqa: E402

import pyrolite  # noqa: E402
import pyrolite.distributions as pyrolite_dist  # noqa: E402

LIBRARIES = {
    "pyro": (pyro, pyro_dist, pyro.poutine),
    "pyrolite": (pyrolite, pyrolite_dist, pyrolite.poutine),
}
DATA = torch.linspace(-1, 1, 40).reshape(20, 2)


def make_model(lib, dist):
    def model(data):
        mu = lib.sample("mu", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        s = lib.param("s", torch.ones(2), constraint=dist.constraints.positive)
        with lib.plate("N", 20, subsample_size=5) as ind:
            lib.sample("x", dist.Normal(mu, s).to_event(1), obs=data[ind])
        with lib.plate("a", 3):
            with lib.plate("b", 4):
                lib.sample("k", dist.Bernoulli(0.3))
        for i in lib.plate("seq", 3):
            lib.sample(f"e_{i}", dist.Gamma(2.0, 1.0))
        lib.factor("f", -mu.pow(2).sum())
        return mu

    return model


def make_guide(lib, dist):
    def guide(data):
        loc = lib.param("mu_loc", torch.zeros(2))
        scale = lib.param("mu_scale", torch.ones(2), constraint=dist.constraints.positive)
        lib.sample("mu", dist.Normal(loc, scale).to_event(1))

    return guide


def run_both(fn):
    """``fn(lib, dist, poutine)`` under each library from the same seed and empty store."""
    results = {}
    for name, (lib, dist, poutine) in LIBRARIES.items():
        lib.clear_param_store()
        lib.set_rng_seed(5)
        results[name] = fn(lib, dist, poutine)
    return results["pyro"], results["pyrolite"]


def sample_sites(trace):
    return {n: s for n, s in trace.nodes.items() if s["type"] == "sample"}


def test_same_values_scales_and_log_density():
    def fn(lib, dist, poutine):
        tr = poutine.trace(make_model(lib, dist)).get_trace(DATA)
        return tr, tr.log_prob_sum()

    (tr_a, lp_a), (tr_b, lp_b) = run_both(fn)
    sites_b = sample_sites(tr_b)
    # Pyro also records non-subsampling plates as sites; pyrolite records only subsampling.
    assert set(sites_b) <= set(sample_sites(tr_a))
    for name, site in sites_b.items():
        other = tr_a.nodes[name]
        assert torch.equal(site["value"], other["value"]), name
        assert site["scale"] == other["scale"], name
        assert site["is_observed"] == other["is_observed"], name
    assert torch.equal(lp_a, lp_b)


def test_same_custom_elbo_training():
    """Trace/replay ELBO and Adam: identical parameters after 20 steps."""

    def fn(lib, dist, poutine):
        model, guide = make_model(lib, dist), make_guide(lib, dist)
        optim = lib.optim.Adam({"lr": 0.05})
        for _ in range(20):
            guide_tr = poutine.trace(guide).get_trace(DATA)
            model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(DATA)
            loss = -(model_tr.log_prob_sum() - guide_tr.log_prob_sum())
            loss.backward()
            params = [
                site["value"].unconstrained()
                for tr in (model_tr, guide_tr)
                for site in tr.nodes.values()
                if site["type"] == "param"
            ]
            optim(params)
            for p in params:
                p.grad = None
        store = lib.get_param_store()
        return {k: store[k].detach().clone() for k in ("mu_loc", "mu_scale", "s")}

    a, b = run_both(fn)
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-6, atol=1e-7), key


@pytest.mark.parametrize(
    "wrap",
    [
        lambda p, m: p.condition(m, data={"mu": torch.tensor([0.5, -0.5])}),
        lambda p, m: p.do(m, data={"mu": torch.tensor([0.5, -0.5])}),
        lambda p, m: p.scale(m, scale=3.0),
        lambda p, m: p.block(m, hide=["x"]),
        lambda p, m: p.uncondition(m),
        # Pyro substitutes params only; pyrolite also substitutes latents (documented)
        lambda p, m: p.substitute(m, data={"s": torch.tensor([2.0, 3.0])}),
    ],
    ids=["condition", "do", "scale", "block", "uncondition", "substitute"],
)
def test_same_numbers_under_handlers(wrap):
    def fn(lib, dist, poutine):
        tr = poutine.trace(wrap(poutine, make_model(lib, dist))).get_trace(DATA)
        return tr, tr.log_prob_sum()

    (tr_a, lp_a), (tr_b, lp_b) = run_both(fn)
    for name, site in sample_sites(tr_b).items():
        assert torch.equal(site["value"], tr_a.nodes[name]["value"]), name
    assert torch.allclose(lp_a, lp_b)
