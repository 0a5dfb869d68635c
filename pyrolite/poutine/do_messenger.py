"""``do``: intervene on sample sites (Pearl's do-operator).

Reads: ``name``, ``intervener_id``. Writes: ``name``, ``value``, ``is_observed``, ``stop``,
``intervener_id``; sends a copy of the original message through the whole stack.
"""

from __future__ import annotations

from typing import Any

import torch

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message, apply_stack


class DoMessenger(Messenger):
    """Sets the sites named in ``data`` to fixed values for everything downstream.

    As in Pyro, the site is split: the original draw still happens and is recorded under
    the site's own name, while the program continues with the intervened value, recorded as
    an observed site ``"<name>__CF"`` that handlers outside ``do`` do not see. The
    intervened value itself contributes no density.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self._intervener_id = object()

    def _pyro_sample(self, msg: Message) -> None:
        if msg.get("intervener_id") is self._intervener_id or msg.name not in self.data:
            return
        intervention = self.data[msg.name]
        if intervention is None:
            return
        msg.intervener_id = self._intervener_id
        original = msg.copy()
        # The copy walks the whole stack again, so undo what inner handlers already did.
        original.cond_indep_stack = ()
        original.scale = 1.0
        original.mask = None
        apply_stack(original)

        msg.name = msg.name + "__CF"
        if not isinstance(intervention, torch.Tensor):
            intervention = torch.as_tensor(intervention)
        msg.value = intervention
        msg.is_observed = True
        msg.stop = True
