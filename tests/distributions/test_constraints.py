"""constraints: torch's constraints re-exported, plus integer/softplus_positive/ordered."""

import torch

from pyrolite.distributions import constraints


def test_reexports_every_torch_constraint():
    for name in torch.distributions.constraints.__all__:
        assert getattr(constraints, name) is getattr(torch.distributions.constraints, name)
        assert name in constraints.__all__


def test_integer():
    assert constraints.integer.is_discrete
    assert constraints.integer.event_dim == 0
    check = constraints.integer.check(torch.tensor([-2.0, 0.0, 1.5, 3.0]))
    assert check.tolist() == [True, True, False, True]


def test_softplus_positive():
    c = constraints.softplus_positive
    assert isinstance(c, constraints.greater_than)
    assert c.lower_bound == 0.0
    assert c.check(torch.tensor([-1.0, 0.0, 2.0])).tolist() == [False, False, True]


def test_ordered_vectors():
    x = torch.tensor([[-1.0, 0.0, 2.0], [0.0, 0.0, 1.0], [1.0, 3.0, 2.0], [1.0, 2.0, 3.0]])
    assert constraints.ordered_vector.event_dim == 1
    assert constraints.ordered_vector.check(x).tolist() == [True, False, False, True]
    assert constraints.positive_ordered_vector.check(x).tolist() == [False, False, False, True]
    assert constraints.ordered_vector.check(torch.tensor([1.0, float("nan")])).item() is False
