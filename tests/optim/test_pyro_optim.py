import pytest
import torch
from torch.distributions import constraints

import pyrolite.optim as optim
from pyrolite.optim import PyroOptim
from pyrolite.params import clear_param_store, get_param_store

OPTIMIZERS = [
    (torch.optim.Adam, {"lr": 0.1}),
    (torch.optim.AdamW, {"lr": 0.1, "weight_decay": 0.1}),
    (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    (torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.5}),
    (torch.optim.Adagrad, {"lr": 0.1, "initial_accumulator_value": 0.3}),
    (torch.optim.Adadelta, {"lr": 1.0}),
    (torch.optim.Adamax, {"lr": 0.1}),
    (torch.optim.NAdam, {"lr": 0.1}),
    (torch.optim.RAdam, {"lr": 0.1}),
    (torch.optim.ASGD, {"lr": 0.05}),
    (torch.optim.Rprop, {"lr": 0.05}),
]
IDS = [cls.__name__ for cls, _ in OPTIMIZERS]


def _loss(xs, step):
    loss = (xs[0] ** 2).sum() + (xs[1] ** 3).sum()
    if step >= 3:  # the third param only exists from step 3 on
        loss = loss + ((xs[2] - 1.0) ** 2 * torch.arange(1.0, 4.0)).sum()
    return loss


@pytest.mark.parametrize("cls,kwargs", OPTIMIZERS, ids=IDS)
def test_matches_plain_torch_with_lazy_param(cls, kwargs):
    torch.manual_seed(0)
    ours = [torch.randn(3, requires_grad=True) for _ in range(3)]
    theirs = [x.detach().clone().requires_grad_() for x in ours]
    initial = [x.detach().clone() for x in ours]
    pyro_optim = PyroOptim(cls, kwargs)
    torch_optim = cls(theirs, **kwargs)
    for step in range(7):
        for xs in (ours, theirs):
            for x in xs:
                x.grad = None
            _loss(xs, step).backward()
        pyro_optim(set(ours if step >= 3 else ours[:2]))
        torch_optim.step()
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b), (cls.__name__, step)
    assert len(pyro_optim.torch_optimizers) == 1
    assert isinstance(pyro_optim.torch_optimizers[0], cls)
    assert all(not torch.equal(x, x0) for x, x0 in zip(ours, initial, strict=True))


def test_adagrad_lazy_param_state_initialised():
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    pyro_optim = optim.Adagrad({"lr": 0.1, "initial_accumulator_value": 0.25})
    a.grad = torch.ones(2)
    pyro_optim([a])
    b.grad = torch.ones(2)
    pyro_optim([b])
    (torch_optim,) = pyro_optim.torch_optimizers
    assert torch.equal(torch_optim.state[b]["sum"], torch.full((2,), 1.25))
    # one step from zero: -lr * g / sqrt(0.25 + g^2)
    assert torch.allclose(b, torch.full((2,), -0.1 / 1.25**0.5))


def test_steps_only_given_params():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    pyro_optim = optim.SGD({"lr": 1.0})
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    pyro_optim([a, b])
    assert torch.equal(a, -torch.ones(2)) and torch.equal(b, -torch.ones(2))
    a.grad, b.grad = torch.ones(2), torch.full((2,), 5.0)
    pyro_optim([a])  # b shares the torch optimiser but is not given: untouched
    assert torch.equal(a, torch.full((2,), -2.0))
    assert torch.equal(b, -torch.ones(2))
    assert torch.equal(b.grad, torch.full((2,), 5.0))  # its grad is put back


def test_grad_none_skipped_and_grads_not_zeroed():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    pyro_optim = optim.Adam({"lr": 0.1})
    a.grad = torch.ones(2)
    pyro_optim([a, b])
    assert torch.equal(b, torch.ones(2))
    assert torch.allclose(a, torch.full((2,), 0.9))
    assert torch.equal(a.grad, torch.ones(2))
    assert (
        b not in pyro_optim.torch_optimizers[0].state or not pyro_optim.torch_optimizers[0].state[b]
    )


def test_params_iterable_forms():
    a = torch.zeros(1, requires_grad=True)
    pyro_optim = optim.SGD({"lr": 1.0})
    a.grad = torch.ones(1)
    pyro_optim(iter([a, a]))  # a generator with a duplicate: stepped once
    assert torch.equal(a, -torch.ones(1))
    pyro_optim({"a": a}.values())
    assert torch.equal(a, torch.full((1,), -2.0))


def test_one_torch_optimizer_per_distinct_args():
    clear_param_store()
    store = get_param_store()
    store.get_param("loc", torch.zeros(2))
    store.get_param("scale", torch.ones(2), constraint=constraints.positive)
    layer = torch.nn.Linear(2, 1)
    store.get_param("net$$$weight", layer.weight)
    store.get_param("net$$$bias", layer.bias)
    calls = []

    def per_param(module_name, param_name):
        calls.append((module_name, param_name))
        if module_name == "net":
            return {"lr": 0.5 if param_name == "weight" else 0.25}
        return {"lr": 0.1}

    pyro_optim = optim.SGD(per_param)
    leaves = [p for _, p in store.named_parameters()]
    for p in leaves:
        p.grad = torch.ones_like(p)
    before = [p.detach().clone() for p in leaves]
    pyro_optim(leaves)
    # as in Pyro, a two-argument callable gets (module name, param name); a plain param's
    # module part is its own name
    expected_calls = [("loc", "loc"), ("scale", "scale"), ("net", "weight"), ("net", "bias")]
    assert sorted(calls, key=repr) == sorted(expected_calls, key=repr)
    assert len(pyro_optim.torch_optimizers) == 3
    assert sorted(o.param_groups[0]["lr"] for o in pyro_optim.torch_optimizers) == [0.1, 0.25, 0.5]
    for p, old, lr in zip(leaves, before, [0.1, 0.1, 0.5, 0.25], strict=True):
        assert torch.allclose(p, old - lr)
    assert torch.allclose(layer.weight, before[2] - 0.5)  # the module's own parameter moved


@pytest.mark.parametrize("wrap", ["function", "lambda", "varargs"])
def test_one_argument_callable_gets_dotted_name(wrap):
    """Pyro's rule: a callable of one parameter gets ``"module.param"`` (the ``nn.Module``
    spelling of the store's ``"module$$$param"``) and plain names unchanged."""
    clear_param_store()
    store = get_param_store()
    store.get_param("loc", torch.zeros(1))
    store.get_param("net$$$weight", torch.nn.Linear(1, 1).weight)
    seen = []

    def function(name):
        seen.append(name)
        return {"lr": 0.1}

    spec = {
        "function": function,
        "lambda": lambda name: function(name),
        "varargs": lambda *args: function(*args),
    }[wrap]
    leaves = [p for _, p in store.named_parameters()]
    for p in leaves:
        p.grad = torch.ones_like(p)
    optim.SGD(spec)(leaves)
    assert sorted(seen) == ["loc", "net.weight"]


def test_callable_args_match_real_pyro():
    """The names a per-param callable sees equal those real Pyro passes it."""
    import pyro
    import pyro.optim

    def names_seen(optim_module, leaves):
        one, two = [], []
        for p in leaves:
            p.grad = torch.ones_like(p)
        optim_module.SGD(lambda name: one.append(name) or {"lr": 0.1})(leaves)
        optim_module.SGD(lambda m, n: two.append((m, n)) or {"lr": 0.1})(leaves)
        return sorted(one), sorted(two)

    pyro.clear_param_store()
    their_store = pyro.get_param_store()
    leaves = [their_store.setdefault(n, torch.zeros(1)).unconstrained() for n in ("a", "net$$$w")]
    theirs = names_seen(pyro.optim, leaves)
    pyro.clear_param_store()

    clear_param_store()
    leaves = [get_param_store().get_param(n, torch.zeros(1)) for n in ("a", "net$$$w")]
    ours = names_seen(optim, leaves)
    assert ours == theirs == (["a", "net.w"], [("a", "a"), ("net", "w")])


def test_callable_args_need_param_names():
    pyro_optim = optim.Adam(lambda name: {"lr": 0.1})
    x = torch.zeros(1, requires_grad=True)
    x.grad = torch.ones(1)
    with pytest.raises(ValueError, match="not in the param store"):
        pyro_optim([x])


def test_callable_args_must_return_dict():
    clear_param_store()
    leaf = get_param_store().get_param("x", torch.zeros(1))
    leaf.grad = torch.ones(1)
    with pytest.raises(TypeError, match="must return a dict for param 'x'"):
        optim.Adam(lambda name: 0.1)([leaf])


def test_rejects_non_leaf():
    clear_param_store()
    scale = get_param_store().get_param("s", torch.ones(1), constraint=constraints.positive)
    with pytest.raises(ValueError, match="non-leaf.*unconstrained"):
        optim.Adam({"lr": 0.1})([scale])


def test_bad_args():
    with pytest.raises(TypeError, match="optim_args must be a dict"):
        PyroOptim(torch.optim.Adam, 0.1)
    with pytest.raises(ValueError, match="unknown clip_args \\['max_norm'\\]"):
        optim.Adam({"lr": 0.1}, {"max_norm": 1.0})


def test_clip_norm_per_param():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    pyro_optim = optim.SGD({"lr": 1.0}, {"clip_norm": 1.0})
    a.grad = torch.tensor([3.0, 4.0])  # norm 5: clipped to norm 1
    b.grad = torch.tensor([0.3, 0.4])  # norm 0.5: untouched (clipping is per param)
    pyro_optim([a, b])
    assert torch.allclose(a, -torch.tensor([0.6, 0.8]), atol=1e-5)
    assert torch.allclose(b, -torch.tensor([0.3, 0.4]))


def test_clip_value_and_norm():
    a = torch.zeros(3, requires_grad=True)
    pyro_optim = optim.SGD({"lr": 1.0}, {"clip_value": 0.5, "clip_norm": 10.0})
    a.grad = torch.tensor([2.0, -3.0, 0.1])
    pyro_optim([a])
    assert torch.allclose(a, -torch.tensor([0.5, -0.5, 0.1]))


def test_clip_args_callable():
    clear_param_store()
    store = get_param_store()
    x = store.get_param("x", torch.zeros(1))
    y = store.get_param("y", torch.zeros(1))
    pyro_optim = optim.SGD({"lr": 1.0}, lambda name: {"clip_value": 0.1} if name == "x" else {})
    x.grad, y.grad = torch.ones(1), torch.ones(1)
    pyro_optim([x, y])
    assert torch.allclose(x, torch.full((1,), -0.1))
    assert torch.allclose(y, torch.full((1,), -1.0))


@pytest.mark.parametrize(
    "name",
    ["Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]
    + ["ASGD", "Rprop"],
)
def test_named_wrappers(name):
    wrapper = getattr(optim, name)
    pyro_optim = wrapper({"lr": 0.01})
    assert isinstance(pyro_optim, PyroOptim)
    x = torch.zeros(2, requires_grad=True)
    x.grad = torch.ones(2)
    pyro_optim([x])
    assert type(pyro_optim.torch_optimizers[0]) is getattr(torch.optim, name)
    assert not torch.equal(x, torch.zeros(2))
    assert pyro_optim.optim_objs == {x: pyro_optim.torch_optimizers[0]}
