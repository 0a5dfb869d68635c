"""``TransformModule`` and ``ComposeTransformModule``: transforms that hold parameters.

A flow with learnable parameters is both a ``torch.distributions.Transform`` (so
``TransformedDistribution`` can use it) and an ``nn.Module`` (so ``pyro.module`` registers
its parameters, ``.to(device)`` moves them and ``state_dict`` saves them).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torch.distributions.transforms import ComposeTransform, Transform

__all__ = ["ComposeTransformModule", "TransformModule"]


class TransformModule(Transform, nn.Module):
    """Base class of transforms with parameters or buffers.

    Subclasses call ``super().__init__(cache_size=...)`` and then create their parameters;
    they keep cached values in attributes named ``_cached_*`` (pairs), which copies and
    pickles leave out. Equality is identity (two flows are equal only when they are the
    same object).
    """

    def __init__(self, cache_size: int = 0) -> None:
        # Transform.__init__ sets its fields, then calls nn.Module.__init__ via super()
        super().__init__(cache_size=cache_size)

    __hash__ = object.__hash__

    def __getstate__(self) -> dict:
        # cached tensors belong to a computation graph: deepcopy and pickle cannot take them
        state = super().__getstate__()
        for key in state:
            if key.startswith("_cached"):
                state[key] = (None, None)
        return state

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)


class ComposeTransformModule(ComposeTransform, nn.ModuleList):
    """``parts[-1](... parts[0](x))`` as one transform that is also an ``nn.ModuleList``.

    The parts that are ``nn.Module``s are registered as submodules, so ``pyro.module``
    sees every parameter of the chain. ``log_abs_det_jacobian`` sums the parts' terms.
    """

    def __init__(self, parts: Sequence[Transform], cache_size: int = 0) -> None:
        super().__init__(list(parts), cache_size=cache_size)
        for part in self.parts:
            if isinstance(part, nn.Module):
                self.append(part)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)
