"""Safe, atomic checkpoints of nested tensor structures.

A checkpoint file is written by :func:`torch.save` and read back by
``torch.load(..., weights_only=True)``, so loading never unpickles arbitrary objects. The file
holds one record::

    {"format": "pyrolite.checkpoint", "kind": kind, "version": 1,
     "sha256": digest, "payload": payload}

``payload`` is a nested structure of dicts (str or int keys), lists and tuples whose leaves are
``str``, ``int``, ``float``, ``bool``, ``None`` or tensors. ``digest`` is a SHA-256 over a
canonical serialisation of kind, version and payload (type tags, dict keys in sorted order,
tensor dtypes, shapes and raw bytes), so a tampered or damaged file is detected on load.

Writes are atomic: the record goes to a temporary file in the target's directory, which is
flushed, fsync'ed and then renamed onto the target with :func:`os.replace`. If anything fails
the temporary file is removed and an existing target is left untouched.

Example::

    save_tensors({"w": torch.zeros(3)}, "ckpt.pt", kind="my.kind")
    load_tensors("ckpt.pt", kind="my.kind")["w"]
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import struct
import tempfile
import warnings
import zipfile
from typing import Any

import torch

__all__ = ["CHECKPOINT_VERSION", "CheckpointError", "load_tensors", "save_tensors"]

CHECKPOINT_VERSION = 1
_FORMAT = "pyrolite.checkpoint"
_RECORD_KEYS = {"format", "kind", "version", "sha256", "payload"}
_SCALARS = (str, int, float, bool, type(None))

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A checkpoint file cannot be written or read safely (missing, corrupt, tampered...)."""


# ----------------------------------------------------------------------------------------------
# payload preparation and canonical digest


def _prepare_tensor(t: torch.Tensor, where: str) -> torch.Tensor:
    if t.layout != torch.strided:
        raise CheckpointError(
            f"{where} is a tensor with layout {t.layout}; checkpoints hold dense (strided) "
            "tensors only. Convert it with .to_dense() before saving."
        )
    t = t.detach()
    if t.device.type != "cpu":
        return t.cpu().contiguous()
    # torch.save writes a tensor's whole storage: copy views so that only their bytes are saved.
    compact = (
        t.is_contiguous()
        and t.storage_offset() == 0
        and t.untyped_storage().nbytes() == t.numel() * t.element_size()
    )
    return t if compact else t.clone(memory_format=torch.contiguous_format)


def _prepare(obj: Any, where: str) -> Any:
    """Copy ``obj`` with every tensor detached, on the CPU and compact; reject other types."""
    if isinstance(obj, torch.Tensor):
        return _prepare_tensor(obj, where)
    if type(obj) in _SCALARS:
        return obj
    if type(obj) is dict:
        out = {}
        for key, value in obj.items():
            if type(key) not in (str, int):
                raise CheckpointError(
                    f"{where} has a key {key!r} of type {type(key).__name__}; checkpoint dict "
                    "keys must be str or int."
                )
            out[key] = _prepare(value, f"{where}[{key!r}]")
        return out
    if type(obj) is list:
        return [_prepare(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if type(obj) is tuple:
        return tuple(_prepare(v, f"{where}[{i}]") for i, v in enumerate(obj))
    raise CheckpointError(
        f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}; checkpoints hold only "
        "dicts, lists and tuples of str, int, float, bool, None and tensors. Encode it as plain "
        "data before saving."
    )


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    t = t.detach().cpu().contiguous().reshape(-1)
    if t.is_complex():
        t = torch.view_as_real(t).reshape(-1)
    return memoryview(t.view(torch.uint8).numpy())


def _update_digest(h: Any, obj: Any) -> None:
    if obj is None:
        h.update(b"N")
    elif obj is True or obj is False:
        h.update(b"B1" if obj else b"B0")
    elif type(obj) is int:
        h.update(b"I%d;" % obj)
    elif type(obj) is float:
        h.update(b"F" + struct.pack("<d", obj))
    elif type(obj) is str:
        data = obj.encode("utf-8")
        h.update(b"S%d:" % len(data))
        h.update(data)
    elif isinstance(obj, torch.Tensor):
        header = f"X{obj.dtype}{tuple(obj.shape)}:".encode()
        h.update(header)
        h.update(_tensor_bytes(obj))
    elif type(obj) is dict:
        h.update(b"D%d;" % len(obj))
        for key in sorted(obj, key=lambda k: (isinstance(k, str), k)):
            _update_digest(h, key)
            _update_digest(h, obj[key])
    elif type(obj) in (list, tuple):
        h.update(b"%s%d;" % (b"L" if type(obj) is list else b"T", len(obj)))
        for value in obj:
            _update_digest(h, value)
    else:  # only reachable through a file that was not written by save_tensors
        raise CheckpointError(f"unexpected object of type {type(obj).__name__} in checkpoint")


def _digest(kind: str, version: int, payload: Any) -> str:
    h = hashlib.sha256()
    _update_digest(h, {"kind": kind, "version": version, "payload": payload})
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# save


def _fsync_directory(directory: str) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_tensors(payload: dict, path: PathLike, kind: str) -> None:
    """Write ``payload`` (nested dicts/lists/tuples of scalars and tensors) to ``path``.

    ``kind`` is a format tag such as ``"pyrolite.params"`` that :func:`load_tensors` checks.
    Tensors are saved detached, contiguous and on the CPU. The write is atomic: on any failure
    the temporary file is removed and an existing file at ``path`` is left untouched.
    """
    if not isinstance(payload, dict):
        raise CheckpointError(f"a checkpoint payload must be a dict, got {type(payload).__name__}")
    prepared = _prepare(payload, "payload")
    record = {
        "format": _FORMAT,
        "kind": kind,
        "version": CHECKPOINT_VERSION,
        "sha256": _digest(kind, CHECKPOINT_VERSION, prepared),
        "payload": prepared,
    }
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o644
    tmp = tempfile.NamedTemporaryFile(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp", delete=False
    )
    try:
        with tmp:
            torch.save(record, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp.name, mode)
        os.replace(tmp.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise
    _fsync_directory(directory)


# ----------------------------------------------------------------------------------------------
# load


def _is_refused_object(err: BaseException) -> bool:
    message = str(err)
    return "Weights only load failed" in message and (
        "GLOBAL" in message
        or "is blocked" in message
        or "must be" in message
        or "Unsupported operand" in message
    )


def load_tensors(path: PathLike, kind: str, map_location: Any = None) -> dict:
    """Read a checkpoint written by :func:`save_tensors` and return its payload.

    Uses ``torch.load(weights_only=True)``, so no arbitrary object is ever unpickled.
    ``map_location`` is passed to :func:`torch.load`. Raises :class:`CheckpointError` for a
    missing, truncated, corrupt or tampered file, a file holding objects that are not tensors,
    a file of another ``kind`` and an unsupported format version.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(
            f"checkpoint file {path!r} does not exist; check the path, or save a checkpoint "
            "there first."
        )
    try:
        with warnings.catch_warnings():
            # raw pickles (not torch zip files) make torch warn about their protocol first
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            record = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if _is_refused_object(err):
            raise CheckpointError(
                f"checkpoint file {path!r} holds objects that are not tensors, and pyrolite "
                "never unpickles arbitrary objects. Re-create the file with pyrolite's save(), "
                "which stores only tensors and plain data."
            ) from None
        raise CheckpointError(_corrupt_message(path, err)) from err
    except (
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        zipfile.BadZipFile,
        struct.error,
        UnicodeDecodeError,
        OverflowError,
        MemoryError,
    ) as err:
        raise CheckpointError(_corrupt_message(path, err)) from err

    if not (isinstance(record, dict) and _RECORD_KEYS <= record.keys()) or (
        record.get("format") != _FORMAT
    ):
        raise CheckpointError(
            f"file {path!r} is not a pyrolite checkpoint (it holds no pyrolite header); load "
            "a file written by pyrolite's save()."
        )
    version = record["version"]
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint file {path!r} has format version {version!r}, but this pyrolite reads "
            f"version {CHECKPOINT_VERSION}; load it with a matching pyrolite version."
        )
    if record["kind"] != kind:
        raise CheckpointError(
            f"checkpoint file {path!r} holds {record['kind']!r} data, not {kind!r}; load it "
            f"with the matching loader (a {record['kind']!r} file)."
        )
    expected = record["sha256"]
    try:
        actual = _digest(kind, version, record["payload"])
    except CheckpointError as err:
        raise CheckpointError(f"checkpoint file {path!r} is corrupt: {err}") from None
    if actual != expected:
        raise CheckpointError(
            f"checksum mismatch in checkpoint file {path!r}: the file was modified or corrupted "
            "after it was written. Restore it from a good copy or save it again."
        )
    payload = record["payload"]
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint file {path!r} is corrupt: its payload is not a dict")
    return payload


def _corrupt_message(path: str, err: BaseException) -> str:
    return (
        f"checkpoint file {path!r} is truncated or corrupt and cannot be read "
        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
        "Restore it from a good copy or save it again."
    )
