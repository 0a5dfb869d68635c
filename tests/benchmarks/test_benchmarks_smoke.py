"""The benchmark scripts run end to end on tiny settings and write their JSON."""

import json
import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks")
sys.path.insert(0, os.path.abspath(BENCH))


@pytest.mark.parametrize(
    "module, argv, key",
    [
        ("overhead", ["--repeats", "1", "--runs", "3"], "overhead_us_per_site"),
        ("svi_overhead", ["--repeats", "1", "--steps", "5", "--warmup", "2"], "ratio_to_torch"),
        ("many_sites", ["--repeats", "1", "--steps", "2", "--warmup", "1"], "ratio_to_torch"),
        ("vae_mnist", ["--epochs", "1", "--limit", "600"], "ratio_to_torch"),
    ],
)
def test_benchmark_runs(module, argv, key, tmp_path):
    main = __import__(module).main
    out = tmp_path / f"{module}.json"
    result = main(argv + ["--out", str(out)])
    assert json.loads(out.read_text())[key] == pytest.approx(result[key])
    assert "pyrolite" in result[key]


def test_vae_contenders_agree_to_float_rounding(tmp_path):
    """Same weights, batches and noise: every contender computes the same losses."""
    result = __import__("vae_mnist").main(
        ["--epochs", "1", "--limit", "1000", "--out", str(tmp_path / "w2.json")]
    )
    losses = result["train_loss_per_image"]
    for name, values in losses.items():
        assert values == pytest.approx(losses["torch"], rel=1e-6), name
