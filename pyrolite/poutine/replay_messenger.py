"""``replay``: reuse the values a previous trace drew at its latent sites.

Reads: ``name``, ``is_observed``. Writes: ``value``, ``done``, ``infer`` (sample sites in the
trace); ``value``, ``done`` (param sites in ``params``).
"""

from __future__ import annotations

from typing import Any

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace


class ReplayMessenger(Messenger):
    """Latent sample sites named in ``trace`` take the value recorded there; param sites
    named in ``params`` (a dict name -> tensor) take that tensor."""

    def __init__(self, trace: Trace | None = None, params: dict[str, Any] | None = None) -> None:
        if trace is None and params is None:
            raise ValueError("replay needs a trace= or params= to replay from")
        self.nodes = trace.nodes if trace is not None else {}
        self.trace = trace
        self.params = params

    def _pyro_sample(self, msg: Message) -> None:
        recorded = self.nodes.get(msg.name)
        if recorded is None or msg.is_observed:
            return
        if recorded.type != "sample" or recorded.is_observed:
            raise RuntimeError(
                f"replay: site {msg.name!r} is latent in the program but "
                f"{'observed' if recorded.is_observed else recorded.type} in the replayed "
                "trace; a replayed site must be a latent sample site in both"
            )
        msg.value = recorded.value
        msg.infer = recorded.infer
        msg.done = True

    def _pyro_param(self, msg: Message) -> None:
        if self.params is not None and msg.name in self.params:
            msg.value = self.params[msg.name]
            msg.done = True
