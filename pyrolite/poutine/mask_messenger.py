"""``mask``: switch off the log densities of sample sites where a mask is False.

Reads and writes: ``mask``.
"""

from __future__ import annotations

import torch

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message


class MaskMessenger(Messenger):
    """Combines each sample site's ``mask`` with ``mask`` (a bool or a bool tensor
    broadcastable to the sites' batch shapes) by logical and."""

    def __init__(self, mask: bool | torch.Tensor) -> None:
        if isinstance(mask, torch.Tensor):
            if mask.dtype != torch.bool:
                raise ValueError(f"mask must be a bool tensor, got dtype {mask.dtype}")
        elif not isinstance(mask, bool):
            raise TypeError(f"mask must be a bool or a bool tensor, got {type(mask).__name__}")
        self.mask = mask

    def _pyro_sample(self, msg: Message) -> None:
        msg.mask = self.mask if msg.mask is None else msg.mask & self.mask

    # ``poutine.runtime.get_mask()`` asks the stack with an "inspect" message
    _pyro_inspect = _pyro_sample
