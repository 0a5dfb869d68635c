"""The NUTS benchmark scripts (W3-W5) run end to end on tiny settings and write their JSON.

Contenders whose library is not installed are skipped by the scripts themselves; NumPyro's
compilation dominates (about 20 s per config), so each script runs at most one NumPyro config.
"""

import importlib.util
import json
import math

import pytest

TINY = ["--warmup", "20", "--samples", "20", "--repeats", "1"]


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def expected(configs: list[str]) -> set[str]:
    have = {"pyro": installed("pyro"), "numpyro": installed("numpyro")}
    have["pyrolite"] = True
    return {c for c in configs if have[c.split("_")[0]]}


def run(module: str, argv: list[str], tmp_path) -> dict:
    out = tmp_path / f"{module}.json"
    result = __import__(module).main(argv + ["--out", str(out)])
    assert json.loads(out.read_text())["configs"].keys() == result["configs"].keys()
    return result


def check_config(stats: dict, draws: int) -> None:
    assert stats["wall_s"] > 0
    assert stats["mean_leapfrog_steps"] >= 1
    assert 0 <= stats["divergences"] <= draws
    if "ess_rel_diff_vs_numpyro" in stats and math.isfinite(stats["ess_min"]):
        assert stats["ess_rel_diff_vs_numpyro"] < 1e-5  # one ESS definition: NumPyro's


def test_eight_schools_runs(tmp_path):
    configs = ["pyro_seq", "pyro_mp", "numpyro_vectorized", "pyrolite_batched", "pyrolite_seq"]
    argv = TINY + ["--chains", "2", "--configs", ",".join(configs)]
    result = run("nuts_eight_schools", argv, tmp_path)
    assert set(result["configs"]) == expected(configs)
    for name, stats in result["configs"].items():
        check_config(stats, draws=2 * 20)
        assert set(stats["per_param"]) == {"mu", "tau"} | {f"theta_tilde[{i}]" for i in range(8)}
        if name.startswith("numpyro"):
            assert 0 < stats["compile_s"] < stats["wall_s"]
        else:
            assert stats["compile_s"] is None


def test_logreg_runs(tmp_path):
    configs = ["pyro_seq", "numpyro_sequential", "pyrolite_batched"]
    result = run("nuts_logreg", TINY + ["--configs", ",".join(configs)], tmp_path)
    assert set(result["configs"]) == expected(configs)
    for stats in result["configs"].values():
        check_config(stats, draws=20)
        assert len(stats["per_param"]) == 26


def test_many_chains_extrapolates_pyro(tmp_path):
    configs = ["pyro_seq", "pyrolite_batched"]
    argv = TINY + ["--chains", "8", "--pyro-chains", "2", "--configs", ",".join(configs)]
    result = run("nuts_many_chains", argv, tmp_path)
    assert set(result["configs"]) == expected(configs)
    if "pyro_seq" not in result["configs"]:
        pytest.skip("pyro is not installed")
    measured, extra = result["configs"]["pyro_seq"], result["pyro_extrapolated"]
    assert extra["EXTRAPOLATED"] is True
    assert extra["wall_s_sequential"] == pytest.approx(4 * measured["wall_s"])
    assert extra["wall_s_2_process_ideal"] == pytest.approx(2 * measured["wall_s"])
    assert extra["ess_min"] == pytest.approx(4 * measured["ess_min"], nan_ok=True)
