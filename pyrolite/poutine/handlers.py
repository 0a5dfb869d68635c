"""The functional forms of the handlers: ``poutine.trace(fn, ...)`` and friends.

Each takes an optional program ``fn`` and the handler's arguments. With ``fn`` it returns
``fn`` wrapped in the handler; without, it returns the handler, which works as a context
manager (``with poutine.scale(scale=2.0): ...``) and as a decorator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from pyrolite.poutine.block_messenger import BlockMessenger
from pyrolite.poutine.broadcast_messenger import BroadcastMessenger
from pyrolite.poutine.condition_messenger import ConditionMessenger
from pyrolite.poutine.do_messenger import DoMessenger
from pyrolite.poutine.escape_messenger import EscapeMessenger
from pyrolite.poutine.infer_config_messenger import InferConfigMessenger
from pyrolite.poutine.lift_messenger import LiftMessenger
from pyrolite.poutine.mask_messenger import MaskMessenger
from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.replay_messenger import ReplayMessenger
from pyrolite.poutine.scale_messenger import ScaleMessenger
from pyrolite.poutine.seed_messenger import SeedMessenger
from pyrolite.poutine.substitute_messenger import SubstituteMessenger
from pyrolite.poutine.trace_messenger import TraceMessenger
from pyrolite.poutine.trace_struct import Trace
from pyrolite.poutine.uncondition_messenger import UnconditionMessenger


def _wrap(msngr: Messenger, fn: Callable | None) -> Any:
    return msngr if fn is None else msngr(fn)


def trace(fn=None, graph_type: str | None = None, param_only: bool | None = None):
    """Record the sites of ``fn``; ``trace(fn).get_trace(*args)`` returns the Trace."""
    return _wrap(TraceMessenger(graph_type=graph_type, param_only=param_only), fn)


def replay(fn=None, trace: Trace | None = None, params: dict | None = None):
    """Reuse ``trace``'s values at latent sites (and ``params``' values at param sites)."""
    return _wrap(ReplayMessenger(trace=trace, params=params), fn)


def condition(fn=None, data: dict | Trace | None = None):
    """Observe the sample sites named in ``data`` at the given values."""
    if data is None:
        raise ValueError("condition needs data=, a dict from site name to observed value")
    return _wrap(ConditionMessenger(data=data), fn)


def substitute(fn=None, data: dict | None = None, substitute_fn: Callable | None = None):
    """Give the sample and param sites named in ``data`` fixed values, unobserved."""
    return _wrap(SubstituteMessenger(data=data, substitute_fn=substitute_fn), fn)


def uncondition(fn=None):
    """Sample the observed sites instead of observing them."""
    return _wrap(UnconditionMessenger(), fn)


def block(
    fn=None,
    hide_fn: Callable | None = None,
    expose_fn: Callable | None = None,
    hide_all: bool = True,
    expose_all: bool = False,
    hide: Iterable[str] | None = None,
    expose: Iterable[str] | None = None,
    hide_types: Iterable[str] | None = None,
    expose_types: Iterable[str] | None = None,
):
    """Hide the selected sites from the handlers outside (default: hide all)."""
    msngr = BlockMessenger(
        hide_fn=hide_fn,
        expose_fn=expose_fn,
        hide_all=hide_all,
        expose_all=expose_all,
        hide=hide,
        expose=expose,
        hide_types=hide_types,
        expose_types=expose_types,
    )
    return _wrap(msngr, fn)


def do(fn=None, data: dict | None = None):
    """Intervene: the sites named in ``data`` take those values downstream."""
    if data is None:
        raise ValueError("do needs data=, a dict from site name to intervened value")
    return _wrap(DoMessenger(data=data), fn)


def scale(fn=None, scale: float | torch.Tensor = 1.0):
    """Multiply the log densities of the sample sites by ``scale``."""
    return _wrap(ScaleMessenger(scale=scale), fn)


def mask(fn=None, mask: bool | torch.Tensor = True):
    """Zero the log densities of the sample sites where ``mask`` is False."""
    return _wrap(MaskMessenger(mask=mask), fn)


def seed(fn=None, rng_seed: int | None = None):
    """Run with the random generators seeded by ``rng_seed``, restoring them afterwards."""
    if rng_seed is None:
        raise ValueError("seed needs rng_seed=, an int")
    return _wrap(SeedMessenger(rng_seed=rng_seed), fn)


def lift(fn=None, prior: Any = None):
    """Turn param sites into latent sample sites drawn from ``prior``."""
    if prior is None:
        raise ValueError("lift needs prior=, a distribution or a dict name -> distribution")
    return _wrap(LiftMessenger(prior=prior), fn)


def escape(fn=None, escape_fn: Callable | None = None):
    """Leave the program (raise NonlocalExit) at the first sample site ``escape_fn`` picks."""
    if escape_fn is None:
        raise ValueError("escape needs escape_fn=, a predicate on messages")
    return _wrap(EscapeMessenger(escape_fn=escape_fn), fn)


def broadcast(fn=None):
    """Expand sample sites' distributions to the sizes of their plates."""
    return _wrap(BroadcastMessenger(), fn)


def infer_config(fn=None, config_fn: Callable | None = None):
    """Add ``config_fn(msg)`` to the ``infer`` dict of sample and param sites."""
    if config_fn is None:
        raise ValueError("infer_config needs config_fn=, a function msg -> dict")
    return _wrap(InferConfigMessenger(config_fn=config_fn), fn)
