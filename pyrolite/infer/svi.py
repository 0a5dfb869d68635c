"""``SVI``: stochastic variational inference, one optimiser step per call."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from pyrolite.distributions.validation import is_validation_enabled
from pyrolite.infer.compiled_loss import CompiledLoss
from pyrolite.infer.elbo import ELBO
from pyrolite.infer.grad_check import check_finite_grads
from pyrolite.infer.svi_checkpoint import load_checkpoint, save_checkpoint
from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import Message


class _ParamCollector(Messenger):
    """Collects the unconstrained leaves of every param a step reads, by name."""

    def __init__(self) -> None:
        self.params: dict[str, torch.Tensor] = {}

    def _pyro_post_param(self, msg: Message) -> None:
        unconstrained = getattr(msg.value, "unconstrained", None)
        if unconstrained is not None:
            self.params[msg.name] = unconstrained()


class SVI:
    """Stochastic variational inference.

    ``SVI(model, guide, optim, loss)``: ``loss`` is an :class:`ELBO` (e.g. ``Trace_ELBO()``)
    or any callable ``loss(model, guide, *args, **kwargs) -> tensor`` (a custom objective
    written with ``trace``/``replay``). ``step(*args, **kwargs)`` evaluates the loss on the
    arguments, takes one optimiser step on every param the model and guide read, and
    returns the loss as a float; ``evaluate_loss`` only evaluates it. A NaN/inf loss raises
    an error naming the sites; while validation is on (``pyro.enable_validation``, the
    default) ``step`` also checks every gradient before the optimiser steps and names the
    params and sites of a non-finite one (Pyro checks only the loss). The check costs one
    fused pass over the gradients and one host sync per step; switching validation off skips it.

    ``num_samples``/``num_steps`` (Pyro's deprecated ``TracePosterior`` interface) must stay
    0. ``compile=True`` (ELBO losses only) runs the loss and its graph through
    ``torch.compile`` from the second step on: the first step runs eagerly, creating the
    params and validating the model (validation is off inside the compiled function, since
    its checks would break the graph). Compilation takes tens of seconds once, then each
    step is cheaper. Programs whose structure changes between steps recompile; if
    compilation fails, SVI warns and continues eagerly. ``compile_options`` go to
    ``torch.compile`` (``{"options": {"fallback_random": True}}`` makes the compiled step
    draw the same random numbers as the eager one).
    """

    def __init__(
        self,
        model: Callable,
        guide: Callable,
        optim: Callable,
        loss: ELBO | Callable,
        loss_and_grads: Callable | None = None,
        num_samples: int = 0,
        num_steps: int = 0,
        compile: bool = False,
        compile_options: dict | None = None,
    ) -> None:
        if num_samples or num_steps:
            raise NotImplementedError(
                "SVI(num_samples=, num_steps=) is Pyro's deprecated TracePosterior interface; "
                "call svi.step() in a loop and draw from the fitted guide with Predictive"
            )
        if not callable(optim):
            raise TypeError(
                f"optim must be a pyrolite optimiser such as pyro.optim.Adam({{'lr': 1e-3}}), "
                f"got {type(optim).__name__}"
            )
        if isinstance(optim, torch.optim.Optimizer):
            raise TypeError(
                "SVI takes a pyrolite optimiser (pyro.optim.Adam({'lr': ...})), not a torch "
                "optimiser: params appear lazily as the model and guide first run"
            )
        self.model = model
        self.guide = guide
        self.optim = optim
        if compile and not isinstance(loss, ELBO):
            raise TypeError("compile=True needs an ELBO loss such as Trace_ELBO()")
        if isinstance(loss, ELBO):
            self.loss = loss.loss
            self.loss_and_grads = (
                CompiledLoss(loss, compile_options) if compile else loss.loss_and_grads
            )
        elif callable(loss):
            self.loss = _as_float_loss(loss)
            self.loss_and_grads = loss_and_grads or _backward_loss(loss)
        else:
            raise TypeError(f"loss must be an ELBO or a callable, got {type(loss).__name__}")

    def step(self, *args: Any, **kwargs: Any) -> float:
        """One gradient step on the params; returns the loss before the step.

        With validation enabled (the default), a NaN or infinite gradient raises a
        ``ValueError`` naming the params and sites involved, before the optimiser steps.
        Whatever ends the step (an error, a ``KeyboardInterrupt``), the gradients it set are
        cleared, so none of them leaks into the next step.
        """
        loss, params = self._loss_and_grads(args, kwargs)
        try:
            self.optim(params.values())
        finally:
            _clear_grads(params.values())
        return loss

    def _loss_and_grads(self, args: tuple, kwargs: dict) -> tuple[float, dict[str, torch.Tensor]]:
        """The loss, with gradients set on the leaves of the params the step used and checked
        by :meth:`_check_grads`; if anything raises, the gradients set so far are cleared."""
        collector = _ParamCollector()
        try:
            with collector:
                loss = float(self.loss_and_grads(self.model, self.guide, *args, **kwargs))
            self._check_grads(collector.params, args, kwargs, loss)
        except BaseException:
            _clear_grads(collector.params.values())
            raise
        return loss, collector.params

    def _check_grads(
        self, params: dict[str, torch.Tensor], args: tuple, kwargs: dict, loss: float
    ) -> None:
        """With validation enabled, raise naming the params and sites of a non-finite grad."""
        if is_validation_enabled():
            check_finite_grads(params, self.model, self.guide, args, kwargs, loss=loss)

    def save_checkpoint(self, path: str, extra: dict | None = None) -> None:
        """Save params, optimiser and RNG state atomically (see ``svi_checkpoint``)."""
        save_checkpoint(path, self.optim, extra)

    def load_checkpoint(self, path: str, map_location: Any = None) -> dict:
        """Restore a :meth:`save_checkpoint` file; the run then continues bit for bit.
        Returns the ``extra`` dict saved with it."""
        return load_checkpoint(path, self.optim, map_location)

    def evaluate_loss(self, *args: Any, **kwargs: Any) -> float:
        """The loss on the arguments, with no gradient and no parameter change."""
        with torch.no_grad():
            return float(self.loss(self.model, self.guide, *args, **kwargs))


def _clear_grads(leaves: Iterable[torch.Tensor]) -> None:
    for p in leaves:
        p.grad = None


def _as_float_loss(loss_fn: Callable) -> Callable:
    def loss(model: Callable, guide: Callable, *args: Any, **kwargs: Any) -> float:
        return float(loss_fn(model, guide, *args, **kwargs))

    return loss


def _backward_loss(loss_fn: Callable) -> Callable:
    def loss_and_grads(model: Callable, guide: Callable, *args: Any, **kwargs: Any) -> float:
        value = loss_fn(model, guide, *args, **kwargs)
        if isinstance(value, torch.Tensor) and value.requires_grad:
            value.backward()
        return value.item() if isinstance(value, torch.Tensor) else float(value)

    return loss_and_grads
