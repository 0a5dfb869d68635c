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

- Symlinks are followed: the target is ``os.path.realpath(path)``, so saving through a link
  rewrites the file it points to (creating it if the link dangles) and the link stays a link.
  An existing target keeps its permission bits; a new one gets ``0o644``.
- Only regular files are read or replaced: :func:`load_tensors` refuses a directory, FIFO,
  device or socket (checked with :func:`os.stat`, before anything is opened, so a FIFO cannot
  block it) and :func:`save_tensors` refuses to replace one.
- Temporary names are ``.<basename>.<name hash>.<host tag>.<pid>.<random>.tmp``: ``<basename>``
  is the target's, cut so that the whole name fits the directory's ``NAME_MAX`` (255 bytes at
  most); ``<name hash>`` (8 hex digits of SHA-256 of the full basename) keeps cut names of
  different targets apart; ``<host tag>`` is the same hash of the host name and ``<pid>`` is the
  writing process.
- A save killed before its rename (SIGKILL, power loss) leaves its temporary file behind. Each
  save first removes the leftovers *of its own target* written on this host by processes that
  no longer exist (``os.kill(pid, 0)`` finds no such process). It never removes files of a
  live process, of other targets or hosts, or names not of exactly this form. On non-POSIX
  systems, where ``os.kill`` cannot probe a process, nothing is removed.

Example::

    save_tensors({"w": torch.zeros(3)}, "ckpt.pt", kind="my.kind")
    load_tensors("ckpt.pt", kind="my.kind")["w"]
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import secrets
import socket
import stat
import struct
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


_TMP_SUFFIX = ".tmp"
_NAME_MAX = 255  # bytes; also the fallback where os.pathconf cannot tell
_PID_DIGITS = 10  # room kept for the pid in a temp name: pid_t is 32 bits
_RANDOM_HEX = 8


def _fsync_directory(directory: str) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _describe(mode: int) -> str:
    for is_kind, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if is_kind(mode):
            return what
    return "a special file"


def _via_link(path: str) -> str:
    return f" (through the symlink to {os.path.realpath(path)!r})" if os.path.islink(path) else ""


def _short_hash(text: str) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()[:8]


def _name_max(directory: str) -> int:
    try:
        limit = os.pathconf(directory, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return _NAME_MAX
    return min(limit, _NAME_MAX) if limit > 0 else _NAME_MAX


def _temp_prefix(directory: str, basename: str) -> str:
    """``.<basename, cut to fit>.<name hash>.<host tag>.``, shared by this target's temp files.

    The cut depends only on the directory's name limit, so every process computes the same
    prefix for the same target; the hash of the full basename tells cut names apart.
    """
    tags = f".{_short_hash(basename)}.{_short_hash(socket.gethostname())}."
    fixed = 1 + len(tags) + _PID_DIGITS + 1 + _RANDOM_HEX + len(_TMP_SUFFIX)
    budget = max(_name_max(directory) - fixed, 0)
    cut = basename
    while len(os.fsencode(cut)) > budget:  # count bytes: a character may take several
        cut = cut[:-1]
    return f".{cut}{tags}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: alive, another user's; else unsure
        return True
    return True


def _remove_stale_temps(directory: str, prefix: str) -> None:
    """Remove temp files of this target left by writers on this host that no longer exist."""
    if os.name != "posix":  # elsewhere os.kill(pid, 0) is no liveness probe
        return
    pattern = re.compile(
        re.escape(prefix)
        + rf"([1-9][0-9]{{0,{_PID_DIGITS - 1}}})\.[0-9a-f]{{{_RANDOM_HEX}}}"
        + re.escape(_TMP_SUFFIX)
    )
    try:
        with os.scandir(directory) as entries:
            stale = [
                entry.path
                for entry in entries
                if (match := pattern.fullmatch(entry.name))
                and entry.is_file(follow_symlinks=False)
                and int(match.group(1)) != os.getpid()
                and not _pid_alive(int(match.group(1)))
            ]
    except OSError:
        return
    for name in stale:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _create_temp(directory: str, prefix: str) -> tuple[str, int]:
    """Create ``<prefix><pid>.<random>.tmp`` exclusively (mode 0o600); return name and fd."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        token = secrets.token_hex(_RANDOM_HEX // 2)
        name = os.path.join(directory, f"{prefix}{os.getpid()}.{token}{_TMP_SUFFIX}")
        try:
            return name, os.open(name, flags, 0o600)
        except FileExistsError:
            continue
    raise FileExistsError(
        f"no free temporary file name {prefix}{os.getpid()}.*.tmp in {directory!r}"
    )


def _existing_mode(real: str, path: str) -> int | None:
    """Permission bits of the file at ``real``, None if there is none; refuse non-regular files."""
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(
            f"cannot save a checkpoint to {path!r}: it is {_describe(st.st_mode)}"
            f"{_via_link(path)}, not a regular file, and pyrolite replaces only regular files. "
            "Pass the path of a file (for a directory, a file name inside it) or remove it first."
        )
    return st.st_mode & 0o777


def save_tensors(payload: dict, path: PathLike, kind: str) -> None:
    """Write ``payload`` (nested dicts/lists/tuples of scalars and tensors) to ``path``.

    ``kind`` is a format tag such as ``"pyrolite.params"`` that :func:`load_tensors` checks.
    Tensors are saved detached, contiguous and on the CPU. The write is atomic: on any failure
    the temporary file is removed and an existing file at ``path`` is left untouched. A symlink
    at ``path`` is followed (the file it points to is replaced, the link kept); a directory,
    FIFO, device or socket there raises :class:`CheckpointError` before anything is written.
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
    real = os.path.realpath(path)
    directory, basename = os.path.split(real)
    mode = _existing_mode(real, path)
    prefix = _temp_prefix(directory, basename)
    _remove_stale_temps(directory, prefix)
    tmp_name, fd = _create_temp(directory, prefix)
    try:
        with open(fd, "wb") as tmp:
            torch.save(record, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp_name, 0o644 if mode is None else mode)
        os.replace(tmp_name, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
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
    missing, truncated, corrupt or tampered file, a path that is not a regular file (directory,
    FIFO, device, socket; a symlink to a regular file is fine), a file holding objects that are
    not tensors, a file of another ``kind`` and an unsupported format version.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise CheckpointError(
            f"checkpoint file {path!r}{_via_link(path)} does not exist; check the path, or save "
            "a checkpoint there first."
        ) from None
    except OSError as err:
        raise CheckpointError(
            f"checkpoint file {path!r} cannot be accessed ({err.strerror}); check the path and "
            "its permissions."
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(
            f"checkpoint path {path!r} is {_describe(st.st_mode)}{_via_link(path)}, not a regular "
            "file; pyrolite reads checkpoints only from regular files and did not open it. Pass "
            "the path of a checkpoint file written by pyrolite's save()."
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
