import gzip
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import pyrolite.data.mnist as mnist
from pyrolite.data import MNIST_SHA256, download_mnist, load_mnist, mnist_cache_dir, read_idx

DATA = Path(__file__).resolve().parents[2] / "data" / "mnist"
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="module")
def train():
    return load_mnist("train", root=DATA, download=False)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env var, no repository copy, an empty cache under tmp_path; returns the cache dir."""
    monkeypatch.delenv("PYROLITE_MNIST_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(mnist, "REPO_MNIST_DIR", tmp_path / "no-repo-copy")
    return mnist_cache_dir()


def copy_test_split(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in TEST_FILES:
        shutil.copy(DATA / name, dest / name)
    return dest


def tamper(path: Path) -> None:
    """Flips one byte in place; moves the mtime on so that a quick rewrite is always seen."""
    mtime_ns = path.stat().st_mtime_ns
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(mtime_ns + 10**9, mtime_ns + 10**9))


def test_repository_files_match_checksums():
    for name, digest in MNIST_SHA256.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest


def test_train_shapes_dtypes_ranges(train):
    images, labels = train
    assert images.shape == (60000, 784) and images.dtype == torch.float32
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.min() == 0 and labels.max() == 9
    counts = torch.bincount(labels, minlength=10)
    assert counts.sum() == 60000
    # The well-known class counts of the MNIST training set.
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_train_pixels_are_bytes_over_255(train):
    images, _ = train
    raw = read_idx(DATA / "train-images-idx3-ubyte.gz")
    assert raw.shape == (60000, 28, 28) and raw.dtype == np.uint8
    expected = torch.from_numpy(raw[:100].reshape(100, 784).astype(np.float32)) / 255
    assert torch.equal(images[:100], expected)


def test_test_split():
    images, labels = load_mnist("test", root=DATA, download=False)
    assert images.shape == (10000, 784) and images.dtype == torch.float32
    assert labels.shape == (10000,) and labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=10).sum() == 10000
    assert labels[0] == 7
    assert 0.0 <= images.min() and images.max() <= 1.0


def test_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist("valid")


def test_root_is_honoured(isolated, tmp_path):
    root = copy_test_split(tmp_path / "root")
    tamper(root / TEST_FILES[1])  # the error names the file, so root was used
    with pytest.raises(ValueError, match="t10k-labels"):
        load_mnist("test", root=root, download=False)


def test_env_var_is_honoured(isolated, tmp_path, monkeypatch):
    env_dir = copy_test_split(tmp_path / "env")
    monkeypatch.setenv("PYROLITE_MNIST_DIR", str(env_dir))
    _, labels = load_mnist("test", download=False)
    assert labels[0] == 7
    tamper(env_dir / TEST_FILES[0])
    with pytest.raises(ValueError, match=str(env_dir)):
        load_mnist("test", download=False)


def test_root_comes_before_env_var(isolated, tmp_path, monkeypatch):
    monkeypatch.setenv("PYROLITE_MNIST_DIR", str(copy_test_split(tmp_path / "env")))
    root = copy_test_split(tmp_path / "root")
    tamper(root / TEST_FILES[0])
    with pytest.raises(ValueError, match="root"):
        load_mnist("test", root=root, download=False)


def test_checksum_mismatch_message(isolated, tmp_path):
    root = copy_test_split(tmp_path / "root")
    bad = root / TEST_FILES[0]
    tamper(bad)
    actual = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(ValueError) as info:
        load_mnist("test", root=root, download=False)
    msg = str(info.value)
    assert str(bad) in msg
    assert MNIST_SHA256[TEST_FILES[0]] in msg and actual in msg
    assert "download=True" in msg


def test_verification_is_cached(isolated, tmp_path, monkeypatch):
    root = copy_test_split(tmp_path / "root")
    calls = []
    real_sha256 = hashlib.sha256

    def counting_sha256(*args, **kwargs):
        calls.append(1)
        return real_sha256(*args, **kwargs)

    monkeypatch.setattr(hashlib, "sha256", counting_sha256)
    load_mnist("test", root=root, download=False)
    assert len(calls) == 2
    load_mnist("test", root=root, download=False)
    assert len(calls) == 2
    # A rewritten file (new mtime) is hashed again, and a tampered one is caught.
    tamper(root / TEST_FILES[1])
    with pytest.raises(ValueError, match="SHA-256"):
        load_mnist("test", root=root, download=False)
    assert len(calls) == 3


def write_idx(path: Path, payload: bytes) -> None:
    with gzip.open(path, "wb") as f:
        f.write(payload)


def test_read_idx_round_trip(tmp_path):
    arr = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    header = bytes([0, 0, 0x0C, 3]) + np.array([2, 3, 4], dtype=">u4").tobytes()
    write_idx(tmp_path / "x.gz", header + arr.tobytes())
    assert np.array_equal(read_idx(tmp_path / "x.gz"), arr)
    (tmp_path / "x").write_bytes(header + arr.tobytes())  # uncompressed
    assert np.array_equal(read_idx(tmp_path / "x"), arr)


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"", "not an IDX file"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "not an IDX file"),
        (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x00", "unknown IDX element type"),
        (b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02", "announces 3 dimensions"),
        (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x05" + b"\x01\x02", "holds 10 bytes"),
        (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x01\x02", "holds 10 bytes"),
    ],
)
def test_malformed_header(tmp_path, payload, match):
    write_idx(tmp_path / "bad-idx1-ubyte.gz", payload)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(tmp_path / "bad-idx1-ubyte.gz")
    assert "bad-idx1-ubyte.gz" in str(info.value)


def test_not_found_message(isolated, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as info:
        load_mnist("test", root=empty, download=False)
    msg = str(info.value)
    for needle in (str(empty), str(isolated), "PYROLITE_MNIST_DIR", "root=", "download=True"):
        assert needle in msg
    assert not isolated.exists()  # nothing was created


def test_download_from_file_mirror(isolated, monkeypatch):
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", [DATA.as_uri() + "/"])
    images, labels = load_mnist("test")
    assert images.shape == (10000, 784) and labels[0] == 7
    assert sorted(p.name for p in isolated.iterdir()) == sorted(TEST_FILES)
    for name in TEST_FILES:
        assert (isolated / name).read_bytes() == (DATA / name).read_bytes()
    # A second load finds the cache and does not download again.
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", [])
    load_mnist("test")


def test_download_skips_missing_and_corrupt_mirrors(isolated, tmp_path, monkeypatch):
    corrupt = copy_test_split(tmp_path / "corrupt-mirror")
    for name in TEST_FILES:
        tamper(corrupt / name)
    mirrors = [
        (tmp_path / "empty-mirror").as_uri(),
        corrupt.as_uri() + "/",
        DATA.as_uri(),
    ]
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", mirrors)
    _, labels = load_mnist("test")
    assert labels[0] == 7
    # Only the two good files are left: no corrupt copy, no temporary file.
    assert sorted(p.name for p in isolated.iterdir()) == sorted(TEST_FILES)
    for name in TEST_FILES:
        assert hashlib.sha256((isolated / name).read_bytes()).hexdigest() == MNIST_SHA256[name]


def test_download_all_mirrors_fail(isolated, tmp_path, monkeypatch):
    corrupt = copy_test_split(tmp_path / "corrupt-mirror")
    for name in TEST_FILES:
        tamper(corrupt / name)
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", [corrupt.as_uri()])
    with pytest.raises(FileNotFoundError) as info:
        load_mnist("test")
    msg = str(info.value)
    assert "SHA-256 mismatch" in msg and corrupt.as_uri() in msg
    assert "PYROLITE_MNIST_DIR" in msg and "root=" in msg
    assert os.listdir(isolated) == []  # the corrupt download was removed


def test_download_mnist_into_dest(tmp_path):
    dest = download_mnist("test", dest=tmp_path / "dest", mirrors=[DATA.as_uri()])
    assert sorted(p.name for p in dest.iterdir()) == sorted(TEST_FILES)
    _, labels = load_mnist("test", root=dest, download=False)
    assert labels.shape == (10000,)
