"""``jit_compile=True`` for HMC/NUTS: a function of tensors traced once into a graph of torch
operators and compiled by TorchInductor.

The sampler calls the same function tens of thousands of times on tensors of fixed shapes.
Tracing with ``make_fx`` runs the Python once (the model, its effect handlers and the autograd
pass for the gradient all included) and records only the tensor operations, already
decomposed the way Inductor wants them; Inductor then fuses them into a few loops of C++ (or
GPU kernels). The graph is called directly, not through ``torch.compile``: no guards, no
autograd, no model Python; what a call still costs is mostly allocating its outputs, so a
:class:`Packer` stacks many small tensors into a few.

Tracing records one path through the code, so a potential must not branch on tensor values
(``.item()``, ``if x > 0``); such code fails to trace, a warning says so and the caller keeps
its eager function. Distribution validation is off while tracing (its checks read values).
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from pyrolite.distributions.validation import enable_validation, is_validation_enabled
from pyrolite.primitives import validation_enabled

__all__ = ["Packer", "compile_graph", "count_evaluations"]

# Small tensors: SIMD variants of each loop only add compile time, and one fused loop nest
# beats several; shape checks on every call cost more than the loops themselves.
_INDUCTOR_OPTIONS = {"cpp.simdlen": 1, "aggressive_fusion": True, "size_asserts": False}


def _decompositions() -> dict:
    """Inductor's decompositions, except that a matrix-vector product becomes a one-column
    matrix product (which Inductor hands to BLAS) rather than an elementwise multiply and sum
    (a scalar loop, several times slower on regression-sized data)."""
    from torch._inductor.decomposition import select_decomp_table

    table = dict(select_decomp_table())
    table[torch.ops.aten.mv.default] = _mv_as_mm
    return table


def _mv_as_mm(matrix: Tensor, vector: Tensor) -> Tensor:
    return torch.mm(matrix, vector.unsqueeze(-1)).squeeze(-1)


# Compiled graphs of this process by what they compute (their code and the values of the
# tensors they captured), as JAX keeps its compiled functions: running the same model on the
# same data again (another MCMC object, the next chain of a sequential run) compiles nothing.
_compiled: OrderedDict[tuple, Callable[[list[Tensor]], list[Tensor]]] = OrderedDict()
_MAX_COMPILED = 32


def _graph_key(graph: torch.fx.GraphModule, example_args: Sequence[Tensor]) -> tuple:
    constants = []
    for node in graph.graph.nodes:
        if node.op == "get_attr":
            value = getattr(graph, node.target)
            if isinstance(value, Tensor):
                data = value.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes()
                digest = hashlib.sha1(data).digest()
                constants.append((node.target, value.dtype, tuple(value.shape), digest))
    inputs = tuple((a.dtype, tuple(a.shape), tuple(a.stride()), a.device) for a in example_args)
    return graph.code, tuple(constants), inputs


def compile_graph(
    fn: Callable[..., Sequence[Tensor]],
    example_args: Sequence[Tensor],
    what: str,
    options: dict[str, Any] | None = None,
    quiet: bool = False,
) -> Callable[..., list[Tensor]] | None:
    """Trace ``fn(*tensors) -> tensors`` at ``example_args`` and compile it with Inductor.

    Returns a function with the same signature that returns a list of tensors, valid for
    arguments of the example's shapes, dtypes and devices; or None, after a warning naming
    ``what`` and the error, when tracing or compiling fails. ``options``: Inductor config
    options (names of ``torch._inductor.config``; other keys, such as ``torch.jit.trace``'s
    ``check_trace``, are ignored). ``quiet`` silences every warning of tracing and compiling,
    the fallback warning included (Pyro's ``ignore_jit_warnings``).
    """
    if quiet:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compile_graph(fn, example_args, what, options)
    from torch._inductor import config
    from torch._inductor.compile_fx import compile_fx_inner
    from torch.fx.experimental.proxy_tensor import make_fx

    # torch's compiler switches distribution validation off process-wide when it first sets
    # itself up; keep the user's setting
    validating = is_validation_enabled()
    # tracing keys tensors by identity: an argument passed twice would become one input
    example_args = [arg.clone() for arg in example_args]
    try:
        patch = dict(_INDUCTOR_OPTIONS)
        if options:
            known = config.get_config_copy()
            patch.update({k: v for k, v in options.items() if k in known})
        with validation_enabled(False), config.patch(patch):
            graph = make_fx(lambda *args: tuple(fn(*args)), _decompositions())(*example_args)
            key = _graph_key(graph, example_args)
            if key in _compiled:
                _compiled.move_to_end(key)
                run = _compiled[key]
            else:
                compiled = compile_fx_inner(graph, example_args)
                compiled(list(example_args))  # Inductor finishes some work on the first call
                # the compiled module itself, without the bookkeeping of Inductor's wrapper
                run = getattr(compiled, "current_callable", None) or compiled
                _compiled[key] = run
                if len(_compiled) > _MAX_COMPILED:
                    _compiled.popitem(last=False)
    except Exception as err:  # noqa: BLE001 - any tracing or compiler failure falls back
        warnings.warn(
            f"jit_compile: compiling the {what} failed ({type(err).__name__}: {err}); "
            "continuing eagerly",
            stacklevel=3,
        )
        return None
    finally:
        enable_validation(validating)

    def call(*args: Tensor) -> list[Tensor]:
        return run(list(args))

    return call


class Packer:
    """Stacks the tensor fields of a NamedTuple into one tensor per (shape, dtype, device):
    ``pack(nt) -> list[Tensor]`` and back with ``unpack``, each field a view of its stack."""

    def __init__(self, example: NamedTuple) -> None:
        groups: dict[tuple, list[int]] = {}
        for i, value in enumerate(example):
            groups.setdefault((value.shape, value.dtype, value.device), []).append(i)
        self.groups = list(groups.values())
        self.kind = type(example)
        self.num_fields = len(example)

    def pack(self, nt: NamedTuple) -> list[Tensor]:
        return [torch.stack([nt[i] for i in group]) for group in self.groups]

    def unpack(self, packed: Sequence[Tensor]) -> Any:
        fields: list[Any] = [None] * self.num_fields
        for group, stacked in zip(self.groups, packed, strict=True):
            for i, value in zip(group, stacked.unbind(0), strict=True):
                fields[i] = value
        return self.kind._make(fields)

    def group_of(self, index: int) -> tuple[int, int]:
        """``(group, position)`` of field ``index`` in the packed list."""
        for g, group in enumerate(self.groups):
            if index in group:
                return g, group.index(index)
        raise IndexError(index)


def count_evaluations(potential_and_grad: Callable) -> None:
    """A compiled graph evaluates the potential without calling it; keep the
    ``num_evaluations`` of a model potential (whose bound method this is) right all the
    same."""
    owner = getattr(potential_and_grad, "__self__", None)
    if hasattr(owner, "num_evaluations"):
        owner.num_evaluations += 1
