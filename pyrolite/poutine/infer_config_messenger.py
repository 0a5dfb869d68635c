"""``infer_config``: add inference hints to the ``infer`` dict of sites.

Reads: the message (through ``config_fn``). Writes: ``infer`` (a new dict).
"""

from __future__ import annotations

from collections.abc import Callable

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message


class InferConfigMessenger(Messenger):
    """Updates each sample and param site's ``infer`` dict with ``config_fn(msg)``."""

    def __init__(self, config_fn: Callable[[Message], dict]) -> None:
        self.config_fn = config_fn

    def _pyro_sample(self, msg: Message) -> None:
        msg.infer = {**msg.infer, **self.config_fn(msg)}

    _pyro_param = _pyro_sample
