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
    ],
)
def test_benchmark_runs(module, argv, key, tmp_path):
    main = __import__(module).main
    out = tmp_path / f"{module}.json"
    result = main(argv + ["--out", str(out)])
    assert json.loads(out.read_text())[key] == pytest.approx(result[key])
    assert "pyrolite" in result[key]
