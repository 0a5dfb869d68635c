"""``Permute``: reorder the entries of an event along one dim."""

from __future__ import annotations

import torch

from pyrolite.distributions import constraints
from pyrolite.distributions.transforms.transform_module import TransformModule

__all__ = ["Permute", "permute"]


class Permute(TransformModule):
    """``y = x.index_select(dim, permutation)``; the inverse applies the inverse permutation
    and ``log|det J| = 0`` (shape ``x.shape[:dim]``).

    ``dim`` is negative and sets ``event_dim = -dim``. Placed between autoregressive or
    coupling layers so that each layer sees the variables in another order. The permutation
    is a buffer, so ``.to(device)`` moves it (Pyro's ``Permute`` is a plain ``Transform``).
    """

    bijective = True
    volume_preserving = True

    def __init__(self, permutation: torch.Tensor, *, dim: int = -1, cache_size: int = 1) -> None:
        super().__init__(cache_size=cache_size)
        if dim >= 0:
            raise ValueError(f"Permute: dim must be negative (it sets event_dim = -dim), got {dim}")
        permutation = torch.as_tensor(permutation, dtype=torch.long)
        n = permutation.numel()
        if permutation.dim() != 1 or sorted(permutation.tolist()) != list(range(n)):
            raise ValueError(
                f"Permute: permutation must be a 1-d permutation of 0..n-1, got "
                f"{permutation.tolist()}"
            )
        self.dim = dim
        self.register_buffer("permutation", permutation)
        self.register_buffer("inv_permutation", torch.argsort(permutation))

    @constraints.dependent_property(is_discrete=False)
    def domain(self):
        return constraints.independent(constraints.real, -self.dim)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self):
        return constraints.independent(constraints.real, -self.dim)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(self.dim, self.permutation)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y.index_select(self.dim, self.inv_permutation)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Zeros of shape ``x.shape[:dim]``."""
        return x.new_zeros(x.shape[: self.dim])

    def with_cache(self, cache_size: int = 1) -> Permute:
        if self._cache_size == cache_size:
            return self
        return Permute(self.permutation, dim=self.dim, cache_size=cache_size)


def permute(input_dim: int, permutation: torch.Tensor | None = None, dim: int = -1) -> Permute:
    """A :class:`Permute` of ``input_dim`` entries along ``dim``; a random permutation when
    ``permutation`` is None."""
    if permutation is None:
        permutation = torch.randperm(input_dim)
    return Permute(permutation, dim=dim)
