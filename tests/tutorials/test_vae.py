"""The main job's tutorial runs in smoke mode on real MNIST and writes its figures."""

import os

from tutorial_loader import load_tutorial


def test_smoke_run_learns_and_writes_figures(tmp_path):
    result = load_tutorial("vae").main(["--smoke", "--out", str(tmp_path)])
    for name in ("elbo.png", "reconstructions_and_samples.png", "embedding.png"):
        assert os.path.getsize(tmp_path / name) > 1000, name
    # one epoch on 1000 images: far from converged, but well above the untrained
    # network's ELBO per image (about -543 = 784 * log(0.5))
    assert result["test_elbo"][0] > -500


def test_an_interrupted_run_resumes_from_its_checkpoint_bit_for_bit(tmp_path):
    vae = load_tutorial("vae")
    whole = vae.main(["--smoke", "--epochs", "2", "--out", str(tmp_path / "whole")])
    checkpoint = str(tmp_path / "vae.ckpt")
    first = vae.main(
        ["--smoke", "--epochs", "1", "--checkpoint", checkpoint, "--out", str(tmp_path)]
    )
    assert first["test_elbo"] == whole["test_elbo"][:1]
    # started again (new networks, generators reseeded): the networks get their trained weights
    resumed = vae.main(
        ["--smoke", "--epochs", "2", "--checkpoint", checkpoint, "--out", str(tmp_path)]
    )
    assert resumed == whole
