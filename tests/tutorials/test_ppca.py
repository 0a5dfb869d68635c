"""The PPCA tutorial runs in smoke mode, writes its figures, and its fits find the direction."""

import math
import os

from tutorial_loader import load_tutorial


def test_smoke_writes_figures(tmp_path):
    summary = load_tutorial("ppca").main(["--smoke", "--out", str(tmp_path)])
    for name in ("directions.png", "regenerated.png", "losses.png"):
        assert os.path.getsize(tmp_path / name) > 1000, name
    assert set(summary) == {"MAP", "VI"}


def test_short_run_finds_the_principal_direction(tmp_path):
    summary = load_tutorial("ppca").main(["--steps", "400", "--n", "200", "--out", str(tmp_path)])
    # The sample principal direction of n = 200 points with eigenvalues l1 = |w|^2 + s^2 =
    # 5.25, l2 = s^2 = 0.25 has angle sd sqrt(l1 l2 / (n (l1 - l2)^2)) = 0.016 rad ~ 0.9 deg
    # around the truth; 5 deg is over 5 sd.
    for fit in ("MAP", "VI"):
        assert summary[fit]["angle_deg"] < 5.0, fit
    # MAP's z_hat * w_hat leaves only the noise across w: rmse^2 = s^2/2 * chi2_n / n, so
    # rmse = 0.354 with sd 0.354 * sqrt(2 / n) / 2 = 0.018; 0.06 is over 3 sd.
    assert abs(summary["MAP"]["reconstruction_rmse"] - 0.5 / math.sqrt(2)) < 0.06
