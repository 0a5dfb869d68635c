"""The IWAE tutorial runs in smoke mode; a model's 5-sample bound is above its ELBO."""

import os

from tutorial_loader import load_tutorial


def test_smoke(tmp_path):
    results = load_tutorial("iwae").main(["--smoke", "--out", str(tmp_path)])
    assert set(results) == {1, 5}
    # for the k=1 model, the 5-sample bound (common) is tighter than its own 1-sample ELBO;
    # on 200 images the two estimates differ by several nats, far above their Monte Carlo error
    assert results[1]["common_bound"] > results[1]["own_bound"]
    # per-image bounds of a barely trained VAE: between the untrained network's
    # 784 * log(0.5) = -543 and 0
    assert all(-543 < r["own_bound"] < 0 for r in results.values())
    assert os.path.getsize(tmp_path / "iwae_bounds.png") > 1000
