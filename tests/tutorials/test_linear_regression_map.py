"""The interim main job runs in smoke mode, writes its figure and recovers the slope."""

import os

from tutorial_loader import load_tutorial


def test_smoke_writes_figure(tmp_path):
    fitted = load_tutorial("linear_regression_map").main(["--smoke", "--out", str(tmp_path)])
    assert os.path.getsize(tmp_path / "linear_regression_map.png") > 1000
    assert set(fitted) == {"w_map", "b_map", "sigma_map"}


def test_full_run_recovers_coefficients(tmp_path):
    fitted = load_tutorial("linear_regression_map").main(
        ["--steps", "600", "--n", "200", "--out", str(tmp_path)]
    )
    # data: y = 1.5 x - 0.7 + 0.4 noise on 200 points; the MAP is within a few sd of truth
    # (sd of the slope ~ 0.4 / sqrt(sum x^2) ~ 0.016, of the intercept ~ 0.03)
    assert abs(fitted["w_map"] - 1.5) < 0.1
    assert abs(fitted["b_map"] + 0.7) < 0.15
    assert abs(fitted["sigma_map"] - 0.4) < 0.08
