"""Small flow stages for the placement tests: transforms that hold parameters."""

from __future__ import annotations

import weakref

import torch
from torch import nn
from torch.distributions import Transform, constraints

from pyrolite.parallel import available_devices


class AffineStage(Transform, nn.Module):
    """y = x * exp(log_scale) + loc over the last dim (event_dim 1); log|det| = sum(log_scale)."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    sign = 1

    def __init__(self, dim: int, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.loc = nn.Parameter(0.3 * torch.randn(dim, generator=g))
        self.log_scale = nn.Parameter(0.2 * torch.randn(dim, generator=g))

    __hash__ = nn.Module.__hash__

    def _call(self, x):
        return x * self.log_scale.exp() + self.loc

    def _inverse(self, y):
        return (y - self.loc) * (-self.log_scale).exp()

    def log_abs_det_jacobian(self, x, y):
        return self.log_scale.expand(x.shape).sum(-1)


class ForwardOnlyStage(AffineStage):
    """An affine stage whose inverse is unavailable (like an IAF's expensive one)."""

    def _inverse(self, y):
        raise NotImplementedError("no inverse")


def affine_stages(n: int, dim: int) -> list[AffineStage]:
    return [AffineStage(dim, seed) for seed in range(n)]


def placement_devices() -> list[str]:
    """The XLA or CUDA devices this process sees, else "cpu" four times."""
    devices = [str(d) for d in available_devices()]
    return devices if devices != ["cpu"] else ["cpu"] * 4


class TrackedStage(AffineStage):
    """An affine stage that keeps weak references to every output it makes."""

    def __init__(self, dim: int, seed: int) -> None:
        super().__init__(dim, seed)
        self.outputs: list = []

    def _call(self, x):
        y = super()._call(x)
        self.outputs.append(weakref.ref(y))
        return y
