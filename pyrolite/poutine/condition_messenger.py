"""``condition``: observe sample sites at given values.

Reads: ``name``. Writes: ``value``, ``is_observed``, ``done``.
"""

from __future__ import annotations

from typing import Any

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import Trace


class ConditionMessenger(Messenger):
    """Sample sites named in ``data`` (a dict name -> value, or a :class:`Trace`) become
    observations of that value; their log density then counts as a likelihood term."""

    def __init__(self, data: dict[str, Any] | Trace) -> None:
        if isinstance(data, Trace):
            data = {n: s.value for n, s in data.nodes.items() if s.type == "sample"}
        self.data = data

    def _pyro_sample(self, msg: Message) -> None:
        if msg.name in self.data:
            value = self.data[msg.name]
            msg.value = value
            msg.is_observed = value is not None
            msg.done = value is not None
