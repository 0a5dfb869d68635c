"""``Predictive``: draws from the posterior predictive distribution of a model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from pyrolite import poutine
from pyrolite.infer.util import in_plate
from pyrolite.poutine.trace_struct import Trace, is_subsample

SAMPLE_PLATE = "_num_predictive_samples"


class Predictive:
    """Run ``model`` with its latents drawn from a guide or set to posterior samples.

    ``Predictive(model, posterior_samples={name: tensor (num_samples, ...)})`` or
    ``Predictive(model, guide=guide, num_samples=n)``. Calling it with the model's arguments
    returns a dict from site name to a tensor of shape ``(num_samples, ...)``: by default
    every sample site that was not given in ``posterior_samples`` (observed sites are
    redrawn when the model is called without their data), or the sites in
    ``return_sites`` (``"_RETURN"`` gives the model's return value). ``parallel=True`` runs
    all samples in one pass as an outer plate (the model must broadcast over it).
    """

    def __init__(
        self,
        model: Callable,
        posterior_samples: dict[str, torch.Tensor] | None = None,
        guide: Callable | None = None,
        num_samples: int | None = None,
        return_sites: Sequence[str] = (),
        parallel: bool = False,
    ) -> None:
        if posterior_samples is None and guide is None and num_samples is None:
            raise ValueError("Predictive needs posterior_samples=, guide= or num_samples=")
        if posterior_samples:
            sizes = {name: v.shape[0] for name, v in posterior_samples.items()}
            leading = set(sizes.values())
            if len(leading) != 1:
                raise ValueError(
                    f"posterior_samples must share their leading (sample) dim; got {sizes}"
                )
            n = leading.pop()
            if num_samples is not None and num_samples != n:
                raise ValueError(
                    f"num_samples={num_samples} disagrees with posterior_samples' leading dim {n}"
                )
            num_samples = n
        self.model = model
        self.guide = guide
        self.posterior_samples = posterior_samples or {}
        self.num_samples = 1 if num_samples is None else num_samples
        self.return_sites = tuple(return_sites)
        self.parallel = parallel

    def _wanted(self, trace: Trace) -> list[str]:
        if self.return_sites:
            missing = [n for n in self.return_sites if n not in trace.nodes]
            if missing:
                raise KeyError(f"return_sites {missing} are not sites of the model")
            return list(self.return_sites)
        return [
            n
            for n, s in trace.nodes.items()
            if s.type == "sample" and not is_subsample(s) and n not in self.posterior_samples
        ]

    def _run(self, values: dict, args: tuple, kwargs: dict, dim: int | None = None) -> Trace:
        """One traced run with ``values`` observed; under a sample plate at ``dim`` if given."""
        model = poutine.condition(self.model, data=values) if values else self.model
        guide = self.guide
        if dim is not None:
            model = in_plate(model, SAMPLE_PLATE, self.num_samples, dim)
            guide = guide and in_plate(guide, SAMPLE_PLATE, self.num_samples, dim)
        if guide is not None:
            guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
            model = poutine.replay(model, trace=guide_trace)
        return poutine.trace(model).get_trace(*args, **kwargs)

    def _one(self, index: int, args: tuple, kwargs: dict) -> Trace:
        values = {name: v[index] for name, v in self.posterior_samples.items()}
        return self._run(values, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        with poutine.block():
            if self.parallel:
                return self._parallel(args, kwargs)
            traces = [self._one(i, args, kwargs) for i in range(self.num_samples)]
        names = self._wanted(traces[0])
        return {n: torch.stack([_value(tr, n) for tr in traces]) for n in names}

    def _parallel(self, args: tuple, kwargs: dict) -> dict[str, torch.Tensor]:
        # One unvectorised run gives each site's per-sample shape and the plate nesting.
        probe = self._one(0, args, kwargs)
        nesting = probe.plate_nesting()
        dim = -nesting - 1
        values = {}
        for name, v in self.posterior_samples.items():
            site = probe.nodes.get(name)
            shape = tuple(site.value.shape) if site is not None else tuple(v.shape[1:])
            event_ndims = len(getattr(site.fn, "event_shape", ())) if site is not None else 0
            pad = nesting - (len(shape) - event_ndims)
            values[name] = v.reshape((self.num_samples,) + (1,) * pad + shape)

        trace = self._run(values, args, kwargs, dim)
        result = {}
        for name in self._wanted(trace):
            if name == "_RETURN":
                result[name] = _value(trace, name)
                continue
            shape = tuple(probe.nodes[name].value.shape)
            value = _value(trace, name)
            if value.shape == torch.Size(shape):  # observed data: the same in every sample
                value = value.expand((self.num_samples,) + shape)
            result[name] = value.reshape((self.num_samples,) + shape)
        return result


def _value(trace: Trace, name: str) -> torch.Tensor:
    value = trace.nodes[name].value
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
