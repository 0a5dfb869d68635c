"""The flow placement benchmark runs on tiny sizes, agrees across placements, writes JSON."""

import json

import pytest


def test_flow_placement_smoke(tmp_path):
    main = __import__("flow_placement").main
    out = tmp_path / "flow_placement.json"
    argv = ["--dim", "3", "--hidden", "8", "--batch", "4", "--steps", "2", "--warmup", "1"]
    result = main(argv + ["--repeats", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["ratio"] == pytest.approx(result["ratio"]) and result["ratio"] > 0
    assert len(saved["stage_devices"]) == 8
    # the same weights on either placement: the same loss up to float rounding
    first = result["first_loss"]
    assert first["spread"] == pytest.approx(first["one_device"], rel=1e-5)
