"""``uncondition``: turn observed sample sites back into latent ones.

Reads: ``is_observed``, ``value``. Writes: ``is_observed``, ``value``, ``done``, ``infer``.
"""

from __future__ import annotations

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message


class UnconditionMessenger(Messenger):
    """Observed sites are sampled instead; the observation is kept in
    ``msg.infer["obs"]`` and ``msg.infer["was_observed"]`` is set."""

    def _pyro_sample(self, msg: Message) -> None:
        if msg.is_observed:
            msg.infer = dict(msg.infer, obs=msg.value, was_observed=True)
            msg.is_observed = False
            msg.value = None
            msg.done = False
