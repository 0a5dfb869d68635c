"""KL divergences Pyro registers beyond torch's: masked pairs and ``Independent`` pairs.

Importing this module registers them with ``torch.distributions.kl`` (the package
``__init__`` does so), for pyrolite's classes only, so torch's own registry entries for
torch's classes stay as they are. ``TraceMeanField_ELBO`` reaches these through
``kl_divergence``.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import MultivariateNormal, kl_divergence, register_kl

from pyrolite.distributions.delta import Delta
from pyrolite.distributions.masked import MaskedDistribution
from pyrolite.distributions.reductions import sum_rightmost
from pyrolite.distributions.torch import Independent, Normal

__all__: list[str] = []


def _joint_mask(p_mask: bool | torch.Tensor, q_mask: bool | torch.Tensor) -> bool | torch.Tensor:
    if p_mask is False or q_mask is False:
        return False
    if p_mask is True:
        return q_mask
    if q_mask is True or p_mask is q_mask:
        return p_mask
    return p_mask & q_mask


@register_kl(MaskedDistribution, MaskedDistribution)
def _kl_masked_masked(p: MaskedDistribution, q: MaskedDistribution) -> torch.Tensor | float:
    # KL where both masks are True, 0 elsewhere; a mask that is False everywhere (the bool)
    # skips the computation and returns the float 0.0, as Pyro does (the device is unknown).
    mask = _joint_mask(p._mask, q._mask)
    if mask is False:
        return 0.0
    kl = kl_divergence(p.base_dist, q.base_dist)
    if mask is True:
        return kl
    return torch.where(mask, kl, 0.0)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> torch.Tensor | float:
    # Torch's version needs equal reinterpreted_batch_ndims; Pyro's (this) peels off the
    # shared event dims, takes the KL of what is left, and sums over the shared dims.
    shared = min(p.reinterpreted_batch_ndims, q.reinterpreted_batch_ndims)
    p_rest = p.reinterpreted_batch_ndims - shared
    q_rest = q.reinterpreted_batch_ndims - shared
    p_inner = Independent(p.base_dist, p_rest) if p_rest else p.base_dist
    q_inner = Independent(q.base_dist, q_rest) if q_rest else q.base_dist
    # (a masked pair whose mask is False gives the float 0.0, which passes through)
    return sum_rightmost(kl_divergence(p_inner, q_inner), shared)


@register_kl(Independent, MultivariateNormal)
def _kl_independent_mvn(p: Independent, q: MultivariateNormal) -> torch.Tensor:
    # Only for vectors of scalar Normals or Deltas (a diagonal Gaussian or a point against
    # a full Gaussian), the cases a mean-field guide meets in a model's MVN prior.
    base = p.base_dist
    if p.reinterpreted_batch_ndims == 1 and isinstance(base, Delta) and not base.event_shape:
        return base.log_density.sum(-1) - q.log_prob(base.v)
    if p.reinterpreted_batch_ndims == 1 and isinstance(base, Normal):
        # 0.5 tr(P S) + 0.5 (m - mu)' P (m - mu) + 0.5 log|Sigma| - 0.5 d - sum log s, with the
        # quadratic and log-determinant terms read off -log q(m).
        dim = q.event_shape[0]
        trace = (base.scale.square() * q.precision_matrix.diagonal(dim1=-2, dim2=-1)).sum(-1)
        return (
            0.5 * trace
            - 0.5 * dim * (1 + math.log(2 * math.pi))
            - q.log_prob(base.loc)
            - base.scale.log().sum(-1)
        )
    raise NotImplementedError(
        f"No KL(p || q) is implemented for p = Independent({type(base).__name__}, "
        f"{p.reinterpreted_batch_ndims}) and q = MultivariateNormal"
    )
