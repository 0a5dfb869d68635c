"""The model-parallel VAE tutorial runs in smoke mode: both priors learn, figures written."""

import os

from tutorial_loader import load_tutorial


def test_smoke_run_trains_both_priors_and_writes_figures(tmp_path, capsys):
    result = load_tutorial("model_parallel_vae").main(
        ["--smoke", "--devices", "cpu", "cpu", "--out", str(tmp_path)]
    )
    for name in ("test_elbo.png", "prior_samples.png"):
        assert os.path.getsize(tmp_path / name) > 1000, name
    assert result["stage_devices"] == ["cpu"] * 8
    assert "stage 7 (AffineAutoregressive) on cpu" in capsys.readouterr().out
    # one epoch on 1000 images: well above the untrained network's ELBO per image (about
    # -543 = 784 * log(0.5)) for either prior
    for name in ("Gaussian", "flow"):
        assert result["test_elbo"][name][0] > -500, name
