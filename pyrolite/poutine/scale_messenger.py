"""``scale``: multiply the log densities of sample sites by a factor.

Reads and writes: ``scale``.
"""

from __future__ import annotations

import torch

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message


class ScaleMessenger(Messenger):
    """Multiplies each sample site's ``scale`` by ``scale`` (a positive number or a tensor
    broadcastable to the sites' batch shapes), e.g. to reweight a minibatch likelihood."""

    def __init__(self, scale: float | torch.Tensor) -> None:
        if isinstance(scale, torch.Tensor):
            if not bool((scale > 0).all()):
                raise ValueError(f"scale must be positive everywhere, got {scale}")
        elif not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = scale

    def _pyro_sample(self, msg: Message) -> None:
        msg.scale = self.scale * msg.scale
