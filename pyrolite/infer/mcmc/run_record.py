"""``RunRecord``: the draws and per-iteration sampler statistics of one MCMC run.

Everything lives in tensors preallocated for the whole run, on the chains' device, and is
written with one indexed copy per field per iteration (no host sync, no Python lists).
"""

from __future__ import annotations

from typing import Any

import torch


class RunRecord:
    """Draws ``(C, n, D)`` after warmup, and per iteration (warmup included) ``(C, T)``
    statistics: ``accept_prob``, ``diverging``, ``num_steps``, ``step_size`` and, when the
    kernel reports them, ``tree_depth`` and ``energy`` (the Hamiltonian of the draw)."""

    def __init__(
        self,
        draws: torch.Tensor,
        accept_prob: torch.Tensor,
        diverging: torch.Tensor,
        num_steps: torch.Tensor,
        step_size: torch.Tensor,
        tree_depth: torch.Tensor | None,
        num_warmup: int,
        energy: torch.Tensor | None = None,
    ) -> None:
        self.draws = draws
        self.accept_prob = accept_prob
        self.diverging = diverging
        self.num_steps = num_steps
        self.step_size = step_size
        self.tree_depth = tree_depth
        self.energy = energy
        self.num_warmup = num_warmup
        self.final_state: Any = None

    @classmethod
    def empty(cls, num_warmup: int, num_samples: int, z0: torch.Tensor) -> RunRecord:
        """Room for a run of ``num_warmup + num_samples`` iterations of chains ``z0`` (C, D)."""
        num_chains, dims = z0.shape
        total = num_warmup + num_samples
        stats = {"dtype": z0.dtype, "device": z0.device}
        return cls(
            draws=torch.empty(num_samples, num_chains, dims, **stats),
            accept_prob=torch.empty(total, num_chains, **stats),
            diverging=torch.empty(total, num_chains, dtype=torch.bool, device=z0.device),
            num_steps=torch.empty(total, num_chains, dtype=torch.long, device=z0.device),
            step_size=torch.empty(total, num_chains, **stats),
            tree_depth=None,
            num_warmup=num_warmup,
        )

    def store(self, i: int, state: Any) -> None:
        """Write iteration ``i``'s state (draws only after warmup)."""
        if i >= self.num_warmup:
            self.draws[i - self.num_warmup] = state.z
        self.accept_prob[i] = state.accept_prob
        self.diverging[i] = state.diverging
        self.num_steps[i] = state.num_steps
        self.step_size[i] = state.step_size
        depth = getattr(state, "tree_depth", None)
        if depth is not None:
            if self.tree_depth is None:
                self.tree_depth = torch.zeros_like(self.num_steps)
            self.tree_depth[i] = depth
        energy = getattr(state, "energy", None)
        if energy is not None:
            if self.energy is None:
                self.energy = torch.zeros_like(self.step_size)
            self.energy[i] = energy

    def finish(self, state: Any) -> None:
        """Keep the last state; put the chain dim first: draws (C, n, D), stats (C, T)."""
        self.final_state = state
        for name in ("accept_prob", "diverging", "num_steps", "step_size", "tree_depth", "energy"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.transpose(0, 1).contiguous())
        self.draws = self.draws.transpose(0, 1).contiguous()

    @classmethod
    def concat(cls, records: list[RunRecord]) -> RunRecord:
        """Records of chains run one after another, joined along the chain dim."""
        if len(records) == 1:
            return records[0]
        depths = [r.tree_depth for r in records]
        energies = [r.energy for r in records]
        joined = cls(
            draws=torch.cat([r.draws for r in records]),
            accept_prob=torch.cat([r.accept_prob for r in records]),
            diverging=torch.cat([r.diverging for r in records]),
            num_steps=torch.cat([r.num_steps for r in records]),
            step_size=torch.cat([r.step_size for r in records]),
            tree_depth=None if any(d is None for d in depths) else torch.cat(depths),
            num_warmup=records[0].num_warmup,
            energy=None if any(e is None for e in energies) else torch.cat(energies),
        )
        joined.final_state = [r.final_state for r in records]
        return joined

    def sample_stats(self, num_warmup: int) -> dict[str, torch.Tensor]:
        """Post-warmup statistics, each (C, n), named as ArviZ names them."""
        stats = {
            "diverging": self.diverging[:, num_warmup:],
            "acceptance_rate": self.accept_prob[:, num_warmup:],
            "step_size": self.step_size[:, num_warmup:],
            "n_steps": self.num_steps[:, num_warmup:],
        }
        if self.tree_depth is not None:
            stats["tree_depth"] = self.tree_depth[:, num_warmup:]
        if self.energy is not None:
            stats["energy"] = self.energy[:, num_warmup:]
        return stats

    def chain_stats(self, num_warmup: int) -> dict[str, dict[str, Any]]:
        """Per chain (keys ``"chain 0"``, ...): divergent draw indices, mean acceptance,
        the step size used for sampling, mean leapfrog steps, mean tree depth and, when the
        energies were recorded, Stan's E-BFMI (below 0.3 flags poor exploration)."""
        stats = self.sample_stats(num_warmup)
        chains = [f"chain {c}" for c in range(self.draws.shape[0])]
        depth = stats.get("tree_depth")
        if depth is None:  # a doubling tree of depth d has 2^d - 1 leapfrog steps at most
            depth = torch.log2(stats["n_steps"].double() + 1).ceil()

        def per_chain(values: torch.Tensor) -> dict[str, Any]:
            return dict(zip(chains, values.tolist(), strict=True))

        result = {
            "divergences": {
                c: row.nonzero().flatten().tolist()
                for c, row in zip(chains, stats["diverging"], strict=True)
            },
            "acceptance rate": per_chain(stats["acceptance_rate"].mean(1)),
            "step size": per_chain(stats["step_size"][:, -1]),
            "mean num steps": per_chain(stats["n_steps"].double().mean(1)),
            "mean tree depth": per_chain(depth.double().mean(1)),
        }
        energy = stats.get("energy")
        if energy is not None and energy.shape[1] > 1:
            energy = energy.double()
            jumps = energy.diff(dim=1).pow(2).sum(1)
            spread = (energy - energy.mean(1, keepdim=True)).pow(2).sum(1)
            result["E-BFMI"] = per_chain(jumps / spread)
        return result
