"""``lift``: turn param statements into sample statements from a prior.

Reads: ``name``. Writes: ``type``, ``fn``, ``args``, ``kwargs``, ``value``, ``infer``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message


class LiftMessenger(Messenger):
    """Each param site becomes a latent sample site drawn from ``prior``: one distribution
    (or callable) for every param, or a dict name -> distribution for some of them."""

    def __init__(self, prior: Any | dict[str, Any]) -> None:
        self.prior = prior

    def _prior_for(self, name: str) -> Callable | None:
        if isinstance(self.prior, dict):
            return self.prior.get(name)
        return self.prior

    def _pyro_param(self, msg: Message) -> None:
        prior = self._prior_for(msg.name)
        if prior is None:
            return
        msg.type = "sample"
        msg.fn = prior
        msg.args = ()
        msg.kwargs = {}
        msg.infer = {}
        msg.value = None
        msg.is_observed = False
        msg.done = False
