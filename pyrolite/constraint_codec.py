"""Constraints as plain data, so that checkpoints hold no pickled objects.

``encode_constraint(c)`` gives ``{"name": ..., **fields}`` of numbers, strings and nested
encodings; ``decode_constraint`` rebuilds the constraint. Torch's constraints and
pyrolite's extra ones are registered; ``register_constraint`` adds more.
"""

from __future__ import annotations

from collections.abc import Callable

from torch.distributions import constraints
from torch.distributions.constraints import Constraint

from pyrolite.distributions import constraints as extra_constraints

__all__ = ["decode_constraint", "encode_constraint", "register_constraint"]


_SINGLETONS: dict[str, Constraint] = {
    name: getattr(constraints, name)
    for name in (
        "real",
        "real_vector",
        "positive",
        "nonnegative",
        "unit_interval",
        "simplex",
        "lower_cholesky",
        "corr_cholesky",
        "positive_definite",
        "positive_semidefinite",
        "lower_triangular",
        "square",
        "symmetric",
        "boolean",
        "one_hot",
        "nonnegative_integer",
        "positive_integer",
    )
    if isinstance(getattr(constraints, name, None), Constraint)
}
_SINGLETON_NAMES: dict[int, str] = {id(c): name for name, c in _SINGLETONS.items()}

_Encoder = Callable[[Constraint], dict]
_Decoder = Callable[[dict], Constraint]
_CODECS_BY_TYPE: dict[type, tuple[str, _Encoder]] = {}
_DECODERS: dict[str, _Decoder] = {}


def register_constraint(
    name: str,
    constraint: Constraint | type,
    encode: _Encoder | None = None,
    decode: _Decoder | None = None,
) -> None:
    """Teach the param store to save a constraint, as plain data under ``name``.

    Either a singleton instance (``register_constraint("positive_ordered", positive_ordered)``)
    saved by name alone, or a class with ``encode(c) -> dict`` of plain data (numbers, strings,
    tensors, nested :func:`encode_constraint` results) and ``decode(dict) -> Constraint``.
    """
    if name in _DECODERS or name in _SINGLETONS:
        raise ValueError(f"a constraint codec named {name!r} is already registered")
    if isinstance(constraint, Constraint):
        _SINGLETONS[name] = constraint
        _SINGLETON_NAMES[id(constraint)] = name
        return
    if encode is None or decode is None:
        raise ValueError(f"register_constraint({name!r}, <class>) needs encode and decode")
    _CODECS_BY_TYPE[constraint] = (name, encode)
    _DECODERS[name] = decode


def encode_constraint(constraint: Constraint) -> dict:
    """Encode a constraint as a dict of plain data ``{"name": ..., **fields}``.

    Raises ``ValueError`` for a constraint with no registered encoding.
    """
    name = _SINGLETON_NAMES.get(id(constraint))
    if name is not None:
        return {"name": name}
    codec = _CODECS_BY_TYPE.get(type(constraint))
    if codec is None:
        raise ValueError(
            f"pyrolite does not know how to save the constraint {constraint!r} "
            f"(type {type(constraint).__qualname__}); register it with "
            "pyrolite.constraint_codec.register_constraint(name, cls, encode, decode)"
        )
    name, encode = codec
    return {"name": name, **encode(constraint)}


def decode_constraint(data: dict) -> Constraint:
    """Rebuild a constraint from :func:`encode_constraint`'s output."""
    name = data.get("name") if isinstance(data, dict) else None
    if name in _SINGLETONS:
        return _SINGLETONS[name]
    decode = _DECODERS.get(name)  # type: ignore[arg-type]
    if decode is None:
        raise ValueError(f"unknown constraint encoding {data!r}; was it saved by a newer pyrolite?")
    return decode(data)


def _register_torch_constraints() -> None:
    lower = ("lower_bound",)
    upper = ("upper_bound",)
    both = ("lower_bound", "upper_bound")
    simple = [
        ("greater_than", "_GreaterThan", lower),
        ("greater_than_eq", "_GreaterThanEq", lower),
        ("less_than", "_LessThan", upper),
        ("interval", "_Interval", both),
        ("half_open_interval", "_HalfOpenInterval", both),
        ("integer_interval", "_IntegerInterval", both),
        ("integer_greater_than", "_IntegerGreaterThan", lower),
        ("integer_less_than", "_IntegerLessThan", upper),
    ]
    for name, cls_name, fields in simple:
        cls = getattr(constraints, cls_name, None)
        if cls is None:
            continue
        register_constraint(
            name,
            cls,
            lambda c, fields=fields: {f: getattr(c, f) for f in fields},
            lambda d, cls=cls, fields=fields: cls(*(d[f] for f in fields)),
        )
    register_constraint(
        "independent",
        constraints._IndependentConstraint,
        lambda c: {
            "base": encode_constraint(c.base_constraint),
            "reinterpreted_batch_ndims": c.reinterpreted_batch_ndims,
        },
        lambda d: constraints.independent(
            decode_constraint(d["base"]), d["reinterpreted_batch_ndims"]
        ),
    )
    register_constraint(
        "cat",
        constraints._Cat,
        lambda c: {
            "cseq": [encode_constraint(x) for x in c.cseq],
            "dim": c.dim,
            "lengths": list(c.lengths),
        },
        lambda d: constraints.cat(
            [decode_constraint(x) for x in d["cseq"]], d["dim"], d["lengths"]
        ),
    )
    register_constraint(
        "stack",
        constraints._Stack,
        lambda c: {"cseq": [encode_constraint(x) for x in c.cseq], "dim": c.dim},
        lambda d: constraints.stack([decode_constraint(x) for x in d["cseq"]], d["dim"]),
    )


def _register_pyrolite_constraints() -> None:
    for name in ("integer", "softplus_positive", "ordered_vector", "positive_ordered_vector"):
        register_constraint(name, getattr(extra_constraints, name))


_register_torch_constraints()
_register_pyrolite_constraints()
