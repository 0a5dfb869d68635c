"""``escape``: leave a program at the first site a predicate selects.

Reads: the message (through ``escape_fn``). Writes: ``done``, ``stop``, ``continuation``.
"""

from __future__ import annotations

from collections.abc import Callable

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message, NonlocalExit


def _raise_nonlocal_exit(msg: Message) -> None:
    raise NonlocalExit(msg)


class EscapeMessenger(Messenger):
    """At the first sample site with ``escape_fn(msg)`` true, the program stops by raising
    :class:`~pyrolite.poutine.runtime.NonlocalExit` (carrying the message as ``.site``);
    handlers outside ``escape`` do not see that site."""

    def __init__(self, escape_fn: Callable[[Message], bool]) -> None:
        self.escape_fn = escape_fn

    def _pyro_sample(self, msg: Message) -> None:
        if self.escape_fn(msg):
            msg.done = True
            msg.stop = True
            msg.continuation = _raise_nonlocal_exit
