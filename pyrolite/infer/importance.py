"""``Importance``: importance sampling with a guide (or the prior) as the proposal."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from pyrolite import poutine
from pyrolite.poutine.trace_struct import Trace, is_observed


class Importance:
    """Draw ``num_samples`` proposals from ``guide`` (the model's prior when None), weight
    each by ``p(x, z) / q(z)``.

    After ``run(*args, **kwargs)``: ``log_weights`` (shape ``(num_samples,)``),
    ``get_log_normalizer()`` (the log evidence estimate ``log mean w``),
    ``get_ESS()`` (effective sample size ``(sum w)^2 / sum w^2``),
    ``get_samples(name)`` (the proposals' values of a site, stacked) and
    ``get_normalized_weights()``.
    """

    def __init__(self, model: Callable, guide: Callable | None = None, num_samples: int = 10):
        if num_samples < 1:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        self.model = model
        self.guide = guide
        self.num_samples = num_samples
        self.traces: list[Trace] = []
        self.log_weights = torch.empty(0)

    def run(self, *args: Any, **kwargs: Any) -> Importance:
        """Draw and weight the proposals; returns self."""
        traces, log_weights = [], []
        with torch.no_grad(), poutine.block():
            for _ in range(self.num_samples):
                if self.guide is None:
                    model_trace = poutine.trace(self.model).get_trace(*args, **kwargs)
                    log_w = model_trace.log_prob_sum(lambda n, s: is_observed(s))
                else:
                    guide_trace = poutine.trace(self.guide).get_trace(*args, **kwargs)
                    model_trace = poutine.trace(
                        poutine.replay(self.model, trace=guide_trace)
                    ).get_trace(*args, **kwargs)
                    log_w = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
                traces.append(model_trace)
                log_weights.append(torch.as_tensor(log_w, dtype=torch.get_default_dtype()))
        self.traces = traces
        self.log_weights = torch.stack(log_weights)
        return self

    def _check_run(self) -> None:
        if not self.traces:
            raise RuntimeError("call run(*args) before asking for the results")

    def get_log_normalizer(self) -> torch.Tensor:
        """``log (1/N) sum_i w_i``: an estimate of the log evidence log p(x) (scalar)."""
        self._check_run()
        return torch.logsumexp(self.log_weights, 0) - math.log(self.num_samples)

    def get_normalized_weights(self) -> torch.Tensor:
        """Self-normalised weights, shape ``(num_samples,)``, summing to 1."""
        self._check_run()
        return torch.softmax(self.log_weights, 0)

    def get_ESS(self) -> torch.Tensor:  # noqa: N802 - Pyro's name
        """Effective sample size ``1 / sum(normalised w^2)`` (between 1 and num_samples)."""
        return 1.0 / self.get_normalized_weights().pow(2).sum()

    def get_samples(self, name: str) -> torch.Tensor:
        """The proposals' values at site ``name``, shape ``(num_samples,) + site shape``."""
        self._check_run()
        return torch.stack([tr.nodes[name].value for tr in self.traces])
