"""Initialisation strategies for autoguides, and the handler that applies them.

An init strategy is a callable ``site -> value``: given a latent sample site (a message, or
any mapping with ``"name"`` and ``"fn"``), it returns a *constrained* initial value of shape
``site["fn"].shape()`` inside ``site["fn"].support``. Called with ``site=None`` (or no
argument) a strategy returns itself with its options bound, so both ``init_to_median`` and
``init_to_median(num_samples=50)`` can be passed as ``init_loc_fn``.

:class:`InitMessenger` runs a model with every latent site set to its init value; autoguides
use it when they trace the model once to build their parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch

from pyrolite.distributions import biject_to
from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message
from pyrolite.poutine.trace_struct import is_latent

__all__ = [
    "InitMessenger",
    "init_to_feasible",
    "init_to_mean",
    "init_to_median",
    "init_to_sample",
    "init_to_uniform",
    "init_to_value",
]

InitFn = Callable[[Any], torch.Tensor]


def _in_support(site: Any, value: torch.Tensor) -> bool:
    with torch.no_grad():
        return bool(torch.isfinite(value).all()) and bool(site["fn"].support.check(value).all())


def init_to_feasible(site: Any = None) -> torch.Tensor | InitFn:
    """The image of zero under ``biject_to(support)``: e.g. 0 for reals, 1 for positive
    reals, 0.5 on the unit interval, the centre of a simplex."""
    if site is None:
        return init_to_feasible
    transform = biject_to(site["fn"].support)
    unconstrained = transform.inv(site["fn"].sample().detach())
    return transform(torch.zeros_like(unconstrained))


def init_to_uniform(site: Any = None, radius: float = 2.0) -> torch.Tensor | InitFn:
    """Uniform on ``(-radius, radius)`` in the unconstrained space, mapped through
    ``biject_to(support)``."""
    if site is None:
        return functools.partial(init_to_uniform, radius=radius)
    transform = biject_to(site["fn"].support)
    unconstrained = transform.inv(site["fn"].sample().detach())
    uniform = torch.rand_like(unconstrained) * (2 * radius) - radius
    return transform(uniform)


def init_to_sample(site: Any = None) -> torch.Tensor | InitFn:
    """One draw from the site's (prior) distribution."""
    if site is None:
        return init_to_sample
    return site["fn"].sample().detach()


def init_to_median(
    site: Any = None, num_samples: int = 15, *, fallback: InitFn | None = init_to_feasible
) -> torch.Tensor | InitFn:
    """The elementwise median of ``num_samples`` draws from the site's distribution.

    Falls back to ``fallback`` (default :func:`init_to_feasible`) when the distribution cannot
    be sampled or the median leaves the support (e.g. a simplex).
    """
    if site is None:
        return functools.partial(init_to_median, num_samples=num_samples, fallback=fallback)
    try:
        samples = site["fn"].sample(torch.Size([num_samples])).detach()
        value = samples.median(dim=0).values
    except (NotImplementedError, RuntimeError):
        value = None
    if value is not None and _in_support(site, value):
        return value
    return _fall_back(site, fallback, "init_to_median")


def init_to_mean(
    site: Any = None, *, fallback: InitFn | None = init_to_median
) -> torch.Tensor | InitFn:
    """The mean of the site's distribution; ``fallback`` (default :func:`init_to_median`)
    when it has none, or when the mean is not finite or not in the support."""
    if site is None:
        return functools.partial(init_to_mean, fallback=fallback)
    fn = site["fn"]
    try:
        value = fn.mean.detach().expand(fn.shape())
    except (NotImplementedError, RuntimeError):
        value = None
    if value is not None and _in_support(site, value):
        return value
    return _fall_back(site, fallback, "init_to_mean")


def init_to_value(
    site: Any = None,
    values: Mapping[str, torch.Tensor] | None = None,
    *,
    fallback: InitFn | None = init_to_median,
) -> torch.Tensor | InitFn:
    """``values[site name]`` (a constrained value) for the sites named in ``values``;
    ``fallback`` for the others (default :func:`init_to_median`; Pyro's default is
    ``init_to_uniform``). With ``fallback=None`` a missing site is an error."""
    values = {} if values is None else values
    if site is None:
        return functools.partial(init_to_value, values=values, fallback=fallback)
    name = site["name"]
    if name in values:
        return torch.as_tensor(values[name])
    return _fall_back(site, fallback, "init_to_value")


def _fall_back(site: Any, fallback: InitFn | None, strategy: str) -> torch.Tensor:
    if fallback is None:
        raise ValueError(
            f"{strategy}: no init value for site {site['name']!r} and fallback=None; give it a "
            "value or pass a fallback strategy such as init_to_feasible"
        )
    return fallback(site)


class InitMessenger(Messenger):
    """Sets every latent sample site (not observed, not a plate's subsample, not already
    valued by an inner handler) to ``init_fn(site)``, computed without gradients. Sites with
    a discrete support are left to draw from their distribution.

    The value must have the site's shape ``fn.batch_shape + fn.event_shape`` (a value that
    broadcasts to it is expanded) and lie in ``fn.support``; otherwise a ``ValueError``
    names the site.
    """

    def __init__(self, init_fn: InitFn) -> None:
        self.init_fn = init_fn

    def _pyro_sample(self, msg: Message) -> None:
        if msg.value is not None or not is_latent(msg):
            return
        if msg.fn.support.is_discrete:
            return  # drawn as usual: continuous init strategies do not apply
        with torch.no_grad():
            value = self.init_fn(msg)
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"init strategy {self.init_fn!r} returned a {type(value).__name__} for site "
                f"{msg.name!r}; it must return a tensor"
            )
        expected = msg.fn.shape()
        if value.shape != expected:
            try:
                value = value.expand(expected)
            except RuntimeError:
                raise ValueError(
                    f"init value for site {msg.name!r} has shape {tuple(value.shape)}, but the "
                    f"site's batch_shape + event_shape is {tuple(expected)}"
                ) from None
        if not _in_support(msg, value):
            raise ValueError(
                f"init value for site {msg.name!r} is outside its support {msg.fn.support!r}; "
                "give a constrained value inside the support"
            )
        msg.value = value.detach()
        msg.done = True
