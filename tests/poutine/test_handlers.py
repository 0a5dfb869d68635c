"""Each handler in its functional and context-manager forms, and compositions."""

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.poutine.runtime import NonlocalExit


def model(y=None):
    a = pyro.sample("a", dist.Normal(0.0, 1.0))
    b = pyro.sample("b", dist.Normal(a, 1.0))
    with pyro.plate("data", 2):
        c = pyro.sample("c", dist.Normal(b, 1.0), obs=y)
    return a, b, c


Y = torch.tensor([0.3, -0.2])


def test_replay_reuses_latent_values_not_observations():
    guide_tr = poutine.trace(model).get_trace()
    tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(Y)
    for name in ("a", "b"):
        assert tr.nodes[name]["value"] is guide_tr.nodes[name]["value"]
    assert torch.equal(tr.nodes["c"]["value"], Y)


def test_replay_params():
    def m():
        return pyro.param("p", torch.tensor(1.0))

    assert poutine.replay(m, params={"p": torch.tensor(5.0)})().item() == 5.0


def test_replay_observed_in_trace_is_an_error():
    observed_tr = poutine.trace(poutine.condition(model, data={"a": torch.tensor(0.0)})).get_trace()
    with pytest.raises(RuntimeError, match="'a'.*latent"):
        poutine.replay(model, trace=observed_tr)()


def test_condition_makes_sites_observed():
    data = {"a": torch.tensor(0.5)}
    tr = poutine.trace(poutine.condition(model, data=data)).get_trace(Y)
    assert tr.nodes["a"]["is_observed"] and tr.nodes["a"]["value"] is data["a"]
    assert tr.observation_nodes == ["a", "c"]
    assert tr.stochastic_nodes == ["b"]
    # the context-manager form
    with poutine.trace() as t, poutine.condition(data=data):
        model()
    assert t.trace.nodes["a"]["is_observed"]


def test_condition_from_trace():
    source = poutine.trace(model).get_trace()
    tr = poutine.trace(poutine.condition(model, data=source)).get_trace()
    assert torch.equal(tr.nodes["b"]["value"], source.nodes["b"]["value"])
    assert tr.nodes["b"]["is_observed"]


def test_substitute_keeps_sites_latent():
    tr = poutine.trace(poutine.substitute(model, data={"a": torch.tensor(0.5)})).get_trace(Y)
    assert not tr.nodes["a"]["is_observed"] and tr.nodes["a"]["value"].item() == 0.5
    assert tr.stochastic_nodes == ["a", "b"]

    def m():
        return pyro.param("p", torch.tensor(1.0))

    assert poutine.substitute(m, data={"p": torch.tensor(3.0)})().item() == 3.0
    by_fn = poutine.substitute(model, substitute_fn=lambda msg: torch.tensor(7.0))
    assert by_fn()[0].item() == 7.0
    with pytest.raises(ValueError, match="exactly one"):
        poutine.substitute(model)


def test_uncondition():
    tr = poutine.trace(poutine.uncondition(model)).get_trace(Y)
    site = tr.nodes["c"]
    assert not site["is_observed"]
    assert torch.equal(site["infer"]["obs"], Y) and site["infer"]["was_observed"]
    assert not torch.equal(site["value"], Y)


@pytest.mark.parametrize(
    "kwargs, visible",
    [
        ({}, []),
        ({"hide": ["a"]}, ["b", "data", "c"]),
        ({"expose": ["a"]}, ["a"]),
        ({"hide_types": ["sample"]}, []),
        ({"expose_types": ["sample"]}, ["a", "b", "data", "c"]),
        ({"hide_fn": lambda msg: msg["name"] == "b"}, ["a", "data", "c"]),
        ({"expose_fn": lambda msg: msg["name"] == "b"}, ["b"]),
        ({"hide_all": False, "expose_all": True}, ["a", "b", "data", "c"]),
    ],
)
def test_block(kwargs, visible):
    tr = poutine.trace(poutine.block(model, **kwargs)).get_trace(Y)
    assert [n for n in tr.nodes if n not in ("_INPUT", "_RETURN")] == visible


def test_block_context_manager():
    with poutine.trace() as t:
        with poutine.block(hide=["a"]):
            model()
    assert "a" not in t.trace and "b" in t.trace


def test_do_intervenes_downstream():
    tr = poutine.trace(poutine.do(model, data={"a": torch.tensor(10.0)})).get_trace()
    a, b, _ = tr.nodes["_RETURN"]["value"]
    assert a.item() == 10.0
    # the original draw is kept under the site's name; the intervened copy is hidden
    assert tr.nodes["a"]["value"].item() != 10.0
    assert "a__CF" not in tr.nodes
    assert torch.allclose(tr.nodes["b"]["fn"].loc, torch.tensor(10.0))


def test_do_inside_plate_keeps_scale_once():
    def m():
        with pyro.plate("p", 10, subsample_size=5):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(poutine.do(m, data={"x": torch.zeros(5)})).get_trace()
    assert tr.nodes["x"]["scale"] == 2.0


def test_scale_multiplies_log_density():
    tr = poutine.trace(poutine.scale(model, scale=3.0)).get_trace(Y)
    plain = poutine.trace(poutine.replay(model, trace=tr)).get_trace(Y)
    assert torch.allclose(tr.log_prob_sum(), 3 * plain.log_prob_sum())
    with pytest.raises(ValueError, match="positive"):
        poutine.scale(scale=-1.0)
    with poutine.scale(scale=2.0), poutine.scale(scale=5.0):
        with poutine.trace() as t:
            model()
    assert t.trace.nodes["a"]["scale"] == 10.0


def test_mask_zeroes_log_density():
    mask = torch.tensor([True, False])

    def m():
        with pyro.plate("data", 2), poutine.mask(mask=mask):
            pyro.sample("c", dist.Normal(0.0, 1.0), obs=Y)

    tr = poutine.trace(m).get_trace()
    tr.compute_log_prob()
    assert tr.nodes["c"]["log_prob"][1] == 0.0
    assert tr.nodes["c"]["log_prob"][0] == dist.Normal(0.0, 1.0).log_prob(Y[0])
    with poutine.mask(mask=False), poutine.trace() as t:
        model(Y)
    assert t.trace.log_prob_sum().item() == 0.0
    with pytest.raises(ValueError, match="bool"):
        poutine.mask(mask=torch.ones(2))


def test_mask_and_scale_compose():
    with (
        poutine.trace() as t,
        poutine.scale(scale=2.0),
        poutine.mask(mask=torch.tensor([True, False])),
    ):
        with pyro.plate("data", 2):
            pyro.sample("c", dist.Normal(0.0, 1.0), obs=Y)
    expected = 2 * dist.Normal(0.0, 1.0).log_prob(Y[0])
    assert torch.allclose(t.trace.log_prob_sum(), expected)


def test_seed_reproduces_and_restores():
    seeded = poutine.seed(model, rng_seed=7)
    first, second = seeded(), seeded()
    assert torch.equal(first[0], second[0])
    torch.manual_seed(1)
    before = torch.rand(())
    torch.manual_seed(1)
    seeded()
    assert torch.equal(torch.rand(()), before)  # caller's stream untouched


def test_lift_turns_params_into_samples():
    def m():
        return pyro.param("w", torch.tensor(1.0))

    tr = poutine.trace(poutine.lift(m, prior=dist.Normal(100.0, 0.01))).get_trace()
    assert tr.nodes["w"]["type"] == "sample" and tr.stochastic_nodes == ["w"]
    assert abs(tr.nodes["w"]["value"].item() - 100.0) < 1.0
    only_other = poutine.lift(m, prior={"other": dist.Normal(0.0, 1.0)})
    assert only_other().item() == 1.0


def test_escape_stops_at_site():
    with pytest.raises(NonlocalExit) as exit_info:
        poutine.escape(model, escape_fn=lambda msg: msg["name"] == "b")()
    assert exit_info.value.site["name"] == "b"


def test_infer_config():
    tr = poutine.trace(
        poutine.infer_config(model, config_fn=lambda msg: {"enumerate": "parallel"})
    ).get_trace(Y)
    assert all(tr.nodes[n]["infer"]["enumerate"] == "parallel" for n in ("a", "b", "c"))


def test_broadcast_handler():
    from pyrolite.poutine.plate_messenger import CondIndepStackFrame
    from pyrolite.poutine.runtime import Message, apply_stack

    frame = CondIndepStackFrame("p", -1, 4, 0, 4)
    msg = Message("sample", "x", dist.Normal(0.0, 1.0), cond_indep_stack=(frame,))
    with poutine.broadcast():
        apply_stack(msg)
    assert msg.value.shape == (4,)


def test_decorator_form():
    @poutine.scale(scale=4.0)
    def scaled():
        return pyro.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(scaled).get_trace()
    assert tr.nodes["x"]["scale"] == 4.0


def test_composition_trace_replay_condition_block():
    """The custom-ELBO idiom: trace a guide, replay the model against it."""

    def guide(y=None):
        loc = pyro.param("a_loc", torch.tensor(0.2))
        a = pyro.sample("a", dist.Normal(loc, 1.0))
        pyro.sample("b", dist.Normal(a, 0.5))

    guide_tr = poutine.trace(guide).get_trace(Y)
    model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(Y)
    elbo = model_tr.log_prob_sum() - guide_tr.log_prob_sum()
    a, b = guide_tr.nodes["a"]["value"], guide_tr.nodes["b"]["value"]
    expected = (
        dist.Normal(0.0, 1.0).log_prob(a)
        + dist.Normal(a, 1.0).log_prob(b)
        + dist.Normal(b, 1.0).log_prob(Y).sum()
        - dist.Normal(0.2, 1.0).log_prob(a)
        - dist.Normal(a, 0.5).log_prob(b)
    )
    assert torch.allclose(elbo, expected)
    elbo.backward()
    assert pyro.get_param_store().unconstrained("a_loc").grad is not None

    hidden = poutine.trace(poutine.block(poutine.replay(model, trace=guide_tr), hide=["b"]))
    assert "b" not in hidden.get_trace(Y)
