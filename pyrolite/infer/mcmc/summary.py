"""The printed summary of an MCMC run, and conversion of its draws to ArviZ.

The table has Pyro's and NumPyro's layout: one row per scalar (``site[i,j]`` for array
sites) with mean, std, median, the HPDI bounds, bulk ESS and split R-hat, then the number of
post-warmup divergences. Unlike Pyro, ``n_eff`` is the bulk ESS (rank-normalised draws).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping

import numpy as np
import torch

from pyrolite.infer.mcmc.util import Draws, diagnostics


def _row_names(name: str, shape: torch.Size) -> list[str]:
    if len(shape) == 0:
        return [name]
    return [f"{name}[{','.join(map(str, i))}]" for i in itertools.product(*map(range, shape))]


def summary_table(
    samples_by_chain: Mapping[str, Draws], num_divergences: int | None = None, prob: float = 0.9
) -> str:
    """The summary table of draws ``{site: (chains, draws, *site_shape)}`` as a string.

    Columns are those of ``diagnostics(samples_by_chain, prob)``; a last line gives
    ``Number of divergences: k`` when ``num_divergences`` is not None. Empty input gives "".
    """
    if not samples_by_chain:
        return ""
    stats = diagnostics(samples_by_chain, prob)
    columns = list(next(iter(stats.values())))
    rows = []
    for name, site in stats.items():
        values = torch.stack([site[c].detach().to("cpu", torch.float64) for c in columns], -1)
        names = _row_names(name, values.shape[:-1])
        rows += zip(names, values.reshape(-1, len(columns)).tolist(), strict=True)
    width = max(10, *(len(row) for row, _ in rows))
    lines = ["", f"{'':>{width}}" + "".join(f" {c:>9}" for c in columns)]
    lines += [f"{row:>{width}}" + "".join(f" {v:>9.2f}" for v in vals) for row, vals in rows]
    if num_divergences is not None:
        lines += ["", f"Number of divergences: {num_divergences}"]
    return "\n".join(lines) + "\n"


def print_summary(
    samples_by_chain: Mapping[str, Draws], num_divergences: int | None = None, prob: float = 0.9
) -> None:
    """Print ``summary_table(samples_by_chain, num_divergences, prob)``.

    Differs from Pyro's ``print_summary(samples, prob, group_by_chain)``: draws always carry
    the chain dimension, and the divergence count is printed with the table.
    """
    print(summary_table(samples_by_chain, num_divergences, prob), end="")


def to_arviz(
    samples_by_chain: Mapping[str, Draws], sample_stats: Mapping[str, Draws] | None = None
):
    """An ``arviz.InferenceData`` whose posterior group holds the draws
    ``{site: (chains, draws, *site_shape)}`` and whose sample_stats group holds
    ``sample_stats`` (e.g. ``{"diverging": (chains, draws) bool}``), when arviz is installed."""
    try:
        import arviz
    except ImportError as e:
        raise ImportError(
            "to_arviz needs the arviz package, which is not installed; "
            "install it with `pip install arviz`."
        ) from e

    def as_numpy(d: Mapping[str, Draws] | None) -> dict[str, np.ndarray] | None:
        if d is None:
            return None
        return {k: v.detach().cpu().numpy() if torch.is_tensor(v) else v for k, v in d.items()}

    groups = {"posterior": as_numpy(samples_by_chain), "sample_stats": as_numpy(sample_stats)}
    if "posterior" in inspect.signature(arviz.from_dict).parameters:  # arviz < 1.0
        return arviz.from_dict(**groups)
    return arviz.from_dict({k: v for k, v in groups.items() if v is not None})
