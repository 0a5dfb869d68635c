"""The helpers at Pyro's utility paths: ``pyrolite.util`` (``pyro.util``),
``pyrolite.distributions.util`` and ``pyrolite.infer.util``, several checked against Pyro."""

import gc
import math
import warnings
import weakref

import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.distributions import util as dist_util
from pyrolite.infer import util as infer_util
from pyrolite.poutine import util as poutine_util
from pyrolite.poutine.plate_messenger import CondIndepStackFrame
from pyrolite.util import (
    check_if_enumerated,
    check_traces_match,
    ignore_experimental_warning,
    optional,
    timed,
    torch_float,
    torch_isinf,
    torch_isnan,
    warn_if_inf,
    warn_if_nan,
)

pyro_dist_util = pytest.importorskip("pyro.distributions.util")


# -- pyro.util -------------------------------------------------------------------------


def test_nan_and_inf_tests():
    assert torch_isnan(float("nan")) and not torch_isnan(1.0)
    assert bool(torch_isnan(torch.tensor([1.0, math.nan])))
    assert not bool(torch_isnan(torch.ones(3)))
    assert torch_isinf(-math.inf) and not torch_isinf(0.0)
    assert bool(torch_isinf(torch.tensor([0.0, math.inf])))
    assert torch_float(3) == 3.0 and isinstance(torch_float(3), float)
    assert torch_float(torch.tensor(3)).dtype == torch.float32


def test_warn_if_nan_value_and_gradient():
    with pytest.warns(UserWarning, match="Encountered NaN: loss"):
        warn_if_nan(float("nan"), "loss")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_nan(1.0) == 1.0
    x = torch.tensor(0.0, requires_grad=True)
    y = warn_if_nan(x * 1.0, "y")
    with pytest.warns(UserWarning, match="Encountered NaN: backward y"):
        (y * math.nan).backward()


def test_warn_if_inf_respects_allowed_signs():
    with pytest.warns(UserWarning, match=r"Encountered \+inf: v"):
        warn_if_inf(torch.tensor([math.inf]), "v")
    with pytest.warns(UserWarning, match="Encountered -inf."):
        warn_if_inf(-math.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_inf(torch.tensor([math.inf, -math.inf]), allow_posinf=True, allow_neginf=True)


def test_optional_and_timed():
    entered = []

    class Recorder:
        def __enter__(self):
            entered.append(True)
            return "inside"

        def __exit__(self, *exc):
            return None

    with optional(Recorder(), False) as value:
        assert value is None
    with optional(Recorder(), True) as value:
        assert value == "inside"
    assert entered == [True]
    with timed() as t:
        sum(range(1000))
    assert t.elapsed >= 0.0
    with ignore_experimental_warning():
        warnings.warn("new", pyro.util.ExperimentalWarning, stacklevel=1)


def _two_site_model(n):
    pyro.sample("a", dist.Normal(torch.zeros(n), 1.0).to_event(1))
    pyro.sample("b", dist.Normal(0.0, 1.0))


def test_check_traces_match():
    tr2 = poutine.trace(_two_site_model).get_trace(2)
    check_traces_match(tr2, poutine.trace(_two_site_model).get_trace(2))
    with pytest.raises(ValueError, match="Site dims disagree at site 'a'"):
        check_traces_match(tr2, poutine.trace(_two_site_model).get_trace(3))
    only_b = poutine.trace(lambda: pyro.sample("b", dist.Normal(0.0, 1.0))).get_trace()
    with pytest.warns(UserWarning, match="Model vars changed"):
        check_traces_match(tr2, only_b)


def test_check_if_enumerated():
    def guide():
        pyro.sample("k", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})

    with pytest.warns(UserWarning, match="Found sample sites configured for enumeration: k"):
        check_if_enumerated(poutine.trace(guide).get_trace())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_if_enumerated(poutine.trace(_two_site_model).get_trace(2))


def test_rng_helpers_at_pyros_path():
    pyro.util.set_rng_seed(3)
    state = pyro.util.get_rng_state()
    first = torch.rand(2)
    pyro.util.set_rng_state(state)
    assert torch.equal(torch.rand(2), first)


# -- pyro.distributions.util -----------------------------------------------------------


@pytest.mark.parametrize(
    "shapes", [[()], [(2,), (1,)], [(3, 1), (4,)], [(5, 1, 2), (1, 3, 1), ()], [(0,), (1,)]]
)
@pytest.mark.parametrize("strict", [False, True])
def test_broadcast_shape_agrees_with_pyro(shapes, strict):
    try:
        expected = pyro_dist_util.broadcast_shape(*shapes, strict=strict)
    except ValueError:
        with pytest.raises(ValueError, match="shape mismatch"):
            dist_util.broadcast_shape(*shapes, strict=strict)
    else:
        assert dist_util.broadcast_shape(*shapes, strict=strict) == expected


def test_broadcast_shape_error_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(2,\) vs \(3,\)"):
        dist_util.broadcast_shape((2,), (3,))


@pytest.mark.parametrize("dim", [0, 1, 2, 3, -1, -2, 5])
def test_sum_leftmost_agrees_with_pyro(dim):
    x = torch.randn(2, 3, 4)
    assert torch.allclose(dist_util.sum_leftmost(x, dim), pyro_dist_util.sum_leftmost(x, dim))
    assert dist_util.sum_leftmost(2.5, dim) == 2.5


def test_exact_zero_and_one_tests():
    assert dist_util.is_identically_zero(0) and dist_util.is_identically_zero(torch.tensor(0))
    assert not dist_util.is_identically_zero(torch.tensor(0.0))
    assert not dist_util.is_identically_zero(torch.zeros(2, dtype=torch.long))
    assert dist_util.is_identically_one(1.0) and not dist_util.is_identically_one(2)


def test_small_tensor_helpers():
    value = torch.zeros(2, dtype=torch.float64)
    assert torch.equal(dist_util.eye_like(value, 2, 3), torch.eye(2, 3, dtype=torch.float64))
    assert dist_util.scalar_like(value, 3.0).dtype == torch.float64
    x = torch.arange(6.0).reshape(2, 3)
    index = torch.tensor([[2], [0]])
    assert torch.equal(dist_util.gather(x, index, -1), pyro_dist_util.gather(x, index, -1))
    assert torch.equal(dist_util.scale_and_mask(torch.ones(2), 2.0), torch.full((2,), 2.0))
    assert dist_util.sum_rightmost(torch.ones(2, 3), 1).shape == (2,)


def test_validation_enabled_restores_the_switch():
    assert dist_util.is_validation_enabled()
    with dist_util.validation_enabled(False):
        assert not dist_util.is_validation_enabled()
        assert not poutine_util.is_validation_enabled()
    assert dist_util.is_validation_enabled()


def test_weakmethod_holds_its_instance_weakly():
    class Foo:
        def __init__(self, state):
            self.state = state
            self.method = self._method

        @dist_util.weakmethod
        def _method(self, *args, **kwargs):
            return self.state, args, kwargs

    foo = Foo(42)
    assert foo.method(1, x=0) == (42, (1,), {"x": 0})
    ref = weakref.ref(foo)
    dangling = foo.method
    del foo
    gc.collect()
    assert ref() is None
    with pytest.raises(AttributeError, match="garbage collected"):
        dangling()


def test_detach_copies_structure_and_shares_storage():
    loc = torch.zeros(3, requires_grad=True)
    normal = dist.Normal(loc, 1.0)
    detached = dist_util.detach({"d": normal, "same": loc})
    assert not detached["d"].loc.requires_grad
    assert detached["d"].loc.data_ptr() == loc.data_ptr()
    assert detached["same"] is detached["d"].loc  # one tensor stays one tensor


def test_deep_to_changes_dtype_everywhere():
    normal = dist.Normal(torch.zeros(2), torch.ones(2))
    moved = dist_util.deep_to([normal, torch.ones(1)], dtype=torch.float64)
    assert moved[0].loc.dtype == torch.float64 and moved[1].dtype == torch.float64
    assert normal.loc.dtype == torch.float32


def test_copy_docs_from():
    class Source:
        def method(self):
            """Source doc."""

    @dist_util.copy_docs_from(Source)
    class Target:
        def method(self):
            pass

    assert Target.method.__doc__ == f"See :meth:`{Source.__module__}.Source.method`"


# -- pyro.infer.util -------------------------------------------------------------------


def test_number_or_tensor_helpers():
    assert infer_util.torch_item(2.0) == 2.0 and infer_util.torch_item(torch.tensor(2.0)) == 2.0
    assert infer_util.torch_exp(0.0) == 1.0
    assert torch.equal(infer_util.torch_exp(torch.zeros(1)), torch.ones(1))
    infer_util.torch_backward(3.0)  # no-op
    x = torch.tensor(2.0, requires_grad=True)
    infer_util.torch_backward(x * x)
    assert x.grad.item() == 4.0
    infer_util.zero_grads([x])
    assert x.grad.item() == 0.0
    assert infer_util.torch_sum(torch.ones(2, 3), [-1, -3]).shape == (2,)


def _frame(name, dim, size):
    return CondIndepStackFrame(name, dim, size, 0, size)


def test_multi_frame_tensor_sums_to_target_plates():
    a, b = _frame("a", -1, 3), _frame("b", -2, 2)
    cost = infer_util.MultiFrameTensor(((a,), torch.ones(3)), ((a, b), torch.ones(2, 3)))
    cost.add(((a,), torch.ones(3)))
    assert torch.equal(cost[frozenset([a])], torch.full((3,), 2.0))
    assert torch.equal(cost.sum_to([a]), torch.full((3,), 4.0))
    assert torch.equal(cost.sum_to([]), torch.tensor(12.0))  # size-1 leading dims dropped
    assert infer_util.MultiFrameTensor().sum_to([a]) == 0.0


def test_plate_stacks_and_dependent_dims():
    def model():
        with pyro.plate("outer", 2, dim=-2):
            pyro.sample("x", dist.Normal(0.0, 1.0))
            with pyro.plate("inner", 3, dim=-1):
                pyro.sample("y", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    stacks = infer_util.get_plate_stacks(tr)
    assert set(stacks) == {"x", "y"}  # not the plates' index sites
    assert [f.name for f in stacks["y"]] == ["outer", "inner"]
    assert infer_util.get_dependent_plate_dims([tr.nodes["x"], tr.nodes["y"]]) == [-1]


def test_check_fully_reparametrized():
    def guide():
        pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("k", dist.Bernoulli(0.5))

    tr = poutine.trace(guide).get_trace()
    tr.compute_score_parts()
    infer_util.check_fully_reparametrized(tr.nodes["z"])
    with pytest.raises(NotImplementedError, match="fully reparameterized"):
        infer_util.check_fully_reparametrized(tr.nodes["k"])
