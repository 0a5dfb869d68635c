"""``biject_to`` and ``transform_to``: torch's registries, extended to pyrolite's constraints.

``biject_to(c)`` gives a bijection from the reals onto the support ``c`` (used by MCMC
and autoguides); ``transform_to(c)`` a map onto ``c`` that need not be injective (used for
constrained parameters). Both dispatch on the constraint's type, so torch's entries apply
to every torch constraint; the entries registered here cover the constraints that
:mod:`pyrolite.distributions.constraints` adds (``integer`` is discrete and has none).
"""

from __future__ import annotations

from torch.distributions import biject_to, transform_to
from torch.distributions.transforms import (
    ComposeTransform,
    ExpTransform,
    IndependentTransform,
    SoftplusTransform,
    Transform,
)

from pyrolite.distributions import constraints
from pyrolite.distributions.transforms import OrderedTransform

__all__ = ["biject_to", "is_identity", "transform_to"]


def is_identity(transform: Transform) -> bool:
    """Whether ``transform`` is an identity map: what ``biject_to``/``transform_to`` give for
    ``real`` (an empty ``ComposeTransform``), also wrapped in ``IndependentTransform``s."""
    while isinstance(transform, IndependentTransform):
        transform = transform.base_transform
    return isinstance(transform, ComposeTransform) and not transform.parts


@biject_to.register(type(constraints.softplus_positive))
@transform_to.register(type(constraints.softplus_positive))
def _softplus_positive(constraint: constraints.Constraint) -> SoftplusTransform:
    return SoftplusTransform()


@biject_to.register(type(constraints.ordered_vector))
@transform_to.register(type(constraints.ordered_vector))
def _ordered_vector(constraint: constraints.Constraint) -> OrderedTransform:
    return OrderedTransform()


@biject_to.register(type(constraints.positive_ordered_vector))
@transform_to.register(type(constraints.positive_ordered_vector))
def _positive_ordered_vector(constraint: constraints.Constraint) -> ComposeTransform:
    return ComposeTransform([OrderedTransform(), ExpTransform()])
