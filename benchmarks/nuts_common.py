"""What the NUTS benchmarks (W3-W5) share: one run of each library's NUTS, the chains'
ESS / bulk ESS / split R-hat, NumPyro's compile seconds, and the interleaved repeat loop.

A *config* is a function ``seed -> Run``; it builds a fresh MCMC object, times the whole
``run`` (setup, warmup and sampling; for NumPyro until the draws are ready, so JIT
compilation is included) and returns the draws as numpy ``(chains, draws, *shape)``.
ESS and R-hat of every library come from ``pyrolite.infer.mcmc.util`` (one definition
for all; it equals ``numpyro.diagnostics``, which each run cross-checks when installed).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from harness import RESULTS_DIR, environment, rotated, write_results

from pyrolite.infer.mcmc.util import (
    bulk_effective_sample_size,
    effective_sample_size,
    split_gelman_rubin,
)


@dataclass
class Run:
    """One timed MCMC run: wall seconds, draws {site: (C, N, *shape)}, post-warmup
    divergences, mean leapfrog steps per post-warmup iteration, JAX compile seconds."""

    wall_s: float
    samples: dict[str, np.ndarray]
    divergences: int
    mean_steps: float
    compile_s: float | None = None
    extra: dict = field(default_factory=dict)


Config = Callable[[int], Run]


def try_import(name: str):
    try:
        return __import__(name)
    except ImportError:
        return None


# ------------------------------------------------------------------------- JAX compile log

_COMPILE_RE = re.compile(
    r"Finished (tracing .* for jit|jaxpr to MLIR module conversion|XLA compilation) .* in "
    r"([0-9.eE+-]+) sec"
)


class _Intervals(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.spans: list[tuple[float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        m = _COMPILE_RE.search(record.getMessage())
        if m:
            seconds = float(m.group(2))
            self.spans.append((record.created - seconds, record.created))


@contextlib.contextmanager
def jax_compile_seconds() -> Iterator[list[float]]:
    """Collect JAX's own "Finished tracing / jaxpr to MLIR / XLA compilation ... in t sec"
    records (logged at DEBUG) while the block runs; yields a list that then holds one
    number: the seconds covered by those phases. Nested phases (a jit traced inside another's
    tracing) are counted once: the union of the time spans, not the sum."""
    logger = logging.getLogger("jax._src.dispatch")
    handler, level, propagate = _Intervals(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    out: list[float] = []
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        total, end = 0.0, -np.inf
        for lo, hi in sorted(handler.spans):
            total += max(0.0, hi - max(lo, end))
            end = max(end, hi)
        out.append(total)


# --------------------------------------------------------------------------------- configs


def _timed(fn: Callable[[], None]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _stack_chains(runs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([r[k] for r in runs], axis=0) for k in runs[0]}


def pyro_config(pyro, model, args, chains, warmup, samples, mode: str) -> Config:
    """Pyro's NUTS. ``mode``: "mp" (one process per chain, forced even on a small machine),
    "default" (what Pyro does by itself), "seq" / "jit_seq" (``chains`` runs of
    ``MCMC(num_chains=1)`` one after another, draws stacked; "jit_seq" with jit_compile)."""
    import pyro.infer.mcmc.api as api

    class CountingNUTS(pyro.infer.NUTS):
        """Counts potential-energy evaluations (one per leapfrog step) after warmup and
        reports them through ``diagnostics()``, which Pyro returns from worker processes."""

        def setup(self, warmup_steps, *a, **k):
            super().setup(warmup_steps, *a, **k)
            self._evals, self._post_evals, self._post_iters = 0, 0, 0
            inner = self.potential_fn

            def counted(z):
                self._evals += 1
                return inner(z)

            self.potential_fn = counted

        def sample(self, params):
            before = self._evals
            out = super().sample(params)
            if self._t > self._warmup_steps:
                self._post_evals += self._evals - before
                self._post_iters += 1
            return out

        def diagnostics(self):
            d = super().diagnostics()
            d["post-warmup potential evaluations"] = self._post_evals
            d["post-warmup iterations"] = self._post_iters
            return d

    def one(num_chains: int, force_processes: bool) -> tuple[float, dict, dict]:
        kernel = CountingNUTS(model, jit_compile=(mode == "jit_seq"), ignore_jit_warnings=True)
        cpu_count = api.mp.cpu_count
        if force_processes:  # Pyro only forks when cpu_count() - 1 >= num_chains
            api.mp.cpu_count = lambda: num_chains + 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mcmc = api.MCMC(
                    kernel,
                    samples,
                    warmup_steps=warmup,
                    num_chains=num_chains,
                    disable_progbar=True,
                )
                wall = _timed(lambda: mcmc.run(*args))
        finally:
            api.mp.cpu_count = cpu_count
        if force_processes and type(mcmc.sampler).__name__ != "_MultiSampler":
            raise RuntimeError("pyro_mp: Pyro did not start worker processes")
        draws = {k: v.numpy() for k, v in mcmc.get_samples(group_by_chain=True).items()}
        return wall, draws, mcmc.diagnostics()

    def run(seed: int) -> Run:
        pyro.set_rng_seed(seed)
        if mode in ("mp", "default"):
            wall, draws, diag = one(chains, force_processes=(mode == "mp"))
            diags = [diag]
        else:
            parts = [one(1, False) for _ in range(chains)]
            wall = sum(p[0] for p in parts)
            draws = _stack_chains([p[1] for p in parts])
            diags = [p[2] for p in parts]
        # Pyro's divergence list holds t - warmup for every divergent iteration, warmup too.
        div = sum(i >= 0 for d in diags for c in d["divergences"].values() for i in c)
        evals = sum(sum(d["post-warmup potential evaluations"].values()) for d in diags)
        iters = sum(sum(d["post-warmup iterations"].values()) for d in diags)
        return Run(wall, draws, int(div), evals / max(iters, 1))

    return run


def numpyro_config(model, args, chains, warmup, samples, chain_method: str) -> Config:
    """NumPyro's NUTS, a fresh ``MCMC`` per run; compile seconds from JAX's log records."""
    import jax
    import numpyro
    from numpyro.infer import MCMC, NUTS

    def run(seed: int) -> Run:
        mcmc = MCMC(
            NUTS(model),
            num_warmup=warmup,
            num_samples=samples,
            num_chains=chains,
            chain_method=chain_method,
            progress_bar=False,
        )
        key = jax.random.PRNGKey(seed)

        def go() -> None:
            mcmc.run(key, *args, extra_fields=("num_steps", "diverging"))
            jax.block_until_ready(mcmc.get_samples(group_by_chain=True))

        with warnings.catch_warnings(), jax_compile_seconds() as compile_s:
            warnings.simplefilter("ignore")
            wall = _timed(go)
        draws = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
        extra = mcmc.get_extra_fields()
        return Run(
            wall,
            draws,
            int(np.sum(extra["diverging"])),
            float(np.mean(extra["num_steps"])),
            compile_s[0],
            {"numpyro": numpyro.__version__, "jax": jax.__version__},
        )

    return run


def pyrolite_config(
    model, args, chains, warmup, samples, chain_method: str, jit_compile: bool = False
) -> Config:
    """pyrolite's ``MCMC(NUTS(model))`` through its Pyro-compatible API.

    ``jit_compile``: the NUTS tree step traced and compiled by TorchInductor, compilation
    included in the wall time and reported as compile seconds. Every run starts from a fresh
    Inductor cache; pyrolite keeps its compiled graphs in the process (as JAX does), so the
    first repeat compiles cold and later repeats of the same model and data reuse the graph,
    as NumPyro's later repeats reuse JAX's compilations. What Inductor sets up once per
    process and machine (its imports, CPU feature probes) is done by :func:`warm_inductor`
    before any timing, as JAX is imported before NumPyro is timed, and its seconds are
    reported separately."""
    import pyrolite
    from pyrolite.infer import MCMC, NUTS

    if jit_compile:
        warm_inductor()

    def run(seed: int) -> Run:
        pyrolite.set_rng_seed(seed)
        kernel = NUTS(model, jit_compile=jit_compile)
        mcmc = MCMC(
            kernel,
            samples,
            warmup_steps=warmup,
            num_chains=chains,
            chain_method=chain_method,
            disable_progbar=True,
        )
        if jit_compile:
            from torch._inductor.utils import fresh_cache

            with fresh_cache():
                wall = _timed(lambda: mcmc.run(*args))
        else:
            wall = _timed(lambda: mcmc.run(*args))
        draws = {k: v.numpy() for k, v in mcmc.get_samples(group_by_chain=True).items()}
        steps = mcmc.diagnostics()["mean num steps"].values()
        return Run(
            wall,
            draws,
            mcmc.num_divergences,
            float(np.mean(list(steps))),
            compile_s=kernel.compile_seconds,
            extra={"inductor_warmup_s": warm_inductor()} if jit_compile else {},
        )

    return run


_INDUCTOR_WARMUP: list[float] = []


def warm_inductor() -> float:
    """Seconds Inductor took to set itself up in this process (imports, CPU feature probes,
    its first small compile), measured once, before any timed run."""
    if not _INDUCTOR_WARMUP:
        import torch

        started = time.perf_counter()
        compiled = torch.compile(lambda x: (x.sin() * 2).sum(-1), dynamic=False)
        compiled(torch.randn(3, 5))
        _INDUCTOR_WARMUP.append(time.perf_counter() - started)
    return _INDUCTOR_WARMUP[0]


def pyrolite_mode(mode: str) -> tuple[str, bool]:
    """``"batched"``/``"seq"`` with an optional ``"_jit"`` -> (chain_method, jit_compile)."""
    method = "vectorized" if mode.startswith("batched") else "sequential"
    return method, mode.endswith("_jit")


def make_named_configs(
    names: list[str],
    ppl_model: Callable,
    numpyro_model: Callable,
    data: tuple[np.ndarray, ...],
    chains: int,
    warmup: int,
    samples: int,
    pyro_chains: int | None = None,
) -> dict:
    """The named configs (``<library>_<mode>``) whose library is installed, all on the same
    ``data`` (numpy arrays: torch tensors for Pyro/pyrolite, jax arrays for NumPyro).
    ``ppl_model(lib)`` builds the model in a library with Pyro's API. ``pyro_chains`` runs
    Pyro with fewer chains than the others (for extrapolation)."""
    torch_args = tuple(torch.tensor(a) for a in data)
    pyro, has_numpyro = try_import("pyro"), try_import("numpyro") is not None
    configs = {}
    for name in names:
        lib, _, mode = name.partition("_")
        if lib == "pyro" and pyro is not None:
            configs[name] = pyro_config(
                pyro, ppl_model(pyro), torch_args, pyro_chains or chains, warmup, samples, mode
            )
        elif lib == "numpyro" and has_numpyro:
            import jax.numpy as jnp

            args = tuple(jnp.asarray(a) for a in data)
            configs[name] = numpyro_config(numpyro_model, args, chains, warmup, samples, mode)
        elif lib == "pyrolite" and mode != "mp":
            import pyrolite

            method, jit = pyrolite_mode(mode)
            configs[name] = pyrolite_config(
                ppl_model(pyrolite), torch_args, chains, warmup, samples, method, jit_compile=jit
            )
        else:
            print(f"skipping {name}: its library is not installed")
    return configs


# --------------------------------------------------------------------------------- metrics


def scalars(samples: dict[str, np.ndarray], sites: list[str]) -> tuple[list[str], np.ndarray]:
    """The latent scalars of ``sites`` as names and one array (chains, draws, P)."""
    names, columns = [], []
    for site in sites:
        x = samples[site]
        flat = x.reshape(x.shape[:2] + (-1,))
        names += [site] if x.ndim == 2 else [f"{site}[{i}]" for i in range(flat.shape[-1])]
        columns.append(flat)
    return names, np.concatenate(columns, axis=-1).astype(np.float64)


def chain_metrics(samples: dict[str, np.ndarray], sites: list[str]) -> dict:
    """min ESS, min bulk ESS, max split R-hat over the scalars, and their posterior means."""
    names, x = scalars(samples, sites)
    ess = effective_sample_size(x).numpy()
    out = {
        "ess_min": float(ess.min()),
        "bulk_ess_min": float(bulk_effective_sample_size(x).numpy().min()),
        "r_hat_max": float(split_gelman_rubin(x).numpy().max()) if x.shape[1] >= 4 else None,
        "per_param": dict(zip(names, x.mean(axis=(0, 1)).tolist(), strict=True)),
    }
    try:  # one definition for every contender, and it is NumPyro's
        from numpyro.diagnostics import effective_sample_size as numpyro_ess
    except ImportError:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):  # a stuck chain has zero variance
        ref = numpyro_ess(x)
    out["ess_rel_diff_vs_numpyro"] = float(np.max(np.abs(ess - ref) / np.abs(ref)))
    return out


# ------------------------------------------------------------------------------- the loop


def run_interleaved(configs: dict[str, Config], repeats: int, seed: int, sites: list[str]):
    """Run every config ``repeats`` times, order rotated per repeat, seed ``seed + repeat``.
    Returns {config: [per-repeat metrics dict]}."""
    per_run: dict[str, list[dict]] = {name: [] for name in configs}
    names = list(configs)
    for repeat in range(repeats):
        for name in rotated(names, repeat):
            run = configs[name](seed + repeat)
            m = chain_metrics(run.samples, sites)
            compile_s = run.compile_s
            m.update(
                wall_s=run.wall_s,
                compile_s=compile_s,
                divergences=run.divergences,
                mean_leapfrog_steps=run.mean_steps,
                ess_per_s=m["ess_min"] / run.wall_s,
                bulk_ess_per_s=m["bulk_ess_min"] / run.wall_s,
                **run.extra,
            )
            if compile_s is not None:
                m["bulk_ess_per_s_excl_compile"] = m["bulk_ess_min"] / (run.wall_s - compile_s)
                m["ess_per_s_excl_compile"] = m["ess_min"] / (run.wall_s - compile_s)
            per_run[name].append(m)
            print(
                f"  repeat {repeat} {name:<20} {run.wall_s:8.2f} s  bulk ESS "
                f"{m['bulk_ess_min']:8.1f}  divergences {run.divergences}",
                flush=True,
            )
    return per_run


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(per_run: dict[str, list[dict]]) -> dict[str, dict]:
    """Medians over repeats of every numeric figure; per_param from the last repeat."""
    out = {}
    for name, runs in per_run.items():
        keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) or v is None]
        out[name] = {k: _median([r.get(k) for r in runs]) for k in keys}
        out[name]["divergences_per_repeat"] = [r["divergences"] for r in runs]
        out[name]["per_param"] = runs[-1]["per_param"]
        out[name].update({k: v for k, v in runs[0].items() if isinstance(v, str)})
    return out


def print_table(summary: dict[str, dict], extra_note: Callable[[str], str] = lambda n: "") -> None:
    print(
        f"{'config':<22} {'wall s':>8} {'compile':>8} {'ESS':>8} {'bulk':>8} {'bulk/s':>9} "
        f"{'excl.comp':>9} {'R-hat':>6} {'div':>4} {'steps':>6}"
    )

    def fmt(v, spec):
        return format(v, spec) if v is not None else format("-", spec.split(".")[0] + "s")

    for name, s in summary.items():
        print(
            f"{name:<22} {fmt(s['wall_s'], '8.2f')} {fmt(s.get('compile_s'), '8.2f')} "
            f"{fmt(s['ess_min'], '8.1f')} {fmt(s['bulk_ess_min'], '8.1f')} "
            f"{fmt(s['bulk_ess_per_s'], '9.1f')} "
            f"{fmt(s.get('bulk_ess_per_s_excl_compile'), '9.1f')} {fmt(s['r_hat_max'], '6.3f')} "
            f"{fmt(s['divergences'], '4.0f')} {fmt(s['mean_leapfrog_steps'], '6.1f')}"
            f"{extra_note(name)}"
        )


def base_result(workload: str, args, chains: int) -> dict:
    return {
        "workload": workload,
        "chains": chains,
        "warmup": args.warmup,
        "samples": args.samples,
        "repeats": args.repeats,
        "seed": args.seed,
        **environment(args.threads),
    }


def add_common_args(parser, warmup: int, samples: int, repeats: int | None) -> None:
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--samples", type=int, default=samples)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", default="", help="comma list (default: the workload's)")
    parser.add_argument("--tag", default="", help="suffix of the default --out file name")
    parser.add_argument("--out", default=None)


def config_names(args, default: list[str], known: list[str]) -> list[str]:
    """The names given by ``--configs`` (else ``default``); exits if one is not in ``known``."""
    names = args.configs.split(",") if args.configs else default
    known = list(dict.fromkeys(known))
    unknown = set(names) - set(known)
    if unknown:
        raise SystemExit(f"unknown configs {sorted(unknown)}; choose from {known}")
    return names


def run_workload(configs: dict[str, Config], args, workload: str, sites: list[str], **extra):
    """Runs ``configs`` interleaved; the result is ``base_result``, then ``extra``, then the
    per-config ``configs`` summary and the ``per_repeat`` runs."""
    per_run = run_interleaved(configs, args.repeats, args.seed, sites)
    return {
        **base_result(workload, args, args.chains),
        **extra,
        "configs": summarise(per_run),
        "per_repeat": per_run,
    }


def write_workload(result: dict, args, stem: str) -> None:
    """Writes ``result`` to ``--out``, else to ``results/{stem}[_{tag}].json``."""
    tag = f"_{args.tag}" if args.tag else ""
    write_results(result, args.out or os.path.join(RESULTS_DIR, f"{stem}{tag}.json"))
