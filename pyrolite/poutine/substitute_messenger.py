"""``substitute``: give sample and param sites fixed values without observing them.

Reads: ``name``. Writes: ``value``, ``done``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import is_subsample


class SubstituteMessenger(Messenger):
    """Sites named in ``data`` take that value; latent sites stay latent (their density
    still counts as a prior term, unlike ``condition``). ``substitute_fn(msg)`` may compute
    the value instead (return None to leave the site alone).

    Pyro's ``substitute`` replaces param sites only; pyrolite also replaces latent sample
    sites (as NumPyro does), which ``log_density`` and model criticism rely on. Pyro code
    is unaffected, since Pyro ignores sample names given to ``substitute``.
    """

    def __init__(
        self, data: dict[str, Any] | None = None, substitute_fn: Callable | None = None
    ) -> None:
        if (data is None) == (substitute_fn is None):
            raise ValueError("substitute takes exactly one of data= or substitute_fn=")
        self.data = data
        self.substitute_fn = substitute_fn

    def _substitute(self, msg: Message) -> None:
        if self.data is not None:
            value = self.data.get(msg.name)
        else:
            value = self.substitute_fn(msg)
        if value is not None:
            msg.value = value
            msg.done = True

    def _pyro_sample(self, msg: Message) -> None:
        # a plate's indices are not a latent: Pyro's substitute never replaces them
        if not msg.is_observed and not is_subsample(msg):
            self._substitute(msg)

    def _pyro_param(self, msg: Message) -> None:
        self._substitute(msg)
