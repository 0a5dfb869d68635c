"""Constraints: every constraint of ``torch.distributions.constraints``, plus a few of Pyro's.

Added here: ``integer``, ``softplus_positive`` (positive reals whose ``biject_to`` is a
softplus rather than an exp), ``ordered_vector`` (strictly increasing vectors) and
``positive_ordered_vector``. Their transforms are registered with ``biject_to`` and
``transform_to`` in :mod:`pyrolite.distributions.constraint_registry`.
"""

from __future__ import annotations

import torch
from torch.distributions.constraints import (
    Constraint,
    MixtureSameFamilyConstraint,
    boolean,
    cat,
    corr_cholesky,
    dependent,
    dependent_property,
    greater_than,
    greater_than_eq,
    half_open_interval,
    independent,
    integer_interval,
    interval,
    is_dependent,
    less_than,
    lower_cholesky,
    lower_triangular,
    multinomial,
    nonnegative,
    nonnegative_integer,
    one_hot,
    positive,
    positive_definite,
    positive_integer,
    positive_semidefinite,
    real,
    real_vector,
    simplex,
    square,
    stack,
    symmetric,
    unit_interval,
)

__all__ = [
    "Constraint",
    "MixtureSameFamilyConstraint",
    "boolean",
    "cat",
    "corr_cholesky",
    "dependent",
    "dependent_property",
    "greater_than",
    "greater_than_eq",
    "half_open_interval",
    "independent",
    "integer",
    "integer_interval",
    "interval",
    "is_dependent",
    "less_than",
    "lower_cholesky",
    "lower_triangular",
    "multinomial",
    "nonnegative",
    "nonnegative_integer",
    "one_hot",
    "ordered_vector",
    "positive",
    "positive_definite",
    "positive_integer",
    "positive_ordered_vector",
    "positive_semidefinite",
    "real",
    "real_vector",
    "simplex",
    "softplus_positive",
    "square",
    "stack",
    "symmetric",
    "unit_interval",
]


class _Integer(Constraint):
    """Integer-valued numbers (any sign)."""

    is_discrete = True

    def check(self, value: torch.Tensor) -> torch.Tensor:
        """True where ``value`` is a whole number; shape of ``value``."""
        return value % 1 == 0


class _SoftplusPositive(greater_than):
    """Positive reals, mapped from the reals by ``softplus`` (gentler than ``exp``)."""

    def __init__(self) -> None:
        super().__init__(lower_bound=0.0)


class _OrderedVector(Constraint):
    """Real vectors whose entries strictly increase along the last dim."""

    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        """True per vector; shape ``value.shape[:-1]``."""
        return (value[..., 1:] > value[..., :-1]).all(-1) & (value == value).all(-1)


class _PositiveOrderedVector(_OrderedVector):
    """Positive real vectors whose entries strictly increase along the last dim."""

    def check(self, value: torch.Tensor) -> torch.Tensor:
        """True per vector; shape ``value.shape[:-1]``."""
        return super().check(value) & (value > 0).all(-1)


integer = _Integer()
softplus_positive = _SoftplusPositive()
ordered_vector = _OrderedVector()
positive_ordered_vector = _PositiveOrderedVector()
