import os
import pickle
import struct

import pytest
import torch

from pyrolite import checkpoint
from pyrolite.checkpoint import CheckpointError, load_tensors, save_tensors


class NotATensor:
    """A custom class: files holding it must be refused."""


def _payload():
    return {
        "w": torch.arange(1000, dtype=torch.float32),
        "nested": {"b": torch.ones(2, 3, dtype=torch.bfloat16), 3: [1, 2.5, None, True, "s"]},
        "tup": (torch.tensor(1 + 2j), torch.tensor([True, False])),
        "scalar": torch.tensor(3.0),
    }


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b


def test_round_trip(tmp_path):
    path = tmp_path / "ckpt.pt"
    payload = _payload()
    save_tensors(payload, path, kind="test.kind")
    _assert_same(load_tensors(path, kind="test.kind"), payload)
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_saves_detached_compact_tensors(tmp_path):
    big = torch.randn(1000, 1000, requires_grad=True)
    view = big[:2, :3]  # non-contiguous view of a 4 MB storage
    save_tensors({"v": view}, tmp_path / "v.pt", kind="k")
    assert os.path.getsize(tmp_path / "v.pt") < 10_000
    loaded = load_tensors(tmp_path / "v.pt", kind="k")["v"]
    assert not loaded.requires_grad
    assert loaded.is_contiguous()
    assert torch.equal(loaded, view.detach())


def test_map_location(tmp_path):
    save_tensors({"x": torch.ones(2)}, tmp_path / "m.pt", kind="k")
    loaded = load_tensors(tmp_path / "m.pt", kind="k", map_location="cpu")
    assert loaded["x"].device.type == "cpu"


def test_rejects_unsupported_payload(tmp_path):
    with pytest.raises(CheckpointError, match=r"payload\['a'\]\[0\] is a .*NotATensor"):
        save_tensors({"a": [NotATensor()]}, tmp_path / "x.pt", kind="k")
    assert not list(tmp_path.iterdir())


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist; check the path"):
        load_tensors(tmp_path / "nope.pt", kind="k")


@pytest.mark.parametrize("keep", [0, 10, 200, 0.5, -8])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "t.pt"
    save_tensors(_payload(), path, kind="k")
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:n])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        load_tensors(path, kind="k")
    assert "t.pt" in str(info.value)
    assert "save it again" in str(info.value)


def test_tampered_tensor_byte(tmp_path):
    path = tmp_path / "x.pt"
    save_tensors(_payload(), path, kind="k")
    data = bytearray(path.read_bytes())
    where = data.find(struct.pack("<f", 500.0))  # the bytes of w[500]
    assert where > 0
    data[where + 1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch") as info:
        load_tensors(path, kind="k")
    assert "x.pt" in str(info.value)


def test_file_holding_objects(tmp_path):
    path = tmp_path / "obj.pt"
    torch.save({"x": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="holds objects that are not tensors") as info:
        load_tensors(path, kind="k")
    assert "never unpickles arbitrary objects" in str(info.value)


def test_raw_pickle_of_object(tmp_path):
    path = tmp_path / "raw.pkl"
    path.write_bytes(pickle.dumps(NotATensor()))
    with pytest.raises(CheckpointError, match="holds objects that are not tensors"):
        load_tensors(path, kind="k")


def test_wrong_kind(tmp_path):
    path = tmp_path / "optim.pt"
    save_tensors({"x": torch.ones(1)}, path, kind="pyrolite.optim")
    with pytest.raises(CheckpointError, match="holds 'pyrolite.optim' data, not 'pyrolite.params'"):
        load_tensors(path, kind="pyrolite.params")


def test_plain_torch_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"x": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="is not a pyrolite checkpoint"):
        load_tensors(path, kind="k")


def test_unsupported_version(tmp_path):
    path = tmp_path / "future.pt"
    record = {
        "format": "pyrolite.checkpoint",
        "kind": "k",
        "version": 99,
        "sha256": "0" * 64,
        "payload": {},
    }
    torch.save(record, path)
    with pytest.raises(CheckpointError, match="format version 99"):
        load_tensors(path, kind="k")


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_tensors({"x": torch.zeros(3)}, path, kind="k")
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_tensors({"x": torch.ones(3)}, path, kind="k")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.pt"]
    assert torch.equal(load_tensors(path, kind="k")["x"], torch.zeros(3))


def test_failed_rename_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "new.pt"

    def broken_replace(src, dst):
        raise PermissionError("no")

    monkeypatch.setattr(checkpoint.os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        save_tensors({"x": torch.ones(3)}, path, kind="k")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_content(tmp_path):
    path = tmp_path / "c.pt"
    save_tensors({"x": torch.zeros(3)}, path, kind="k")
    save_tensors({"x": torch.ones(4)}, path, kind="k")
    assert torch.equal(load_tensors(path, kind="k")["x"], torch.ones(4))
