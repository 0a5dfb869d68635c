"""Block-structured mass matrices named by site, as Pyro's ``BlockMassMatrix`` and
``ArrowheadMassMatrix`` present them.

The samplers only ever see one flat inverse mass matrix per chain: diagonal ``(C, D)`` or
dense ``(C, D, D)`` over the unconstrained vector in the potential's layout. An adapter here
decides which of the two the run stores, turns warmup's Welford estimate into that matrix
with the block structure imposed (entries outside the blocks are zero, so the dense storage
holds exactly the block-diagonal or arrowhead matrix), and shows the result keyed by tuples
of site names, as Pyro does:

- ``full_mass=False``: one diagonal block of every site; ``True``: one dense block of every
  site; a list of tuples of site names: one dense block per tuple, and one diagonal block of
  the remaining sites. Site names inside the default blocks are sorted, as in Pyro.
- :class:`ArrowheadMassMatrix` estimates the *mass* matrix (the precision) from the
  covariance of the potential's gradients, in arrowhead form: dense rows for the sites of
  ``full_mass`` (the head), a diagonal for the others; one key, head sites then tail sites.

With one chain the matrices are shown without a chain dim (Pyro's shapes); with C chains each
carries a leading dim C.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from pyrolite.infer.mcmc.mass_matrix import WelfordState, welford_inverse_mass_matrix

__all__ = ["ArrowheadMassMatrix", "BlockMassMatrix", "SymmArrowhead"]

Layout = dict[str, tuple[int, int, torch.Size]]
Key = tuple[str, ...]


class SymmArrowhead(NamedTuple):
    """A symmetric arrowhead matrix: its first rows ``top (head, D)`` and the diagonal of the
    rest, ``bottom_diag (D - head,)`` (each with a leading chain dim for several chains)."""

    top: Tensor
    bottom_diag: Tensor


def _blocks(layout: Layout, full_mass: bool | list) -> tuple[list[Key], Key]:
    """The dense blocks and the diagonal block (sorted site names) of ``full_mass``."""
    names = list(layout)
    if full_mass is True:
        return [tuple(sorted(names))], ()
    if full_mass is False:
        return [], tuple(sorted(names))
    msg = "full_mass should be a bool or a list of tuples of site names"
    if not isinstance(full_mass, list):
        raise ValueError(f"{msg}; got {full_mass!r}")
    seen: set[str] = set()
    for block in full_mass:
        if not isinstance(block, tuple) or not block:
            raise ValueError(f"{msg}; got the block {block!r}")
        for name in block:
            if name not in layout:
                raise ValueError(
                    f"full_mass names {name!r}, which is not a latent site of the model; its "
                    f"latent sites are {sorted(names)}"
                )
            if name in seen:
                raise ValueError(f"full_mass names the site {name!r} more than once")
            seen.add(name)
    return list(full_mass), tuple(sorted(n for n in names if n not in seen))


def _index(layout: Layout, key: Key, device: torch.device) -> Tensor:
    """The flat coordinates of the sites of ``key``, in the key's order."""
    parts = [torch.arange(layout[name][0], layout[name][1]) for name in key]
    return torch.cat(parts).to(device) if parts else torch.zeros(0, dtype=torch.long)


def _squeeze(x: Tensor, num_chains: int) -> Tensor:
    return x[0] if num_chains == 1 else x


class BlockMassMatrix:
    """Blocks of the inverse mass matrix, estimated from the draws' (co)variance (Pyro's
    default adapter). ``init_scale``: the initial inverse mass matrix is ``init_scale * I``.

    ``inverse_mass_matrix`` is a dict {tuple of site names: block}, a vector for the diagonal
    block and a matrix for each dense one; setting it (before a run) fixes the starting
    matrix of the blocks it names.
    """

    uses_grad = False

    def __init__(self, init_scale: float = 1.0) -> None:
        self._init_scale = init_scale
        self._layout: Layout | None = None
        self._dense: list[Key] = []
        self._diag: Key = ()
        self._flat: Tensor | None = None
        self._pending: dict[Key, Tensor] = {}
        self._mask: Tensor | None = None

    # -- set up by the kernel ------------------------------------------------------------
    def configure(self, layout: Layout, full_mass: bool | list, z: Tensor) -> Tensor:
        """Fix the blocks for ``layout`` and return the initial inverse mass matrix for
        chains ``z (C, D)``: ``(C, D)`` when every block is diagonal, else ``(C, D, D)``."""
        self._layout = layout
        self._dense, self._diag = _blocks(layout, full_mass)
        num_chains, dim = z.shape
        self._mask = self._block_mask(dim, z.device) if self.dense_storage else None
        if self.dense_storage:
            eye = torch.eye(dim, dtype=z.dtype, device=z.device)
            flat = (self._init_scale * eye).expand(num_chains, dim, dim).clone()
        else:
            flat = torch.full_like(z, self._init_scale)
        for key, block in self._pending.items():
            flat = self._write(flat, key, torch.as_tensor(block, dtype=z.dtype, device=z.device))
        self._flat = flat
        return flat

    @property
    def dense_storage(self) -> bool:
        return bool(self._dense)

    def _block_mask(self, dim: int, device: torch.device) -> Tensor:
        mask = torch.eye(dim, dtype=torch.bool, device=device)
        for key in self._dense:
            idx = _index(self._layout, key, device)
            mask[idx.unsqueeze(-1), idx] = True
        return mask

    def estimate(self, welford: WelfordState) -> Tensor:
        """The regularised estimate with the block structure imposed (a Welford over ``z``)."""
        inverse = welford_inverse_mass_matrix(welford)
        if self._mask is not None:
            inverse = inverse * self._mask
        return inverse

    def record(self, inverse_mass_matrix: Tensor) -> None:
        """Remember the chains' current flat inverse mass matrix (shown by the properties)."""
        self._flat = inverse_mass_matrix

    # -- Pyro's view -----------------------------------------------------------------------
    def _keys(self) -> list[Key]:
        return self._dense + ([self._diag] if self._diag else [])

    @property
    def mass_matrix_size(self) -> dict[Key, int]:
        """{tuple of site names: size of its block}."""
        if self._layout is None:
            return {}
        return {k: sum(self._layout[n][1] - self._layout[n][0] for n in k) for k in self._keys()}

    @property
    def inverse_mass_matrix(self) -> dict[Key, Tensor]:
        """{tuple of site names: block}; empty before the kernel has been initialised."""
        if self._flat is None:
            return dict(self._pending)
        flat = self._flat
        num_chains = flat.shape[0]
        diagonal = flat if flat.dim() == 2 else flat.diagonal(dim1=-2, dim2=-1)
        result = {}
        for key in self._keys():
            idx = _index(self._layout, key, flat.device)
            if key in self._dense:
                block = flat[:, idx.unsqueeze(-1), idx]
            else:
                block = diagonal[:, idx]
            result[key] = _squeeze(block, num_chains)
        return result

    @inverse_mass_matrix.setter
    def inverse_mass_matrix(self, value: dict[Key, Tensor]) -> None:
        if self._flat is not None:
            for key, block in value.items():
                self._flat = self._write(self._flat, key, torch.as_tensor(block))
        self._pending.update(value)

    def _write(self, flat: Tensor, key: Key, block: Tensor) -> Tensor:
        if key not in self._keys():
            raise KeyError(f"no mass matrix block {key!r}; the blocks are {self._keys()}")
        num_chains, dim = flat.shape[:2]
        idx = _index(self._layout, key, flat.device)
        block = block.to(flat).expand(
            (num_chains,) + block.shape[-(2 if key in self._dense else 1) :]
        )
        flat = flat.clone()
        if key in self._dense:
            flat[:, idx.unsqueeze(-1), idx] = block
        elif flat.dim() == 2:
            flat[:, idx] = block
        else:
            flat[:, idx, idx] = block
        return flat


class ArrowheadMassMatrix(BlockMassMatrix):
    """An arrowhead *mass* matrix estimated from the covariance of the potential's gradients
    (for a Gaussian posterior that covariance is the precision): dense rows and columns for
    the sites in ``full_mass`` (the head), a diagonal for the other sites.

    ``mass_matrix`` is ``{head sites + tail sites: SymmArrowhead(top, bottom_diag)}``;
    ``inverse_mass_matrix`` the same key with the dense inverse. ``init_scale``: the initial
    mass matrix is ``init_scale * I``.
    """

    uses_grad = True

    def configure(self, layout: Layout, full_mass: bool | list, z: Tensor) -> Tensor:
        self._layout = layout
        dense, diag = _blocks(layout, full_mass)
        self._key = tuple(name for block in dense for name in block) + diag
        self._head = sum(layout[n][1] - layout[n][0] for block in dense for n in block)
        self._dense, self._diag = [self._key], ()
        num_chains, dim = z.shape
        self._order = _index(layout, self._key, z.device)
        position = torch.arange(dim, device=z.device)
        mask = torch.eye(dim, dtype=torch.bool, device=z.device)
        mask[: self._head] = True
        mask[:, : self._head] = True
        self._mask = mask  # in the key's order
        self._storage_dense = self._head > 0
        self._inverse_order = torch.empty_like(self._order)
        self._inverse_order[self._order] = position
        mass = torch.eye(dim, dtype=z.dtype, device=z.device) * self._init_scale
        self._mass = mass.expand(num_chains, dim, dim)
        if self._storage_dense:
            flat = torch.eye(dim, dtype=z.dtype, device=z.device) / self._init_scale
            flat = flat.expand(num_chains, dim, dim).clone()
        else:
            flat = torch.full_like(z, 1.0 / self._init_scale)
        self._flat = flat
        return flat

    @property
    def dense_storage(self) -> bool:
        return self._storage_dense

    def estimate(self, welford: WelfordState) -> Tensor:
        """The inverse of the regularised arrowhead estimate (a Welford over gradients)."""
        cov = welford_inverse_mass_matrix(welford)
        if cov.dim() == 2:  # no head: a diagonal mass matrix
            self._mass = torch.diag_embed(cov[:, self._order])
            return cov.reciprocal()
        order = self._order
        mass = cov[:, order.unsqueeze(-1), order] * self._mask
        self._mass = mass
        back = self._inverse_order
        mass_flat = mass[:, back.unsqueeze(-1), back]
        return torch.cholesky_inverse(torch.linalg.cholesky(mass_flat))

    @property
    def mass_matrix(self) -> dict[Key, SymmArrowhead]:
        """{head sites + tail sites: the arrowhead mass matrix}."""
        if self._layout is None:
            return {}
        mass = self._mass
        num_chains = mass.shape[0]
        top = mass[:, : self._head]
        bottom = mass.diagonal(dim1=-2, dim2=-1)[:, self._head :]
        return {self._key: SymmArrowhead(_squeeze(top, num_chains), _squeeze(bottom, num_chains))}

    @property
    def inverse_mass_matrix(self) -> dict[Key, Tensor]:
        if self._flat is None:
            return {}
        flat = self._flat
        full = torch.diag_embed(flat) if flat.dim() == 2 else flat
        order = self._order
        return {self._key: _squeeze(full[:, order.unsqueeze(-1), order], flat.shape[0])}

    @inverse_mass_matrix.setter
    def inverse_mass_matrix(self, value: dict[Key, Tensor]) -> None:
        raise NotImplementedError(
            "ArrowheadMassMatrix is adapted from gradients; its inverse mass matrix cannot be "
            "set. Use BlockMassMatrix to fix a mass matrix."
        )
