"""``CachedInverseTransformModule``: the base of vector flows with no closed-form inverse."""

from __future__ import annotations

import math

import torch
from torch import nn

from pyrolite.distributions import constraints
from pyrolite.distributions.transforms.transform_module import TransformModule

__all__ = ["CachedInverseTransformModule"]


class CachedInverseTransformModule(TransformModule):
    """A flow on vectors of size ``input_dim`` (``event_dim = 1``) whose ``.inv`` works only
    on the value it last produced (the cached ``(x, y)`` pair), which is all
    ``TransformedDistribution.log_prob`` needs for its own draws (Planar, Radial).

    Subclasses call ``super().__init__(input_dim)``, create their parameters, then call
    ``reset_parameters()``, which draws every parameter, in the order they were created,
    from ``Uniform(-1/sqrt(input_dim), 1/sqrt(input_dim))``.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, input_dim: int) -> None:
        super().__init__(cache_size=1)
        if input_dim < 1:
            raise ValueError(f"{type(self).__name__}: input_dim must be >= 1, got {input_dim}")
        self.input_dim = input_dim

    def reset_parameters(self) -> None:
        """Draw every parameter from ``Uniform(-1/sqrt(input_dim), 1/sqrt(input_dim))``."""
        bound = 1.0 / math.sqrt(self.input_dim)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form inverse; .inv works only on the value "
            "this transform last returned (cached). To evaluate densities of arbitrary points, "
            "use a flow with an inverse (AffineCoupling, or AffineAutoregressive's .inv)"
        )
