"""``DistributedFlow``: a sequence of flow stages placed block by block on several devices.

Placement. ``n`` stages on ``k`` devices go in contiguous blocks in order: each device gets
``n // k`` stages and the first ``n % k`` devices one more (8 stages on 3 devices: 3, 3, 2).
With more devices than stages, the first ``n`` devices hold one stage each and the rest are
unused. Each stage that is an ``nn.Module`` is moved to its device (parameters and buffers;
a tensor a stage keeps in a plain attribute is not moved, so keep them as parameters or
buffers).

Running. The input is moved to the first stage's device, each stage's output to the next
stage's device, and the result back to the device the input came from (the "home" device),
so a ``DistributedFlow`` drops into ``TransformedDistribution`` with a base distribution on
any one device. The log-determinant of each stage is computed on its stage's device and
summed on the output's device. ``.to()`` is differentiable, so gradients flow back across
devices to every stage's parameters.

``log_abs_det_jacobian(x, y)``: the per-stage intermediates of a forward or inverse call are
recorded with its result, through :class:`TransformModule`'s cache (kept with the output
tensor and freed with it, so no graph outlives a step), and reused when ``x`` and ``y`` are
such a pair, as ``TransformedDistribution.rsample``/``log_prob`` use them; otherwise the
stages run forward again from ``x``. For the same reason ``flow.inv(y)`` of a ``y`` the flow
made returns its ``x`` with no inverse pass: stages without a cheap inverse (an IAF's) work
for a sample drawn and then scored, as in a guide.

Differences from a ``ComposeTransform``: the parts are registered as submodules (so
``pyro.module("flow", flow)`` and ``flow.parameters()`` see every stage's parameters) and
the cache above is always on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import constraints
from torch.distributions.transforms import ComposeTransform, Transform

from pyrolite.distributions.reductions import sum_rightmost
from pyrolite.distributions.transforms.transform_module import TransformModule
from pyrolite.parallel.devices import DeviceLike, resolve_device

__all__ = ["DistributedFlow", "place_stages"]


def place_stages(num_stages: int, num_devices: int) -> list[int]:
    """The device index of each stage: contiguous blocks, the first ``n % k`` one longer.

    ``place_stages(8, 4) == [0, 0, 1, 1, 2, 2, 3, 3]``; ``place_stages(5, 3) == [0, 0, 1, 1, 2]``.
    """
    used = min(num_stages, num_devices)
    size, extra = divmod(num_stages, used)
    placement = []
    for device in range(used):
        placement += [device] * (size + (device < extra))
    return placement


class _StatelessStage(nn.Module):
    """Holds a parameter-free transform in the ``stages`` ModuleList, keeping indices aligned."""

    def __init__(self, transform: Transform) -> None:
        super().__init__()
        self.transform = transform

    def extra_repr(self) -> str:
        return repr(self.transform)


def _without(pairs: list[tuple], result: torch.Tensor) -> list[tuple]:
    """``pairs`` with ``result`` left out (None): the record is kept with ``result`` and must
    not hold it, or ``result`` would never be freed."""
    return [tuple(None if t is result else t for t in pair) for pair in pairs]


class DistributedFlow(TransformModule):
    """A flow whose stages live on different devices (see the module docstring).

    Args:
        stages: the flow's transforms in order (``x -> stages[-1](...stages[0](x))``); those
            holding parameters must be ``nn.Module``s.
        devices: ``"cpu"``, ``"cuda:i"``, ``"xla:i"`` or ``torch.device``s, one per block.

    Shapes are those of the stages: ``x`` of shape ``batch_shape + event_shape`` gives ``y`` of
    shape ``forward_shape(x.shape)`` on ``x``'s device and a log-determinant of shape
    ``batch_shape`` (over ``domain.event_dim`` event dims) on the same device.

    Example::

        flow = DistributedFlow([affine_autoregressive(50) for _ in range(8)],
                               ["xla:0", "xla:1", "xla:2", "xla:3"])
        flow.stage_devices  # [xla:0, xla:0, xla:1, xla:1, ..., xla:3]
        prior = dist.TransformedDistribution(dist.Normal(zeros, ones).to_event(1), [flow])
    """

    def __init__(self, stages: Sequence[Transform], devices: Sequence[DeviceLike]) -> None:
        super().__init__(cache_size=1)
        stages = list(stages)
        devices = [devices] if isinstance(devices, str | torch.device) else list(devices)
        if not stages:
            raise ValueError("DistributedFlow needs at least one stage, got an empty list")
        if not devices:
            raise ValueError("DistributedFlow needs at least one device, e.g. ['cpu']")
        for i, stage in enumerate(stages):
            if not isinstance(stage, Transform):
                raise TypeError(
                    f"stage {i} is a {type(stage).__name__}, not a torch.distributions.Transform"
                )
        resolved = [resolve_device(d) for d in devices]
        self.stage_devices: list[torch.device] = [
            resolved[i] for i in place_stages(len(stages), len(resolved))
        ]
        self.stages = nn.ModuleList(
            s if isinstance(s, nn.Module) else _StatelessStage(s) for s in stages
        )
        for module, device in zip(self.stages, self.stage_devices, strict=True):
            module.to(device)
        self._placed = list(zip(stages, self.stage_devices, strict=True))
        self._compose = ComposeTransform(stages)
        # event dims each stage's log-determinant is summed over to reach the flow's
        event_dim = self._compose.domain.event_dim
        self._ladj_dims: list[int] = []
        for part in stages:
            self._ladj_dims.append(event_dim - part.domain.event_dim)
            event_dim += part.codomain.event_dim - part.domain.event_dim

    # -- what a Transform declares ----------------------------------------------------------

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:
        return self._compose.domain

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:
        return self._compose.codomain

    @property
    def bijective(self) -> bool:
        return self._compose.bijective

    @property
    def sign(self) -> int:
        return self._compose.sign

    def forward_shape(self, shape: torch.Size) -> torch.Size:
        return self._compose.forward_shape(shape)

    def inverse_shape(self, shape: torch.Size) -> torch.Size:
        return self._compose.inverse_shape(shape)

    # -- running ----------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``y = flow(x)``, as ``__call__``."""
        return self(x)

    def _run_forward(self, x: torch.Tensor) -> list[tuple]:
        """``(input, output)`` of each stage on its device, running the stages from ``x``."""
        pairs = []
        for part, device in self._placed:
            x_stage = x.to(device)
            x = part(x_stage)
            pairs.append((x_stage, x))
        return pairs

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        pairs = self._run_forward(x)
        y = pairs[-1][1].to(x.device)
        self._stash(_without(pairs, y))
        return y

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        home = y.device
        pairs = []
        for part, device in reversed(self._placed):
            y_stage = y.to(device)
            y = part.inv(y_stage)
            pairs.append((y, y_stage))
        pairs.reverse()
        x = y.to(home)
        self._stash(_without(pairs, x))
        return x

    def _pairs_for(self, x: torch.Tensor, y: torch.Tensor) -> list[tuple]:
        """``(input, output)`` of each stage on its device, for ``y = flow(x)``."""
        stashed = self._stashed(x, y)
        if stashed is not None:
            pairs = list(stashed)
            if pairs[0][0] is None:
                pairs[0] = (x.to(self.stage_devices[0]), pairs[0][1])
            if pairs[-1][1] is None:
                pairs[-1] = (pairs[-1][0], y.to(self.stage_devices[-1]))
            return pairs
        return self._run_forward(x)  # not a pair this flow made: run the stages again

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``log |det dy/dx|`` summed over the flow's domain event dims, on ``y``'s device."""
        out = y.device
        total = None
        pairs = self._pairs_for(x, y)
        for (part, _), dims, (x_i, y_i) in zip(self._placed, self._ladj_dims, pairs, strict=True):
            term = sum_rightmost(part.log_abs_det_jacobian(x_i, y_i), dims).to(out)
            total = term if total is None else total + term
        return total

    def __repr__(self) -> str:
        lines = [f"  ({i}) {d}: {p!r}" for i, (p, d) in enumerate(self._placed)]
        return "DistributedFlow(\n" + "\n".join(lines) + "\n)"
