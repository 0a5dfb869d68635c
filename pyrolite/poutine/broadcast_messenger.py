"""``broadcast``: expand sample sites' distributions to the sizes of their plates.

Reads: ``fn``, ``cond_indep_stack``. Writes: ``fn``.
"""

from __future__ import annotations

import torch

from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message


def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def broadcast_to_plates(msg: Message) -> None:
    """Expand ``msg.fn`` so its batch shape has each vectorised plate's size at the plate's
    dim. A batch size other than 1 or the plate size there is an error naming the site,
    the plate and both shapes."""
    fn = msg.fn
    batch_shape = getattr(fn, "batch_shape", None)
    if batch_shape is None:
        return
    target = list(batch_shape)
    changed = False
    for frame in msg.cond_indep_stack:
        dim = frame.dim
        if dim is None or frame.size == -1:
            continue
        if -dim > len(target):
            target = [1] * (-dim - len(target)) + target
            changed = True
        if target[dim] != frame.size:
            if target[dim] != 1:
                expected = list(target)
                expected[dim] = frame.size
                raise ValueError(
                    f"Shape mismatch inside plate {frame.name!r} at site {msg.name!r} "
                    f"(dim={dim}, size={frame.size}): the distribution's batch_shape "
                    f"{_fmt(batch_shape)} has size {target[dim]} at dim {dim}, but the plate "
                    f"needs {frame.size} (or 1, to broadcast) there, as in batch_shape "
                    f"{_fmt(expected)}. Fix: make the parameters of {msg.name!r} agree with "
                    "the plate (when subsampling, index the data with the plate's indices), "
                    "use .to_event() for dims that are not batch dims, or give the plate "
                    "another dim=."
                )
            target[dim] = frame.size
            changed = True
    if changed:
        new_fn = fn.expand(torch.Size(target))
        if new_fn.has_rsample != fn.has_rsample:  # keep an instance-level override
            new_fn.has_rsample = fn.has_rsample
        msg.fn = new_fn


class BroadcastMessenger(Messenger):
    """Applies :func:`broadcast_to_plates` to every sample site (plates already do this;
    use it on its own with hand-made ``cond_indep_stack`` frames)."""

    def _pyro_sample(self, msg: Message) -> None:
        broadcast_to_plates(msg)
