import os
import pickle
import stat
import struct
import subprocess
import sys
import threading

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


# ----------------------------------------------------------------------------------------------
# file-level robustness: long names, non-regular files, stale temp files, symlinks


def _temp_name_during_save(path, monkeypatch):
    """Save to ``path`` and return the name of the temp file that the save wrote."""
    seen = []
    real_save = torch.save

    def spying_save(obj, f, *args, **kwargs):
        seen.extend(n for n in os.listdir(os.path.dirname(os.path.realpath(path))) if ".tmp" in n)
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", spying_save)
    save_tensors({"x": torch.ones(1)}, path, kind="k")
    monkeypatch.undo()
    assert len(seen) == 1
    return seen[0]


def _with_pid(temp_name, pid):
    """``temp_name`` as if written by process ``pid`` (the pid is its third field from the end)."""
    head, own_pid, token, suffix = temp_name.rsplit(".", 3)
    assert own_pid == str(os.getpid()) and suffix == "tmp"
    return f"{head}.{pid}.{token}.tmp"


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("basename", ["c" * 249 + ".pt", "é" * 125 + ".pt"])
def test_long_basename_round_trip(tmp_path, monkeypatch, basename):
    assert len(os.fsencode(basename)) >= 252
    path = tmp_path / basename
    temp = _temp_name_during_save(path, monkeypatch)
    assert len(os.fsencode(temp)) <= 255
    assert temp.startswith("." + basename[:100])
    save_tensors({"x": torch.arange(3)}, path, kind="k")
    assert torch.equal(load_tensors(path, kind="k")["x"], torch.arange(3))
    assert os.listdir(tmp_path) == [basename]


def _load_in_thread(path):
    outcome = []

    def run():
        try:
            load_tensors(path, kind="k")
        except BaseException as err:  # handed to the test thread
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    return thread, outcome


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_load_refuses_fifo_without_blocking(tmp_path):
    path = tmp_path / "pipe.pt"
    os.mkfifo(path)
    thread, outcome = _load_in_thread(path)
    if thread.is_alive():  # a regression blocks in open(): give it a writer so it ends
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=10)
        pytest.fail("load_tensors blocked on a FIFO")
    assert len(outcome) == 1 and isinstance(outcome[0], CheckpointError)
    message = str(outcome[0])
    assert "pipe.pt" in message and "FIFO" in message and "not a regular file" in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_load_refuses_symlink_to_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", tmp_path / "link.pt")
    thread, outcome = _load_in_thread(tmp_path / "link.pt")
    if thread.is_alive():
        os.close(os.open(tmp_path / "pipe", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("load_tensors blocked on a FIFO")
    assert isinstance(outcome[0], CheckpointError)
    assert "FIFO" in str(outcome[0]) and "through the symlink" in str(outcome[0])


def test_load_refuses_directory(tmp_path):
    (tmp_path / "ckpt.pt").mkdir()
    with pytest.raises(CheckpointError, match="is a directory.*not a regular file") as info:
        load_tensors(tmp_path / "ckpt.pt", kind="k")
    assert "ckpt.pt" in str(info.value) and "save()" in str(info.value)


def test_save_refuses_directory(tmp_path):
    (tmp_path / "ckpt.pt").mkdir()
    with pytest.raises(CheckpointError, match="is a directory, not a regular file"):
        save_tensors({"x": torch.ones(1)}, tmp_path / "ckpt.pt", kind="k")
    assert os.listdir(tmp_path) == ["ckpt.pt"]
    assert os.listdir(tmp_path / "ckpt.pt") == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_save_refuses_fifo(tmp_path):
    path = tmp_path / "pipe.pt"
    os.mkfifo(path)
    with pytest.raises(CheckpointError, match="is a FIFO.*not a regular file"):
        save_tensors({"x": torch.ones(1)}, path, kind="k")
    assert stat.S_ISFIFO(os.stat(path).st_mode)
    assert os.listdir(tmp_path) == ["pipe.pt"]


posix_only = pytest.mark.skipif(os.name != "posix", reason="stale temp cleanup is POSIX-only")


@posix_only
def test_save_removes_temp_of_dead_writer(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    stale = tmp_path / _with_pid(_temp_name_during_save(path, monkeypatch), _dead_pid())
    stale.write_bytes(b"half a checkpoint")
    save_tensors({"x": torch.zeros(2)}, path, kind="k")
    assert os.listdir(tmp_path) == ["ckpt.pt"]


@posix_only
def test_save_keeps_other_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    own = _temp_name_during_save(path, monkeypatch)
    other = _temp_name_during_save(tmp_path / "other.pt", monkeypatch)
    dead = _dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = [
            _with_pid(own, sleeper.pid),  # a save in progress in a live process
            _with_pid(own, 1),  # alive (PermissionError unless we are root)
            _with_pid(own, os.getpid()),  # this process's own
            _with_pid(other, dead),  # another target's
            f".ckpt.pt.{dead}.tmp",  # not pyrolite's pattern
            _with_pid(own, dead) + ".bak",
            _with_pid(own, dead)[1:],
            _with_pid(own, "0" + str(dead)),
        ]
        for name in keep:
            (tmp_path / name).write_bytes(b"x")
        save_tensors({"x": torch.zeros(2)}, path, kind="k")
        assert sorted(os.listdir(tmp_path)) == sorted([*keep, "ckpt.pt", "other.pt"])
    finally:
        sleeper.kill()
        sleeper.wait()


@posix_only
def test_cut_long_names_keep_targets_apart(tmp_path, monkeypatch):
    # two 250-byte names that differ only past the cut share the cut prefix of the temp name
    a, b = tmp_path / ("n" * 246 + "a.pt"), tmp_path / ("n" * 246 + "b.pt")
    temp_a = _temp_name_during_save(a, monkeypatch)
    temp_b = _temp_name_during_save(b, monkeypatch)
    assert temp_a.split(".")[1] == temp_b.split(".")[1]  # the cut basename
    dead = _dead_pid()
    (tmp_path / _with_pid(temp_a, dead)).write_bytes(b"x")
    (tmp_path / _with_pid(temp_b, dead)).write_bytes(b"x")
    save_tensors({"x": torch.zeros(2)}, a, kind="k")
    assert sorted(os.listdir(tmp_path)) == sorted([a.name, b.name, _with_pid(temp_b, dead)])


_KILLED_SAVER = """
import io, sys, time
import torch
from pyrolite import checkpoint

real_save = torch.save

def slow_save(obj, f):
    buffer = io.BytesIO()
    real_save(obj, buffer)
    data = buffer.getvalue()
    f.write(data[: len(data) // 2])
    f.flush()
    print("writing", flush=True)
    time.sleep(60)

checkpoint.torch.save = slow_save
checkpoint.save_tensors({"w": torch.randn(1_000_000)}, sys.argv[1], kind="k")
"""


@posix_only
def test_save_cleans_up_after_killed_save(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_tensors({"x": torch.ones(3)}, path, kind="k")
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SAVER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "writing\n"
    finally:
        child.kill()  # SIGKILL: no cleanup handler of the child runs
        child.wait()
        child.stdout.close()
    leftovers = [n for n in os.listdir(tmp_path) if n != "ckpt.pt"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")
    assert os.path.getsize(tmp_path / leftovers[0]) > 1_000_000
    assert torch.equal(load_tensors(path, kind="k")["x"], torch.ones(3))
    save_tensors({"x": torch.zeros(3)}, path, kind="k")
    assert os.listdir(tmp_path) == ["ckpt.pt"]
    assert torch.equal(load_tensors(path, kind="k")["x"], torch.zeros(3))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_save_through_symlink_keeps_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "ckpt.pt"
    save_tensors({"x": torch.zeros(2)}, target, kind="k")
    os.chmod(target, 0o640)
    link = tmp_path / "links" / "ckpt.pt"
    os.symlink(target, link)
    save_tensors({"x": torch.ones(2)}, link, kind="k")
    assert os.path.islink(link) and os.readlink(link) == str(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert torch.equal(load_tensors(link, kind="k")["x"], torch.ones(2))
    assert torch.equal(load_tensors(target, kind="k")["x"], torch.ones(2))
    assert os.listdir(tmp_path / "links") == ["ckpt.pt"]
    assert os.listdir(tmp_path / "real") == ["ckpt.pt"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_save_through_dangling_symlink_creates_target(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "new.pt"
    link = tmp_path / "link.pt"
    os.symlink(os.path.join("real", "new.pt"), link)  # relative, as links often are
    save_tensors({"x": torch.ones(2)}, link, kind="k")
    assert os.path.islink(link)
    assert os.path.isfile(target)
    assert torch.equal(load_tensors(link, kind="k")["x"], torch.ones(2))
    assert os.listdir(tmp_path / "real") == ["new.pt"]
