"""``ScoreParts``: the three pieces an ELBO needs from one sample site."""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["ScoreParts", "scale_and_mask"]


class ScoreParts(NamedTuple):
    """Per-site terms for gradient estimators, each of shape ``batch_shape`` (or ``0``).

    - ``log_prob``: the log density of the value.
    - ``score_function``: the term whose gradient gives the REINFORCE estimate
      (``log_prob`` for non-reparameterised sites, ``0`` otherwise).
    - ``entropy_term``: the term differentiated pathwise
      (``log_prob`` for reparameterised sites, ``0`` otherwise).
    """

    log_prob: torch.Tensor | float
    score_function: torch.Tensor | float
    entropy_term: torch.Tensor | float

    def scale_and_mask(
        self, scale: torch.Tensor | float = 1.0, mask: torch.Tensor | None = None
    ) -> ScoreParts:
        """Multiply ``log_prob`` and ``entropy_term`` by ``scale`` and zero them where ``mask``
        is False; ``score_function`` stays as it is (as in Pyro).

        The score-function surrogate multiplies ``score_function`` by a cost built from
        scaled log densities, which already carries the scale and mask once; scaling both
        factors would count the scale twice.

        ``mask`` is a bool tensor broadcastable with the parts. Masking selects with
        ``torch.where`` (it does not multiply), so a masked ``-inf``/NaN entry becomes 0 and
        passes back a zero gradient. Parts that are the plain number ``0`` stay ``0``.
        """
        return ScoreParts(
            scale_and_mask(self.log_prob, scale, mask),
            self.score_function,
            scale_and_mask(self.entropy_term, scale, mask),
        )


def scale_and_mask(
    tensor: torch.Tensor | float,
    scale: torch.Tensor | float = 1.0,
    mask: torch.Tensor | bool | None = None,
) -> torch.Tensor | float:
    """``tensor * scale`` with entries where ``mask`` is False set to exactly zero.

    ``mask`` is None (keep all), a Python bool, or a bool tensor broadcastable to ``tensor``;
    masking selects (``torch.where``), so a masked -inf/NaN entry becomes 0. Plain numbers
    (the ``0`` parts of :class:`ScoreParts`) pass through unchanged.
    """
    if not isinstance(tensor, torch.Tensor):
        return tensor
    if mask is not None and mask is not True:
        if mask is False:
            return torch.zeros_like(tensor)
        tensor, mask = torch.broadcast_tensors(tensor, mask)
        tensor = torch.where(mask, tensor, torch.zeros((), dtype=tensor.dtype))
    if isinstance(scale, torch.Tensor) or scale != 1.0:
        tensor = tensor * scale
    return tensor
