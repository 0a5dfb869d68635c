"""Sites, plates, params and constrained latents of the autoguides."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.infer.autoguide import (
    AutoDelta,
    AutoDiagonalNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)

ALL_GUIDES = [
    AutoDelta,
    AutoNormal,
    AutoDiagonalNormal,
    AutoMultivariateNormal,
    AutoLowRankMultivariateNormal,
]


def constrained_model(data):
    """A HalfNormal scale, a Beta probability, a Dirichlet and a plate of local latents."""
    pyro.param("model_weight", torch.ones(2))  # a param of the model, not of the guide
    scale = pyro.sample("scale", dist.HalfNormal(1.0))
    p = pyro.sample("p", dist.Beta(2.0, 2.0))
    pyro.sample("probs", dist.Dirichlet(torch.ones(3)))
    with pyro.plate("groups", 2, dim=-2), pyro.plate("items", 4):
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        pyro.sample("obs", dist.Normal(loc, scale), obs=data)
    pyro.sample("flip", dist.Bernoulli(p), obs=torch.tensor(1.0))


DATA = torch.arange(8.0).reshape(2, 4) / 4


@pytest.mark.parametrize("guide_class", ALL_GUIDES)
def test_constrained_latents_stay_in_support(guide_class, fit):
    guide = guide_class(constrained_model)
    fit(constrained_model, guide, DATA, steps=30, lr=0.05)
    tr = poutine.trace(guide).get_trace(DATA)
    values = {name: tr.nodes[name]["value"].detach() for name in ("scale", "p", "probs", "loc")}
    assert float(values["scale"]) > 0 and 0 < float(values["p"]) < 1
    assert torch.allclose(values["probs"].sum(-1), torch.tensor(1.0))
    assert values["loc"].shape == (2, 4)
    assert bool(torch.isfinite(tr.log_prob_sum()))
    for name in ("scale", "p", "probs"):
        assert not tr.nodes[name]["is_observed"]
    median = guide.median(DATA)
    assert set(median) == {"scale", "p", "probs", "loc"}
    assert float(median["scale"]) > 0 and 0 < float(median["p"]) < 1
    assert torch.allclose(median["probs"].sum(-1), torch.tensor(1.0))
    assert median["probs"].shape == (3,) and median["loc"].shape == (2, 4)
    # the guide records the model's plates on the local latent, with the same dims
    frames = tr.nodes["loc"]["cond_indep_stack"]
    assert [(f.name, f.dim, f.size) for f in frames] == [("groups", -2, 2), ("items", -1, 4)]
    # guide params are prefixed; the model's param is not the guide's
    params = tr.param_nodes
    assert params and all(name.startswith(guide_class.__name__ + ".") for name in params)
    assert "model_weight" not in tr


def test_param_names():
    AutoNormal(constrained_model)(DATA)
    AutoDelta(constrained_model)(DATA)
    AutoDiagonalNormal(constrained_model)(DATA)
    AutoMultivariateNormal(constrained_model)(DATA)
    AutoLowRankMultivariateNormal(constrained_model, rank=2)(DATA)
    names = set(pyro.get_param_store().keys())
    assert {"AutoNormal.locs.scale", "AutoNormal.scales.probs", "AutoDelta.loc"} <= names
    assert {"AutoDiagonalNormal.loc", "AutoDiagonalNormal.scale"} <= names
    assert {"AutoMultivariateNormal.loc", "AutoMultivariateNormal.scale_tril"} <= names
    assert {"AutoLowRankMultivariateNormal.cov_factor"} <= names
    # the Dirichlet's unconstrained value has 2 entries: 1 + 1 + 2 + 8 = 12 latent dims
    assert pyro.param("AutoDiagonalNormal.loc").shape == (12,)
    assert pyro.param("AutoLowRankMultivariateNormal.cov_factor").shape == (12, 2)
    assert pyro.param("AutoNormal.locs.probs").shape == (2,)
    assert pyro.param("AutoDelta.probs").shape == (3,)


def test_auto_normal_sites():
    tr = poutine.trace(AutoNormal(constrained_model)).get_trace(DATA)
    # as in Pyro, every site goes through an auxiliary unconstrained site and a Delta carrying
    # the log-Jacobian (zero for a real-valued site)
    q = tr.nodes["loc_unconstrained"]["fn"]
    assert isinstance(getattr(q, "base_dist", q), dist.Normal)
    assert tr.nodes["loc_unconstrained"]["infer"]["is_auxiliary"]
    assert isinstance(tr.nodes["loc"]["fn"], dist.Delta)
    assert torch.equal(tr.nodes["loc"]["value"], tr.nodes["loc_unconstrained"]["value"])
    tr.compute_log_prob()
    assert float(tr.nodes["loc"]["log_prob_sum"]) == 0.0
    assert tr.nodes["scale_unconstrained"]["infer"]["is_auxiliary"]
    assert isinstance(tr.nodes["scale"]["fn"], dist.Delta)
    u = tr.nodes["p_unconstrained"]["value"]
    assert torch.allclose(tr.nodes["p"]["value"], torch.sigmoid(u))


def test_auto_continuous_latent_site():
    tr = poutine.trace(AutoDiagonalNormal(constrained_model)).get_trace(DATA)
    latent = tr.nodes["_AutoDiagonalNormal_latent"]
    assert latent["infer"]["is_auxiliary"] and latent["value"].shape == (12,)
    # sites are laid out in model order: scale, p, probs (2 unconstrained), loc (2 x 4)
    assert torch.allclose(tr.nodes["scale"]["value"], latent["value"][0].exp())
    assert torch.allclose(tr.nodes["loc"]["value"], latent["value"][4:].reshape(2, 4))


def test_quantiles_shapes_and_values():
    guide = AutoNormal(constrained_model)
    guide(DATA)
    store = pyro.get_param_store()
    store["AutoNormal.locs.scale"] = torch.tensor(0.5)
    store["AutoNormal.scales.scale"] = torch.tensor(2.0)
    q = guide.quantiles([0.1, 0.5, 0.9], DATA)
    assert q["loc"].shape == (3, 2, 4) and q["probs"].shape == (3, 3) and q["scale"].shape == (3,)
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([0.1, 0.5, 0.9]))
    assert torch.allclose(q["scale"], (0.5 + 2.0 * z).exp())
    assert torch.allclose(q["scale"][1], guide.median(DATA)["scale"])
    assert bool((q["loc"][0] < q["loc"][1]).all() and (q["loc"][1] < q["loc"][2]).all())

    delta = AutoDelta(constrained_model)
    point = delta(DATA)["loc"].detach()
    qd = delta.quantiles([0.25, 0.75], DATA)
    assert qd["loc"].shape == (2, 2, 4) and torch.equal(qd["loc"][0], point)
    assert torch.equal(qd["loc"][1], point)


@pytest.mark.parametrize("guide_class", [AutoMultivariateNormal, AutoLowRankMultivariateNormal])
def test_continuous_quantiles(guide_class):
    guide = guide_class(constrained_model)
    q = guide.quantiles([0.05, 0.5, 0.95], DATA)
    median = guide.median(DATA)
    assert q["scale"].shape == (3,) and q["loc"].shape == (3, 2, 4)
    for name in median:
        assert torch.allclose(q[name][1], median[name], atol=1e-6)
    assert bool((q["scale"][0] < q["scale"][2]).all())
    assert bool((q["p"] > 0).all() and (q["p"] < 1).all())


def test_first_call_under_a_trace_records_only_the_guide():
    def model():
        pyro.param("model_only", torch.tensor(1.0))
        pyro.sample("x", dist.Normal(0.0, 1.0))
        pyro.sample("y", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    tr = poutine.trace(AutoNormal(model)).get_trace()
    sites = [name for name in tr if name not in ("_INPUT", "_RETURN")]
    assert sites == ["AutoNormal.locs.x", "AutoNormal.scales.x", "x_unconstrained", "x"]


def test_errors():
    def sequential():
        for i in pyro.plate("seq", 2):
            pyro.sample(f"x{i}", dist.Normal(0.0, 1.0))

    with pytest.raises(NotImplementedError, match="sequential"):
        AutoNormal(sequential)()

    def discrete():
        pyro.sample("k", dist.Bernoulli(0.5))

    with pytest.raises(ValueError, match="'k'.*discrete"):
        AutoNormal(discrete)()

    def observed_only():
        pyro.sample("y", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    with pytest.raises(RuntimeError, match="no continuous latent"):
        AutoDiagonalNormal(observed_only)()


@pytest.mark.parametrize("init", ["init_to_feasible", "init_to_mean", "init_to_median"])
@pytest.mark.parametrize("cls", [AutoDelta, AutoNormal, AutoDiagonalNormal])
def test_discrete_site_error_points_to_enumeration(cls, init):
    """Pyro's tests match the enumeration tutorial's address in this error."""
    import pyrolite.infer.autoguide as autoguide

    def model():
        p = pyro.sample("p", dist.Beta(2.0, 2.0))
        x = pyro.sample("x", dist.Bernoulli(p))
        pyro.sample("obs", dist.Bernoulli(p * x + (1 - p) * (1 - x)), obs=torch.tensor([1.0]))

    guide = cls(model, init_loc_fn=getattr(autoguide, init))
    with pytest.raises(ValueError, match=r"'x'.*enumeration\.html.*hide=\['x'\]"):
        guide()


def test_pyro_positional_arguments():
    """Pyro's positional order: (model, init_loc_fn, init_scale[, rank])."""
    from pyrolite.infer.autoguide import init_to_feasible

    def model():
        pyro.sample("s", dist.LogNormal(0.0, 1.0).expand([3]).to_event(1))

    guide = AutoLowRankMultivariateNormal(model, init_to_feasible, 0.5, 2)
    guide()
    assert guide.rank == 2 and guide.init_scale == 0.5
    assert torch.equal(guide.median()["s"], torch.ones(3))  # exp(0): init_to_feasible
    for cls in (AutoDiagonalNormal, AutoMultivariateNormal):
        other = cls(model, init_to_feasible, 0.25)
        assert other.init_loc_fn is init_to_feasible and other.init_scale == 0.25
    assert AutoDelta(model, init_to_feasible).init_loc_fn is init_to_feasible
