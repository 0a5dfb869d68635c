"""MNIST from the original gzip'd IDX files, every file checked against its SHA-256.

:func:`load_mnist` looks for the two files of a split in these folders, in order, and uses the
first folder that holds both:

1. ``root``, if given;
2. the folder named by the environment variable ``PYROLITE_MNIST_DIR``, if set;
3. the repository's ``data/mnist/`` (:data:`REPO_MNIST_DIR`), if it exists;
4. the download cache, :func:`mnist_cache_dir`.

If no folder holds them and ``download=True``, the missing files are fetched into the cache from
the base URLs in :data:`MNIST_MIRRORS`, tried in order. A download goes to a temporary file next
to its target, and is renamed onto the target only once its SHA-256 matched, so the cache never
holds a half-written or corrupt file.

Verifying a file hashes it once per process: a verified file is remembered by path, size,
modification time and inode, so loading a split again only decompresses and converts.

Example::

    images, labels = load_mnist("train")  # (60000, 784) float32 in [0, 1], (60000,) int64
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "REPO_MNIST_DIR",
    "download_mnist",
    "load_mnist",
    "mnist_cache_dir",
    "read_idx",
]

PathLike = str | os.PathLike

#: Base URLs tried in order when a file has to be downloaded; a file's URL is base + file name.
MNIST_MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

#: The repository's copy of the files; looked at only if the folder exists.
REPO_MNIST_DIR: Path = Path(__file__).resolve().parents[2] / "data" / "mnist"

_ENV_DIR = "PYROLITE_MNIST_DIR"
_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class _FileSpec:
    name: str
    size: int
    sha256: str


_FILES: dict[str, tuple[_FileSpec, _FileSpec]] = {
    "train": (
        _FileSpec(
            "train-images-idx3-ubyte.gz",
            9_912_422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        _FileSpec(
            "train-labels-idx1-ubyte.gz",
            28_881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
    ),
    "test": (
        _FileSpec(
            "t10k-images-idx3-ubyte.gz",
            1_648_877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        _FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            4_542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
}
_COUNTS = {"train": 60_000, "test": 10_000}

#: Expected SHA-256 (hex) of each ``.gz`` file, by file name.
MNIST_SHA256: dict[str, str] = {f.name: f.sha256 for pair in _FILES.values() for f in pair}

# (path, size, mtime_ns, inode) of every file whose digest matched in this process.
_VERIFIED: set[tuple[str, int, int, int]] = set()

# IDX type byte -> element dtype (big-endian).
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def mnist_cache_dir() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/pyrolite/mnist``, else ``~/.cache/pyrolite/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyrolite" / "mnist"


def _check_split(split: str) -> tuple[_FileSpec, _FileSpec]:
    if split not in _FILES:
        raise ValueError(f"MNIST split must be 'train' or 'test', got {split!r}")
    return _FILES[split]


def _search_dirs(root: PathLike | None) -> list[Path]:
    dirs = []
    if root is not None:
        dirs.append(Path(root).expanduser())
    env = os.environ.get(_ENV_DIR)
    if env:
        dirs.append(Path(env).expanduser())
    if REPO_MNIST_DIR.is_dir():
        dirs.append(REPO_MNIST_DIR)
    dirs.append(mnist_cache_dir())
    return dirs


def _stat_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)


def _mismatch(path: Path | str, expected: str, actual: str) -> ValueError:
    return ValueError(
        f"MNIST file {path} failed its SHA-256 check: expected {expected}, got {actual}. "
        "The file is damaged or not the original MNIST file. Delete it and load again with "
        "download=True (it is re-fetched into the cache), or replace it with a good copy "
        "(see data/mnist/README.md in the pyrolite repository for the checksums)."
    )


def _read_verified(path: Path, spec: _FileSpec) -> bytes:
    """Reads ``path``, raising ValueError unless its SHA-256 is ``spec.sha256``."""
    key = _stat_key(path)
    raw = path.read_bytes()
    if key not in _VERIFIED:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != spec.sha256:
            raise _mismatch(path, spec.sha256, actual)
        _VERIFIED.add(key)
    return raw


def _parse_idx(raw: bytes, where: str) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{where} is not an IDX file: it must start with two zero bytes, a type byte and a "
            f"dimension count, but its first bytes are {raw[:4].hex() or '(empty)'}"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{where}: unknown IDX element type 0x{type_code:02x}")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(
            f"{where}: IDX header announces {ndim} dimensions but the file holds only "
            f"{len(raw)} bytes"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = header_len + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{where}: IDX header gives shape {shape} of {dtype.name}, i.e. {expected} bytes with "
            f"the header, but the file holds {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)


def read_idx(path: PathLike) -> np.ndarray:
    """Reads an IDX file (gzip'd if its name ends in ``.gz``) into a read-only array.

    The array has the shape and element type the header gives, e.g. ``(N, 28, 28)`` uint8 for
    MNIST images and ``(N,)`` uint8 for labels. A malformed header raises ValueError. No checksum
    is checked here; :func:`load_mnist` checks before it parses.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return _parse_idx(raw, str(path))


def _check_shape(arr: np.ndarray, where: str, shape: tuple[int, ...]) -> None:
    if arr.dtype != np.uint8 or arr.shape != shape:
        raise ValueError(
            f"{where}: expected {shape} uint8 MNIST data, got {arr.shape} {arr.dtype.name}"
        )


def _fetch(spec: _FileSpec, dest: Path, mirrors: Sequence[str]) -> None:
    """Downloads one file into ``dest`` from the first mirror that serves a good copy.

    Raises FileNotFoundError, naming each mirror's failure, if no mirror served a good copy.
    """
    failures = []
    target = dest / spec.name
    for base in mirrors:
        url = base.rstrip("/") + "/" + spec.name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=dest)
        try:
            digest = hashlib.sha256()
            written = 0
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response,
            ):
                while chunk := response.read(_CHUNK):
                    written += len(chunk)
                    if written > spec.size:
                        raise ValueError(f"{url} serves more than the expected {spec.size} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if actual != spec.sha256:
                raise ValueError(f"SHA-256 mismatch: expected {spec.sha256}, got {actual}")
            os.replace(tmp_name, target)
        except (OSError, ValueError, http.client.HTTPException) as err:  # URLError is an OSError
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            failures.append(f"{url}: {err}")
            continue
        _VERIFIED.add(_stat_key(target))
        return
    raise FileNotFoundError(
        f"could not download {spec.name} from any mirror:\n  " + "\n  ".join(failures)
    )


def download_mnist(
    split: str = "train",
    dest: PathLike | None = None,
    mirrors: Sequence[str] | None = None,
) -> Path:
    """Downloads the missing files of ``split`` into ``dest`` and returns ``dest``.

    ``dest`` defaults to :func:`mnist_cache_dir` and ``mirrors`` to :data:`MNIST_MIRRORS`. Files
    already in ``dest`` are kept (and verified when loaded). A file is written atomically: to a
    temporary file in ``dest``, renamed onto its name only after its SHA-256 matched. Raises
    FileNotFoundError naming every mirror's failure if a file cannot be fetched.
    """
    specs = _check_split(split)
    dest = mnist_cache_dir() if dest is None else Path(dest).expanduser()
    mirrors = MNIST_MIRRORS if mirrors is None else mirrors
    if not mirrors:
        raise FileNotFoundError("no MNIST mirrors to download from (MNIST_MIRRORS is empty)")
    dest.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        if not (dest / spec.name).is_file():
            _fetch(spec, dest, mirrors)
    return dest


def _not_found(split: str, dirs: list[Path], download_error: Exception | None) -> Exception:
    names = " and ".join(spec.name for spec in _FILES[split])
    looked = "\n  ".join(str(d) for d in dirs)
    msg = f"MNIST {split} files ({names}) not found. Looked in:\n  {looked}\n"
    if download_error is not None:
        msg += f"Downloading into {mnist_cache_dir()} failed: {download_error}\n"
    else:
        msg += "Downloading was off (download=False).\n"
    msg += (
        f"Fix: put the files in a folder and set the environment variable {_ENV_DIR} to it or "
        "pass root=<folder> to load_mnist"
    )
    msg += "." if download_error is not None else ", or call load_mnist with download=True."
    return FileNotFoundError(msg)


def load_mnist(
    split: str = "train",
    root: PathLike | None = None,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loads an MNIST split as ``(images, labels)``.

    ``images`` is float32 of shape ``(N, 784)`` (28 x 28 pixels, row-major) scaled to [0, 1] by
    dividing by 255; ``labels`` is int64 of shape ``(N,)`` with values 0..9. ``N`` is 60000 for
    ``split="train"`` and 10000 for ``split="test"``. See the module docstring for where the
    files are looked for. Every file is checked against its SHA-256 before it is parsed; a
    mismatch raises ValueError.

    Example::

        x, y = load_mnist("test")  # x: (10000, 784) float32, y: (10000,) int64
    """
    specs = _check_split(split)
    dirs = _search_dirs(root)
    folder = next((d for d in dirs if all((d / s.name).is_file() for s in specs)), None)
    if folder is None:
        if not download:
            raise _not_found(split, dirs, None)
        try:
            folder = download_mnist(split)
        except OSError as err:
            raise _not_found(split, dirs, err) from err

    n = _COUNTS[split]
    image_spec, label_spec = specs
    image_path, label_path = folder / image_spec.name, folder / label_spec.name
    images = _parse_idx(gzip.decompress(_read_verified(image_path, image_spec)), str(image_path))
    labels = _parse_idx(gzip.decompress(_read_verified(label_path, label_spec)), str(label_path))
    _check_shape(images, str(image_path), (n, 28, 28))
    _check_shape(labels, str(label_path), (n,))
    if labels.max() > 9:
        raise ValueError(f"{label_path}: labels must be 0..9, found {int(labels.max())}")

    pixels = images.reshape(n, 784).astype(np.float32)
    np.divide(pixels, np.float32(255.0), out=pixels)
    return torch.from_numpy(pixels), torch.from_numpy(labels.astype(np.int64))
