"""A compiled ``loss_and_grads``: the ELBO's loss and graph through ``torch.compile``.

The first call runs eagerly: it creates the params and validates the model. Later calls run
the ELBO's ``loss_and_surrogate`` compiled, with distribution validation off inside (its
data-dependent checks would break the graph). Programs whose structure changes recompile;
if compilation fails, a warning says so and the eager path takes over for good.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from pyrolite.distributions.validation import enable_validation, is_validation_enabled
from pyrolite.infer.elbo import ELBO, backward_checked


class CompiledLoss:
    """``loss_and_grads(model, guide, *args, **kwargs) -> float`` for ``elbo``, compiled.

    ``options`` go to ``torch.compile``; ``{"options": {"fallback_random": True}}`` makes
    the compiled step draw the same random numbers as the eager one.
    """

    def __init__(self, elbo: ELBO, options: dict | None = None) -> None:
        self.elbo = elbo
        self.options = options or {}
        self.compiled: Callable | None = None
        self.failed = False

    def __call__(self, model: Callable, guide: Callable, *args: Any, **kwargs: Any) -> float:
        if self.failed:
            return ELBO.loss_and_grads(self.elbo, model, guide, *args, **kwargs)
        if self.compiled is None:
            # torch's compiler switches distribution validation off process-wide when it
            # first sets itself up; keep the user's setting
            validating = is_validation_enabled()
            self.compiled = torch.compile(self.elbo.loss_and_surrogate, **self.options)
            enable_validation(validating)
            return ELBO.loss_and_grads(self.elbo, model, guide, *args, **kwargs)
        try:
            with _validation_off(), warnings.catch_warnings():
                # dynamo reads .grad of every tensor it wraps, and torch warns when that
                # tensor is not a leaf (a constrained param): noise, not a problem of the
                # user's program (and an error where warnings are errors)
                warnings.filterwarnings("ignore", message="The .grad attribute of a Tensor")
                loss, surrogate = self.compiled(model, guide, *args, **kwargs)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
            warnings.warn(
                f"torch.compile failed ({type(err).__name__}: {err}); continuing with the "
                "eager step",
                stacklevel=3,
            )
            self.failed = True
            return ELBO.loss_and_grads(self.elbo, model, guide, *args, **kwargs)
        value = float(loss)
        if not math.isfinite(value):
            # the compiled graph hands back no traces: rerun the step eagerly, which raises
            # the error naming the sites (of a fresh draw)
            return ELBO.loss_and_grads(self.elbo, model, guide, *args, **kwargs)
        return backward_checked(loss, surrogate, self.elbo.retain_graph, [])


@contextmanager
def _validation_off() -> Iterator[None]:
    old = is_validation_enabled()
    enable_validation(False)
    try:
        yield
    finally:
        enable_validation(old)
