import warnings

import pytest
import torch
from torch.distributions import constraints, transform_to

import pyrolite as pyro
from pyrolite.checkpoint import CheckpointError, save_tensors
from pyrolite.params import (
    ParamStoreDict,
    clear_param_store,
    decode_constraint,
    encode_constraint,
    get_param_store,
    module_from_param_with_module_name,
    param_with_module_name,
    register_constraint,
    user_param_name,
)

# (constraint, a value in its support)
CASES = [
    (constraints.real, torch.tensor([-1.5, 0.0, 2.0])),
    (constraints.positive, torch.tensor([0.5, 1.0, 3.0])),
    (constraints.nonnegative, torch.tensor([0.5, 1.0, 3.0])),
    (constraints.greater_than(-2.0), torch.tensor([-1.0, 4.0])),
    (constraints.greater_than_eq(1.0), torch.tensor([1.5, 4.0])),
    (constraints.less_than(3.0), torch.tensor([-1.0, 2.5])),
    (constraints.interval(-1.0, 2.0), torch.tensor([-0.5, 0.0, 1.5])),
    (constraints.half_open_interval(0.0, 2.0), torch.tensor([0.5, 1.5])),
    (constraints.unit_interval, torch.tensor([0.1, 0.5, 0.9])),
    (constraints.simplex, torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])),
    (constraints.lower_cholesky, torch.tensor([[1.0, 0.0], [0.5, 2.0]])),
    (constraints.corr_cholesky, torch.linalg.cholesky(torch.tensor([[1.0, 0.3], [0.3, 1.0]]))),
    (constraints.positive_definite, torch.tensor([[2.0, 0.5], [0.5, 1.0]])),
    (constraints.real_vector, torch.tensor([1.0, -2.0])),
    (constraints.independent(constraints.positive, 1), torch.tensor([[1.0, 2.0]])),
    (constraints.greater_than(torch.tensor([0.0, 1.0])), torch.tensor([0.5, 1.5])),
    (
        constraints.cat([constraints.positive, constraints.real], dim=0, lengths=[2, 1]),
        torch.tensor([1.0, 2.0, -3.0]),
    ),
    (constraints.stack([constraints.positive, constraints.real], dim=0), torch.tensor([1.0, -1.0])),
]
IDS = [type(c).__name__.strip("_") + str(i) for i, (c, _) in enumerate(CASES)]


@pytest.fixture
def store():
    return ParamStoreDict()


@pytest.mark.parametrize("constraint,value", CASES, ids=IDS)
def test_constrained_round_trip(store, constraint, value):
    returned = store.get_param("p", value.clone(), constraint=constraint)
    torch.testing.assert_close(returned, value, atol=1e-6, rtol=1e-6)
    leaf = store.unconstrained("p")
    assert leaf.is_leaf and leaf.requires_grad
    assert returned.unconstrained() is leaf
    torch.testing.assert_close(leaf.detach(), transform_to(constraint).inv(value))
    assert store.constraint("p") is constraint
    # gradients reach the unconstrained leaf
    (store["p"] * torch.arange(1.0, value.numel() + 1).reshape(value.shape)).sum().backward()
    assert leaf.grad is not None and leaf.grad.shape == leaf.shape
    assert torch.isfinite(leaf.grad).all() and leaf.grad.abs().sum() > 0


def test_positive_gradient_value(store):
    store.get_param("s", torch.tensor([2.0, 3.0]), constraint=constraints.positive)
    store["s"].sum().backward()
    # d exp(u) / du = exp(u) = s
    assert torch.allclose(store.unconstrained("s").grad, torch.tensor([2.0, 3.0]))


def test_existing_name_ignores_init_and_constraint(store):
    first = store.get_param("x", torch.ones(2), constraint=constraints.positive)
    again = store.get_param("x", torch.zeros(5), constraint=constraints.real)
    assert torch.equal(again, first)
    assert store.constraint("x") is constraints.positive


def test_reads_build_fresh_graphs_after_updates(store):
    store.get_param("s", torch.ones(2), constraint=constraints.positive)
    a = store["s"]
    with torch.no_grad():
        store.unconstrained("s").add_(1.0)
    b = store["s"]
    assert a is not b
    assert torch.allclose(b, torch.full((2,), torch.e))


def test_real_param_is_the_leaf(store):
    value = store.get_param("loc", torch.zeros(3))
    assert value is store.unconstrained("loc")
    assert value.unconstrained() is value


def test_init_tensor_is_not_aliased(store):
    init = torch.zeros(3)
    store.get_param("a", init)
    store.get_param("b", init)
    with torch.no_grad():
        store.unconstrained("a").add_(1.0)
    assert torch.equal(init, torch.zeros(3))
    assert torch.equal(store["b"], torch.zeros(3))
    assert not init.requires_grad


def test_expanded_init_gets_its_own_memory(store):
    store.get_param("e", torch.ones(1).expand(4))
    with torch.no_grad():
        store.unconstrained("e")[0] = 5.0
    assert torch.equal(store["e"], torch.tensor([5.0, 1.0, 1.0, 1.0]))


def test_lazy_callable_init(store):
    calls = []

    def init():
        calls.append(1)
        return torch.full((2,), 0.5)

    value = store.get_param("lazy", init, constraint=constraints.unit_interval)
    assert torch.allclose(value, torch.full((2,), 0.5))
    store.get_param("lazy", init)
    assert calls == [1]


def test_number_init(store):
    value = store.get_param("n", 2.0, constraint=constraints.positive)
    assert value.dtype == torch.get_default_dtype()
    assert torch.allclose(value, torch.tensor(2.0))


def test_nn_parameter_is_shared():
    store = get_param_store()
    layer = torch.nn.Linear(2, 3)
    name = param_with_module_name("net", "weight")
    returned = store.get_param(name, layer.weight)
    assert returned is layer.weight
    assert store.unconstrained(name) is layer.weight
    assert store.param_name(layer.weight) == name
    with torch.no_grad():
        store.unconstrained(name).zero_()
    assert torch.equal(layer.weight, torch.zeros(3, 2))


def test_unknown_param_keyerror(store):
    with pytest.raises(KeyError, match="param 'missing' has not been initialised; give an initial"):
        store.get_param("missing")
    with pytest.raises(KeyError, match="'missing' is not in the param store"):
        store["missing"]


def test_positive_vector_is_normalised_onto_the_simplex_silently(store):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pyro gives no warning here, and neither do we
        value = store.get_param("p", torch.tensor([1.0, 3.0]), constraint=constraints.simplex)
    assert torch.allclose(value, torch.tensor([0.25, 0.75]))


def test_pyro_private_views_of_the_store(store):
    """Pyro's tests read ``_params``, ``_param_to_name`` and ``_constraints``."""
    store.get_param("a", torch.tensor(1.0), constraint=constraints.positive)
    store.get_param("b", torch.zeros(2))
    assert list(store._params) == ["a", "b"]
    assert store._constraints == {"a": constraints.positive, "b": constraints.real}
    to_name = store._param_to_name
    assert sorted(to_name.values()) == ["a", "b"]
    assert to_name[store.unconstrained("a")] == "a"


@pytest.mark.parametrize(
    "constraint,value",
    [
        (constraints.positive, torch.tensor([1.0, -1.0])),
        (constraints.simplex, torch.tensor([-0.5, 1.5])),
        (constraints.interval(0.0, 1.0), torch.tensor(2.0)),
    ],
)
def test_init_outside_support(store, constraint, value):
    with pytest.raises(ValueError) as info:
        store.get_param("bad", value, constraint=constraint)
    message = str(info.value)
    assert "param 'bad'" in message
    assert "outside the support" in message
    assert type(constraint).__name__.strip("_") in message
    assert "give an initial value that satisfies the constraint" in message
    assert "bad" not in store


def test_integer_init_rejected(store):
    with pytest.raises(TypeError, match="param 'i'.*floating point dtype"):
        store.get_param("i", torch.tensor([1, 2]))


def test_setitem_keeps_constraint(store):
    store.get_param("s", torch.ones(2), constraint=constraints.positive)
    old_leaf = store.unconstrained("s")
    store["s"] = torch.tensor([2.0, 4.0])
    assert store.constraint("s") is constraints.positive
    assert torch.allclose(store["s"], torch.tensor([2.0, 4.0]))
    assert torch.allclose(store.unconstrained("s").detach(), torch.tensor([2.0, 4.0]).log())
    assert store.param_name(old_leaf) is None
    assert store.param_name(store.unconstrained("s")) == "s"
    with pytest.raises(ValueError, match="outside the support"):
        store["s"] = torch.tensor([-1.0, 1.0])
    store["new"] = torch.zeros(2)
    assert store.constraint("new") is constraints.real


def test_dict_api(store):
    store.get_param("a", torch.zeros(1))
    store.setdefault("b", torch.ones(1), constraints.positive, event_dim=1)
    store.setdefault("b", torch.full((1,), 7.0))
    assert torch.allclose(store["b"], torch.ones(1))
    assert len(store) == 2
    assert "a" in store and "zz" not in store
    assert list(store) == ["a", "b"] == store.keys() == store.get_all_param_names()
    assert [v.item() for v in store.values()] == [0.0, 1.0]
    assert [(k, v.item()) for k, v in store.items()] == [("a", 0.0), ("b", 1.0)]
    named = dict(store.named_parameters())
    assert named["b"] is store.unconstrained("b")
    assert torch.equal(named["b"], torch.zeros(1))  # log(1)
    assert store.event_dim("b") == 1 and store.event_dim("a") is None
    assert set(store.match("[ab]")) == {"a", "b"}
    leaf = store.unconstrained("a")
    del store["a"]
    assert "a" not in store and store.param_name(leaf) is None
    store.clear()
    assert len(store) == 0 and store.param_name(named["b"]) is None


def test_param_name_reverse_lookup(store):
    store.get_param("x", torch.zeros(2))
    store.get_param("y", torch.ones(2), constraint=constraints.positive)
    assert store.param_name(store.unconstrained("x")) == "x"
    assert store.param_name(store.unconstrained("y")) == "y"
    assert store.param_name(store["y"]) is None  # a constrained value is not a leaf
    assert store.param_name(torch.zeros(2)) is None


def test_global_store():
    clear_param_store()
    store = get_param_store()
    assert get_param_store() is store
    store.get_param("g", torch.zeros(1))
    clear_param_store()
    assert "g" not in get_param_store()


def test_module_name_helpers():
    name = param_with_module_name("encoder", "fc.weight")
    assert name == "encoder$$$fc.weight"
    assert module_from_param_with_module_name(name) == "encoder"
    assert user_param_name(name) == "fc.weight"
    assert module_from_param_with_module_name("plain") is None
    assert user_param_name("plain") == "plain"


@pytest.mark.parametrize("constraint,value", CASES, ids=IDS)
def test_constraint_encoding_round_trip(constraint, value):
    decoded = decode_constraint(encode_constraint(constraint))
    assert type(decoded) is type(constraint)
    assert repr(decoded) == repr(constraint)
    assert torch.equal(decoded.check(value), constraint.check(value))
    torch.testing.assert_close(
        transform_to(decoded).inv(value), transform_to(constraint).inv(value)
    )


def test_singletons_decode_to_themselves():
    for c in [
        constraints.real,
        constraints.positive,
        constraints.simplex,
        constraints.unit_interval,
    ]:
        assert decode_constraint(encode_constraint(c)) is c


class _Weird(constraints.Constraint):
    def check(self, value):
        return value == value


class _NoTransform(constraints.Constraint):
    def check(self, value):
        return value == value


@transform_to.register(_Weird)
def _weird_transform(constraint):
    return transform_to(constraints.positive)


def test_constraint_without_transform(store):
    with pytest.raises(ValueError, match="param 'nt': no transform to the support.*NoTransform"):
        store.get_param("nt", torch.zeros(2), constraint=_NoTransform())
    assert "nt" not in store


def test_unknown_constraint_on_save(store, tmp_path):
    store.get_param("w", torch.ones(2), constraint=_Weird())
    assert torch.allclose(store["w"], torch.ones(2))
    with pytest.raises(ValueError, match="cannot save param 'w'.*_Weird.*register_constraint"):
        store.get_state()
    with pytest.raises(ValueError, match="cannot save param 'w'"):
        store.save(tmp_path / "p.pt")
    assert not list(tmp_path.iterdir())


def test_register_constraint():
    class _Shifted(constraints.Constraint):
        def __init__(self, shift):
            self.shift = shift
            super().__init__()

        def check(self, value):
            return value > self.shift

    register_constraint(
        "test_shifted", _Shifted, lambda c: {"shift": c.shift}, lambda d: _Shifted(d["shift"])
    )
    decoded = decode_constraint(encode_constraint(_Shifted(2.5)))
    assert isinstance(decoded, _Shifted) and decoded.shift == 2.5
    with pytest.raises(ValueError, match="already registered"):
        register_constraint("test_shifted", _Shifted, lambda c: {}, lambda d: _Shifted(0))


def _fill(store):
    for i, (constraint, value) in enumerate(CASES):
        store.get_param(f"p{i}", value.clone(), constraint=constraint, event_dim=i % 3 or None)


def test_save_load_round_trip(tmp_path):
    source = ParamStoreDict()
    _fill(source)
    path = tmp_path / "params.pt"
    source.save(path)
    target = ParamStoreDict()
    target.get_param("p0", torch.full((3,), 9.0))  # replaced by load
    target.get_param("extra", torch.ones(1))  # kept: load merges
    target.load(path)
    assert set(target.keys()) == set(source.keys()) | {"extra"}
    for name in source.keys():
        assert torch.equal(target.unconstrained(name), source.unconstrained(name))
        assert torch.equal(target[name], source[name])
        assert repr(target.constraint(name)) == repr(source.constraint(name))
        assert target.event_dim(name) == source.event_dim(name)
        leaf = target.unconstrained(name)
        assert leaf.is_leaf and leaf.requires_grad
        assert target.param_name(leaf) == name
    assert target.constraint("p1") is constraints.positive


def test_get_state_is_a_snapshot(store):
    store.get_param("x", torch.zeros(2))
    state = store.get_state()
    with torch.no_grad():
        store.unconstrained("x").add_(1.0)
    assert torch.equal(state["params"]["x"], torch.zeros(2))
    assert not state["params"]["x"].requires_grad
    assert state["constraints"]["x"] == {"name": "real"}
    other = ParamStoreDict()
    other.set_state(state)
    with torch.no_grad():
        other.unconstrained("x").add_(5.0)
    assert torch.equal(state["params"]["x"], torch.zeros(2))
    assert torch.equal(other["x"], torch.full((2,), 5.0))


def test_load_wrong_kind(tmp_path, store):
    path = tmp_path / "optim.pt"
    save_tensors({"a": torch.ones(1)}, path, kind="pyrolite.optim")
    with pytest.raises(CheckpointError, match="not 'pyrolite.params'"):
        store.load(path)


def test_reading_is_cheap(store):
    """A real param read is the leaf itself; a constrained read creates one new tensor."""
    store.get_param("loc", torch.zeros(3))
    store.get_param("scale", torch.ones(3), constraint=constraints.positive)
    assert store.get_param("loc") is store.get_param("loc")
    s1, s2 = store.get_param("scale"), store.get_param("scale")
    assert s1 is not s2 and s1.grad_fn is not None
    assert s1.unconstrained is s2.unconstrained  # one weakref per param


def test_scope_sets_the_outer_params_aside_and_brings_them_back():
    store = get_param_store()
    outer = store.get_param("x", torch.tensor(1.0))
    with store.scope() as first:
        assert not store
        store.get_param("x", torch.tensor(2.0))
        store.get_param("y", torch.tensor([1.0, 2.0]), constraint=constraints.positive)
    assert set(store) == {"x"}
    assert store.unconstrained("x") is outer  # the very tensor an optimiser holds
    with store.scope(first) as again:
        assert again is first
        assert set(store) == {"x", "y"}
        assert store["x"].item() == 2.0
        assert store._constraints["y"] == constraints.positive
        assert torch.allclose(store["y"], torch.tensor([1.0, 2.0]))
    assert store["x"].item() == 1.0


# ----------------------------------------------------------------------------------------------
# loaded values and networks registered with pyro.module


def _trained_linear_saved(path):
    clear_param_store()
    net = torch.nn.Linear(3, 2)
    pyro.module("lin", net)
    with torch.no_grad():
        net.weight.add_(1.0)
    get_param_store().save(path)
    clear_param_store()
    return net.weight.detach().clone()


def _step(store):
    optim = pyro.optim.SGD({"lr": 0.1})
    leaves = [leaf for _, leaf in store.named_parameters()]
    for leaf in leaves:
        leaf.grad = torch.ones_like(leaf)
    optim(leaves)


def test_a_network_ignoring_loaded_values_warns_once_when_stepped(tmp_path):
    _trained_linear_saved(tmp_path / "p.pt")
    store = get_param_store()
    store.load(tmp_path / "p.pt")
    fresh = torch.nn.Linear(3, 2)
    pyro.module("lin", fresh)  # Pyro's rule: the network keeps its own weights
    assert store.unconstrained("lin$$$weight") is not fresh.weight
    with pytest.warns(UserWarning, match=r"module 'lin'.*update_module_params=False"):
        _step(store)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _step(store)  # once per module, also for another optimiser


def test_a_network_reading_loaded_values_does_not_warn(tmp_path):
    saved = _trained_linear_saved(tmp_path / "p.pt")
    store = get_param_store()
    store.load(tmp_path / "p.pt")
    fresh = torch.nn.Linear(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pyro.module("lin", fresh, update_module_params=False)
        pyro.module("lin", fresh, update_module_params=True)  # Pyro's save/load test does this
        _step(store)
    assert fresh.weight is store.unconstrained("lin$$$weight")
    assert torch.allclose(fresh.weight, saved - 0.1)


def test_restore_state_writes_into_a_registered_network(tmp_path):
    net = torch.nn.Linear(3, 2)
    pyro.module("lin", net)
    state = get_param_store().get_state()
    state["params"]["lin$$$weight"] = torch.full((2, 3), 7.0)
    weight = net.weight
    get_param_store().restore_state(state)
    assert net.weight is weight and torch.equal(weight, torch.full((2, 3), 7.0))


def test_restore_state_fills_a_network_registered_later():
    net = torch.nn.Linear(3, 2)
    pyro.module("lin", net)
    state = get_param_store().get_state()
    state["params"]["lin$$$weight"] = torch.full((2, 3), 7.0)
    clear_param_store()
    get_param_store().restore_state(state)
    fresh = torch.nn.Linear(3, 2)
    weight = fresh.weight
    pyro.module("lin", fresh)  # the default update_module_params=False
    assert fresh.weight is weight and torch.equal(weight, torch.full((2, 3), 7.0))
    assert get_param_store().unconstrained("lin$$$weight") is weight


def test_restore_state_into_a_network_of_another_shape_is_named():
    pyro.module("lin", torch.nn.Linear(3, 2))
    state = get_param_store().get_state()
    clear_param_store()
    get_param_store().restore_state(state)
    with pytest.raises(ValueError, match=r"module 'lin'.*'weight'.*\(4, 3\).*\(2, 3\)"):
        pyro.module("lin", torch.nn.Linear(3, 4))


def test_restored_buffers_go_into_the_network():
    net = torch.nn.BatchNorm1d(3)
    pyro.module("bn", net)
    with torch.no_grad():
        net.running_mean.fill_(2.5)
    buffers = get_param_store().module_buffers()
    assert torch.equal(buffers["bn"]["running_mean"], torch.full((3,), 2.5))
    clear_param_store()
    get_param_store().restore_buffers(buffers)
    fresh = torch.nn.BatchNorm1d(3)
    pyro.module("bn", fresh)
    assert torch.equal(fresh.running_mean, torch.full((3,), 2.5))
    fresh.running_mean.zero_()
    get_param_store().restore_buffers(buffers)  # registered: in place
    assert torch.equal(fresh.running_mean, torch.full((3,), 2.5))
