import pickle

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.distributions.score_parts import ScoreParts
from pyrolite.infer import SVI, Trace_ELBO
from pyrolite.poutine.trace_struct import Trace, scale_and_mask


def model(y):
    loc = pyro.param("loc", torch.tensor(0.5))
    z = pyro.sample("z", dist.Normal(loc, 1.0))
    k = pyro.sample("k", dist.Bernoulli(0.3))
    with pyro.plate("data", 3):
        pyro.sample("y", dist.Normal(z + k, 2.0), obs=y)
    return z


Y = torch.tensor([0.1, -0.4, 1.2])


def test_site_lists_and_pseudo_sites():
    tr = poutine.trace(model).get_trace(Y)
    # the plate records its indices as a subsample site named after it, as in Pyro
    assert list(tr.nodes) == ["_INPUT", "loc", "z", "k", "data", "y", "_RETURN"]
    assert tr.nodes["_INPUT"]["args"] == (Y,)
    assert tr.nodes["_RETURN"]["value"] is tr.nodes["z"]["value"]
    assert tr.stochastic_nodes == ["z", "k"]
    assert tr.observation_nodes == ["y"]
    assert tr.param_nodes == ["loc"]
    assert tr.reparameterized_nodes == ["z"]
    assert tr.nonreparam_stochastic_nodes == ["k"]
    site = tr.nodes["y"]
    for key in (
        "type",
        "name",
        "fn",
        "args",
        "kwargs",
        "value",
        "is_observed",
        "infer",
        "scale",
        "mask",
        "cond_indep_stack",
    ):
        assert key in site


def test_log_prob_sum_matches_hand_computation():
    tr = poutine.trace(model).get_trace(Y)
    z, k = tr.nodes["z"]["value"], tr.nodes["k"]["value"]
    expected = (
        dist.Normal(0.5, 1.0).log_prob(z)
        + dist.Bernoulli(0.3).log_prob(k)
        + dist.Normal(z + k, 2.0).log_prob(Y).sum()
    )
    assert torch.allclose(tr.log_prob_sum(), expected)
    only_obs = tr.log_prob_sum(lambda name, site: site["is_observed"])
    assert torch.allclose(only_obs, dist.Normal(z + k, 2.0).log_prob(Y).sum())


def test_compute_log_prob_shapes_and_gradient():
    tr = poutine.trace(model).get_trace(Y)
    tr.compute_log_prob()
    assert tr.nodes["y"]["log_prob"].shape == (3,)
    assert tr.nodes["z"]["log_prob"].shape == ()
    assert torch.equal(tr.nodes["y"]["log_prob_sum"], tr.nodes["y"]["log_prob"].sum())
    tr.log_prob_sum().backward()
    assert pyro.get_param_store().unconstrained("loc").grad is not None


def test_score_parts():
    tr = poutine.trace(model).get_trace(Y)
    tr.compute_score_parts()
    z_parts = tr.nodes["z"]["score_parts"]
    k_parts = tr.nodes["k"]["score_parts"]
    assert z_parts.score_function == 0 and z_parts.entropy_term is z_parts.log_prob
    assert k_parts.entropy_term == 0 and k_parts.score_function is k_parts.log_prob


def test_duplicate_site_name_error():
    def bad():
        pyro.sample("x", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(0.0, 1.0))

    with pytest.raises(RuntimeError, match="Multiple sample sites named 'x'.*unique"):
        poutine.trace(bad).get_trace()


def test_param_read_twice_is_one_site():
    def twice():
        pyro.param("p", torch.tensor(1.0))
        return pyro.param("p")

    tr = poutine.trace(twice).get_trace()
    assert tr.param_nodes == ["p"]


def test_observation_outside_support_names_the_site():
    def bad():
        pyro.sample("count", dist.Poisson(3.0), obs=torch.tensor(-1.0))

    tr = poutine.trace(bad).get_trace()
    with pytest.raises(ValueError, match="site 'count'.*support"):
        tr.log_prob_sum()


def test_scale_and_mask():
    t = torch.tensor([1.0, -float("inf"), 3.0])
    m = torch.tensor([True, False, True])
    assert torch.equal(scale_and_mask(t, 2.0, m), torch.tensor([2.0, 0.0, 6.0]))
    assert torch.equal(scale_and_mask(t, 1.0, False), torch.zeros(3))
    assert scale_and_mask(t) is t
    wide = scale_and_mask(torch.ones(3), torch.tensor(2.0), torch.tensor([[True], [False]]))
    assert torch.equal(wide, torch.tensor([[2.0] * 3, [0.0] * 3]))


def test_format_shapes_lists_sites_and_plates():
    tr = poutine.trace(model).get_trace(Y)
    tr.compute_log_prob()
    text = tr.format_shapes()
    lines = text.splitlines()
    assert lines[0] == "Trace Shapes:"
    y_line = next(line for line in lines if line.startswith("y "))
    assert "obs" in y_line and "(3)" in y_line and "data[-1]:3" in y_line


def test_nonfinite_sites():
    def model_nan():
        pyro.sample("fine", dist.Normal(0.0, 1.0))
        pyro.sample("bad", dist.Normal(torch.tensor(float("nan")), 1.0, validate_args=False))

    tr = poutine.trace(model_nan).get_trace()
    assert tr.nonfinite_sites() == ["bad"]


def test_copy_and_detach():
    tr = poutine.trace(model).get_trace(Y)
    tr2 = tr.copy()
    tr2.remove_node("z")
    assert "z" in tr and "z" not in tr2
    tr.detach_()
    assert not tr.nodes["z"]["value"].requires_grad


# -- graph API -------------------------------------------------------------------------------
def _tree() -> Trace:
    tr = Trace()
    for parent, child in [(1, 2), (1, 3), (3, 4), (3, 5), (4, 6)]:
        tr.add_edge(parent, child)
    return tr


def test_add_edge_predecessors_successors_edges():
    tr = _tree()
    assert list(tr.nodes) == [1, 2, 3, 4, 5, 6]
    assert tr.nodes[2]["type"] is None  # a bare node
    assert tr.successors(1) == {2, 3} and tr.successors(6) == set()
    assert tr.predecessors(4) == {3} and tr.predecessors(1) == set()
    assert set(tr.edges) == {(1, 2), (1, 3), (3, 4), (3, 5), (4, 6)}
    assert tr._succ[3] == {4, 5} and tr._pred[5] == {3}


def test_topological_sort_orders_parents_first():
    tr = _tree()
    order = tr.topological_sort()
    assert sorted(order) == [1, 2, 3, 4, 5, 6]
    rank = {n: i for i, n in enumerate(order)}
    assert all(rank[p] < rank[c] for p, c in tr.edges)
    assert tr.topological_sort(reverse=True) == order[::-1]


def test_topological_sort_of_a_long_chain_does_not_recurse():
    tr = Trace()
    for i in range(5000):
        tr.add_edge(i, i + 1)
    assert tr.topological_sort() == list(range(5001))


def test_remove_node_drops_its_edges():
    tr = _tree()
    tr.remove_node(3)
    assert 3 not in tr and 3 not in tr._succ and 3 not in tr._pred
    assert tr.successors(1) == {2} and tr.predecessors(4) == set()
    assert set(tr.edges) == {(1, 2), (4, 6)}
    with pytest.raises(KeyError):
        tr.remove_node(3)


def test_copy_has_its_own_edges():
    tr = _tree()
    tr2 = tr.copy()
    tr2.remove_node(6)
    tr2.add_edge(2, 5)
    assert set(tr.edges) == {(1, 2), (1, 3), (3, 4), (3, 5), (4, 6)}
    assert set(tr2.edges) == {(1, 2), (1, 3), (3, 4), (3, 5), (2, 5)}


def test_nodes_added_after_the_maps_were_built_get_entries():
    tr = _tree()
    assert tr.successors(1) == {2, 3}
    tr.add_node("late", type="sample", value=torch.tensor(0.0))
    assert tr.successors("late") == set() and tr.predecessors("late") == set()
    assert sorted(map(str, tr.topological_sort())) == ["1", "2", "3", "4", "5", "6", "late"]


def dense_model():
    a = pyro.sample("a", dist.Normal(0.0, 1.0))
    with pyro.plate("data", 2):
        b = pyro.sample("b", dist.Normal(a, 1.0))
    for i in pyro.plate("seq", 2):
        pyro.sample(f"c_{i}", dist.Normal(b.sum(), 1.0))
    pyro.param("p", torch.tensor(1.0))
    pyro.sample("d", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))


DENSE_EDGES = {
    ("a", "b"),
    ("a", "c_0"),
    ("a", "c_1"),
    ("b", "c_0"),
    ("b", "c_1"),
    ("a", "d"),
    ("b", "d"),
    ("c_0", "d"),
    ("c_1", "d"),
}


def test_dense_trace_links_each_sample_site_to_later_ones():
    tr = poutine.trace(dense_model, graph_type="dense").get_trace()
    assert tr.graph_type == "dense"
    # no edge between iterations of the sequential plate, none at subsample or param sites
    assert set(tr.edges) == DENSE_EDGES
    assert tr.predecessors("data") == set() and tr.successors("p") == set()
    order = [n for n in tr.topological_sort() if n in {"a", "b", "c_0", "c_1", "d"}]
    assert order.index("a") < order.index("b") < order.index("c_1") < order.index("d")


def test_dense_edges_match_pyro():
    real_pyro = pytest.importorskip("pyro")
    real_dist = pytest.importorskip("pyro.distributions")

    def model():
        a = real_pyro.sample("a", real_dist.Normal(0.0, 1.0))
        with real_pyro.plate("data", 2):
            b = real_pyro.sample("b", real_dist.Normal(a, 1.0))
        for i in real_pyro.plate("seq", 2):
            real_pyro.sample(f"c_{i}", real_dist.Normal(b.sum(), 1.0))
        real_pyro.param("p", torch.tensor(1.0))
        real_pyro.sample("d", real_dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))

    theirs = real_pyro.poutine.trace(model, graph_type="dense").get_trace()
    assert set(theirs.edges) == DENSE_EDGES


def test_flat_trace_has_no_edges():
    tr = poutine.trace(dense_model).get_trace()
    assert tr.graph_type == "flat"
    assert set(tr.edges) == set()
    assert set().union(*tr._succ.values(), *tr._pred.values()) == set()


def test_trace_pickles_with_its_edges():
    # (a param site's value holds a weakref to its unconstrained leaf, in Pyro as here, so
    # the traced program has no param)
    blocked = poutine.block(dense_model, hide=["p"])
    for graph_type in ("flat", "dense"):
        tr = poutine.trace(blocked, graph_type=graph_type).get_trace()
        back = pickle.loads(pickle.dumps(tr))
        assert list(back.nodes) == list(tr.nodes)
        assert set(back.edges) == set(tr.edges)
        assert torch.equal(back.nodes["a"]["value"], tr.nodes["a"]["value"])


def test_param_only_records_params_only():
    tr = poutine.trace(model, param_only=True).get_trace(Y)
    assert list(tr.nodes) == ["loc"]


def test_do_not_trace_sites_are_left_out():
    def aux():
        pyro.sample("hidden", dist.Normal(0.0, 1.0), infer={"_do_not_trace": True})
        pyro.sample("shown", dist.Normal(0.0, 1.0))

    assert list(poutine.trace(aux).get_trace().nodes) == ["_INPUT", "shown", "_RETURN"]


def test_site_name_reused_by_another_type():
    tr = Trace()
    tr.add_node("x", type="param", value=torch.tensor(1.0))
    with pytest.raises(RuntimeError, match="x is already in the trace as a param"):
        tr.add_node("x", type="sample", value=torch.tensor(1.0))


# -- one density cache per site -------------------------------------------------------------
CALLS: dict[str, int] = {}


class CountingNormal(dist.Normal):
    def log_prob(self, value):
        CALLS["normal"] = CALLS.get("normal", 0) + 1
        return super().log_prob(value)


class CountingBernoulli(dist.Bernoulli):
    def log_prob(self, value):
        CALLS["bernoulli"] = CALLS.get("bernoulli", 0) + 1
        return super().log_prob(value)


class CountingObs(dist.Normal):
    def log_prob(self, value):
        CALLS["obs"] = CALLS.get("obs", 0) + 1
        return super().log_prob(value)


def counting_model(y):
    z = pyro.sample("z", CountingNormal(0.0, 1.0))
    k = pyro.sample("k", CountingBernoulli(0.3))
    pyro.sample("y", CountingObs(z + k, 1.0), obs=y)


def counting_guide(y):
    loc = pyro.param("z_loc", torch.tensor(0.0))
    p = pyro.param("k_p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
    pyro.sample("z", CountingNormal(loc, 1.0))
    pyro.sample("k", CountingBernoulli(p))


@pytest.mark.parametrize("validate", [True, False])
def test_one_log_prob_call_per_site_per_trace_in_trace_elbo(validate):
    svi = SVI(counting_model, counting_guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    y = torch.tensor(0.3)
    with pyro.validation_enabled(validate):
        for _ in range(2):
            CALLS.clear()
            svi.step(y)
            # z and k once in the guide's trace and once in the model's; y once in the model's
            assert CALLS == {"normal": 2, "bernoulli": 2, "obs": 1}


def test_density_cache_is_shared_by_all_three_methods():
    def m():
        with pyro.plate("data", 3):
            with poutine.scale(scale=2.0), poutine.mask(mask=torch.tensor([True, False, True])):
                pyro.sample("k", CountingBernoulli(0.3))

    CALLS.clear()
    tr = poutine.trace(m).get_trace()
    total = tr.log_prob_sum()
    tr.compute_log_prob()
    tr.compute_score_parts()
    assert CALLS == {"bernoulli": 1}
    site = tr.nodes["k"]
    raw = dist.Bernoulli(0.3).log_prob(site["value"])
    assert torch.equal(site["unscaled_log_prob"], raw)
    expected = 2.0 * raw * torch.tensor([1.0, 0.0, 1.0])
    assert torch.allclose(site["log_prob"], expected)
    assert torch.allclose(site["log_prob_sum"], expected.sum())
    assert torch.allclose(total, expected.sum())  # the plate's subsample site adds 0
    parts = site["score_parts"]
    assert isinstance(parts, ScoreParts)
    assert parts.log_prob is site["log_prob"] and parts.entropy_term == 0
    # as in Pyro, scale and mask do not apply to the score-function term
    assert parts.score_function is site["unscaled_log_prob"]


ONE = torch.tensor(1.0)


class OwnScoreParts(dist.Normal):
    def score_parts(self, value):
        lp = self.log_prob(value)
        return ScoreParts(lp, 10.0 * lp, 0)


def test_score_parts_asks_the_distribution_and_applies_scale_and_mask():
    def m():
        with pyro.plate("data", 2), poutine.scale(scale=3.0):
            with poutine.mask(mask=torch.tensor([True, False])):
                pyro.sample("x", OwnScoreParts(0.0, 1.0))

    tr = poutine.trace(m).get_trace()
    tr.add_node("plain", type="sample", fn=torch.distributions.Normal(0.0, 1.0), value=0.5 * ONE)
    tr.compute_score_parts()
    site = tr.nodes["x"]
    raw = dist.Normal(0.0, 1.0).log_prob(site["value"])
    keep = torch.tensor([1.0, 0.0])
    assert torch.allclose(site["score_parts"].log_prob, 3.0 * raw * keep)
    assert torch.allclose(site["score_parts"].score_function, 10.0 * raw)  # not scaled
    assert site["score_parts"].entropy_term == 0
    assert torch.allclose(site["log_prob_sum"], (3.0 * raw * keep).sum())
    # a plain torch distribution has no score_parts: the has_rsample rule applies
    plain = tr.nodes["plain"]["score_parts"]
    assert plain.score_function == 0 and plain.entropy_term is tr.nodes["plain"]["log_prob"]


@pytest.mark.parametrize(
    "method, what",
    [
        ("compute_log_prob", "log_prob"),
        ("log_prob_sum", "log_prob_sum"),
        ("compute_score_parts", "score_parts"),
    ],
)
def test_density_errors_start_with_pyros_prefix(method, what):
    def bad():
        pyro.sample("test_site", dist.Beta(1.0, 1.0), obs=torch.tensor(2.0))

    tr = poutine.trace(bad).get_trace()
    with pytest.raises(ValueError, match=rf"^Error while computing {what} at site 'test_site': "):
        getattr(tr, method)()


class CountingNoExpand(dist.TorchDistribution):
    """A user distribution without ``expand``: plates wrap it in an ExpandedDistribution."""

    arg_constraints = {}
    support = dist.constraints.real
    has_rsample = False

    def __init__(self, loc):
        self.loc = loc
        super().__init__(torch.Size(), torch.Size())

    def sample(self, sample_shape=()):
        return self.loc + torch.randn(sample_shape)

    def log_prob(self, value):
        CALLS["plain"] = CALLS.get("plain", 0) + 1
        return -0.5 * (value - self.loc) ** 2


def test_an_expanded_distribution_reuses_the_cache_for_its_score_parts():
    def m():
        with pyro.plate("data", 3):
            pyro.sample("x", CountingNoExpand(torch.tensor(0.0)))

    tr = poutine.trace(m).get_trace()
    assert type(tr.nodes["x"]["fn"]).__name__ == "ExpandedDistribution"
    CALLS.clear()
    tr.compute_log_prob()
    tr.compute_score_parts()
    assert CALLS == {"plain": 1}
    parts = tr.nodes["x"]["score_parts"]
    assert parts.entropy_term == 0 and parts.score_function.shape == (3,)
