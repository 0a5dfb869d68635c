"""Autoguides whose distribution over the latent vector is a normalizing flow.

``AutoNormalizingFlow`` pushes a standard Normal over the unconstrained latent vector
(size ``latent_dim``, see :class:`AutoContinuous`) through a transform built by
``init_transform_fn(latent_dim)``; ``AutoIAFNormal`` is the same with a chain of
:class:`~pyrolite.distributions.transforms.AffineAutoregressive` (inverse autoregressive)
transforms. The transform's parameters are registered with ``pyro.module`` under the name
``"{prefix}.transform"`` on every call, so any optimiser run by ``SVI`` trains them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.distributions.transforms import ComposeTransform, Transform

import pyrolite.distributions as dist
from pyrolite.distributions.transforms import ComposeTransformModule, affine_autoregressive
from pyrolite.infer.autoguide.auto_continuous import AutoContinuous
from pyrolite.infer.autoguide.initialization import init_to_median
from pyrolite.primitives import module

__all__ = ["AutoIAFNormal", "AutoNormalizingFlow"]


class AutoNormalizingFlow(AutoContinuous):
    """``q = TransformedDistribution(Normal(0, I), transform)`` over the latent vector.

    ``init_transform_fn(latent_dim)`` returns the transform (event dim 1): one transform,
    a list of them (chained in order) or a ``ComposeTransform``. It is called once, when the
    guide first runs the model; transforms with parameters must be ``nn.Module``s (e.g. the
    flows of :mod:`pyrolite.distributions.transforms`). ``median`` and ``quantiles`` are not
    available (a flow has no closed-form marginals): draw samples with ``Predictive``.

    Example::

        from pyrolite.distributions.transforms import planar
        guide = AutoNormalizingFlow(model, lambda d: [planar(d) for _ in range(4)])
    """

    def __init__(
        self,
        model: Callable,
        init_transform_fn: Callable[[int], Transform | Sequence[Transform]],
        **kwargs: Any,
    ) -> None:
        if not callable(init_transform_fn):
            raise TypeError(
                f"{type(self).__name__}: init_transform_fn must be callable (latent_dim -> "
                f"transform), got {init_transform_fn!r}"
            )
        super().__init__(model, **kwargs)
        self._init_transform_fn = init_transform_fn
        self.transform: Transform | None = None

    def _setup_posterior(self) -> None:
        transform = self._init_transform_fn(self.latent_dim)
        if isinstance(transform, ComposeTransform) and not isinstance(transform, nn.Module):
            transform = transform.parts
        if isinstance(transform, (list, tuple)):
            transform = ComposeTransformModule(transform)
        if not isinstance(transform, Transform) or transform.domain.event_dim != 1:
            raise ValueError(
                f"{type(self).__name__}: init_transform_fn({self.latent_dim}) must return a "
                f"transform (or a list of them) on vectors (event_dim 1), got {transform!r}"
            )
        loc = self._init_loc
        if isinstance(transform, nn.Module):
            transform = transform.to(device=loc.device, dtype=loc.dtype)
        self.transform = transform
        self._base = dist.Normal(torch.zeros_like(loc), torch.ones_like(loc)).to_event(1)

    def get_posterior(self) -> torch.distributions.Distribution:
        if isinstance(self.transform, nn.Module):
            module(self._param_name("transform"), self.transform)
        return dist.TransformedDistribution(self._base, [self.transform])

    def _loc_scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form median or quantiles; estimate them from "
            "samples, e.g. Predictive(model, guide=guide, num_samples=1000)"
        )


class AutoIAFNormal(AutoNormalizingFlow):
    """A standard Normal pushed through ``num_transforms`` inverse autoregressive flows.

    Each is ``affine_autoregressive(latent_dim, hidden_dims, **init_transform_kwargs)`` with
    its own random variable order; ``hidden_dim`` (an int or a list) gives the hidden layer
    sizes, default ``[3 * latent_dim + 1]``. As in Pyro, ``init_loc_fn`` only sets the
    values the model is first traced with; the flow starts from its own random init.
    """

    def __init__(
        self,
        model: Callable,
        hidden_dim: int | Sequence[int] | None = None,
        init_loc_fn: Callable | None = None,
        num_transforms: int = 1,
        **init_transform_kwargs: Any,
    ) -> None:
        if not isinstance(num_transforms, int) or num_transforms < 1:
            raise ValueError(f"AutoIAFNormal: num_transforms must be >= 1, got {num_transforms}")
        hidden_dims = [hidden_dim] if isinstance(hidden_dim, int) else hidden_dim
        prefix = init_transform_kwargs.pop("prefix", None)
        create_plates = init_transform_kwargs.pop("create_plates", None)
        one = partial(affine_autoregressive, hidden_dims=hidden_dims, **init_transform_kwargs)
        super().__init__(
            model,
            lambda latent_dim: [one(latent_dim) for _ in range(num_transforms)],
            init_loc_fn=init_to_median if init_loc_fn is None else init_loc_fn,
            prefix=prefix,
            create_plates=create_plates,
        )
