"""``AffineAutoregressive``: the affine autoregressive flow (IAF / MAF).

Forward ``y = mean(x) + exp(log_scale(x)) * x`` where ``mean(x)[i]`` and
``log_scale(x)[i]`` come from an :class:`~pyrolite.nn.AutoRegressiveNN` and depend only on
the variables before ``i`` in its order. The Jacobian is triangular in that order with
diagonal ``exp(log_scale)``, so ``log|det J| = sum(log_scale)``. The forward direction is
one network pass (fast sampling: the IAF of Kingma et al. 2016); the inverse takes
``input_dim`` passes (fast density evaluation is the MAF way round: use ``.inv``).

With ``stable=True`` (Kingma et al.'s LSTM-like update) the network gives ``mean`` and
``logit``; with ``s = sigmoid(logit + sigmoid_bias)``, ``y = s * x + (1 - s) * mean`` and
``log|det J| = sum(log s)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional

from pyrolite.distributions import constraints
from pyrolite.distributions.transforms.clamp import clamp_preserve_gradients
from pyrolite.distributions.transforms.transform_module import TransformModule
from pyrolite.nn.auto_reg_nn import AutoRegressiveNN

__all__ = ["AffineAutoregressive", "affine_autoregressive"]


class AffineAutoregressive(TransformModule):
    """An affine autoregressive transform over ``autoregressive_nn`` (see the module docstring).

    ``autoregressive_nn`` maps ``(..., D)`` to a pair ``(mean, log_scale)`` (``(mean, logit)``
    when ``stable``), each ``(..., D)``, e.g. ``AutoRegressiveNN(D, [H], param_dims=[1, 1])``.
    ``log_scale`` is clamped to ``[log_scale_min_clip, log_scale_max_clip]`` in value
    (gradients pass through). Acts on the last dim: ``event_dim = 1``. Caches the last
    ``(x, y)`` pair, so ``log_prob`` of a value this flow just drew needs no inversion.

    Example::

        flow = affine_autoregressive(2)
        d = TransformedDistribution(Normal(torch.zeros(2), 1.0), [flow])
        y = d.rsample((100,))   # (100, 2); d.log_prob(y) is (100,)
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    autoregressive = True

    def __init__(
        self,
        autoregressive_nn: torch.nn.Module,
        log_scale_min_clip: float = -5.0,
        log_scale_max_clip: float = 3.0,
        sigmoid_bias: float = 2.0,
        stable: bool = False,
    ) -> None:
        super().__init__(cache_size=1)
        self.arn = autoregressive_nn
        self.log_scale_min_clip = log_scale_min_clip
        self.log_scale_max_clip = log_scale_max_clip
        self.sigmoid_bias = sigmoid_bias
        self.stable = stable

    def _params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(shift, scale, log_scale)`` at ``x``, each ``x.shape``: ``y = shift + scale * x``."""
        mean, raw = self.arn(x)
        if self.stable:
            logit = raw + self.sigmoid_bias
            scale = torch.sigmoid(logit)
            return (1 - scale) * mean, scale, functional.logsigmoid(logit)
        log_scale = clamp_preserve_gradients(raw, self.log_scale_min_clip, self.log_scale_max_clip)
        return mean, log_scale.exp(), log_scale

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        shift, scale, log_scale = self._params(x)
        self._stash(log_scale)
        return shift + scale * x

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        # After pass k the first k variables of the order are exact (each depends only on
        # earlier ones), so input_dim passes recover all of x.
        x = torch.zeros_like(y)
        for _ in range(y.size(-1)):
            shift, scale, log_scale = self._params(x)
            x = (y - shift) / scale
        self._stash(log_scale)
        return x

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum(log_scale(x), -1)``, shape ``x.shape[:-1]``."""
        log_scale = self._stashed(x, y)
        if log_scale is None:
            log_scale = self._params(x)[2]
        return log_scale.sum(-1)


def affine_autoregressive(
    input_dim: int, hidden_dims: Sequence[int] | None = None, **kwargs: Any
) -> AffineAutoregressive:
    """An :class:`AffineAutoregressive` over a fresh ``AutoRegressiveNN(input_dim,
    hidden_dims, param_dims=[1, 1])`` with a random order; ``hidden_dims`` defaults to
    ``[3 * input_dim + 1]``. ``kwargs`` go to :class:`AffineAutoregressive`
    (``log_scale_min_clip``, ``log_scale_max_clip``, ``sigmoid_bias``, ``stable``)."""
    if hidden_dims is None:
        hidden_dims = [3 * input_dim + 1]
    arn = AutoRegressiveNN(input_dim, hidden_dims, param_dims=[1, 1])
    return AffineAutoregressive(arn, **kwargs)
