"""The main job's tutorial runs in smoke mode on real MNIST and writes its figures."""

import importlib.util
import os

TUTORIAL = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "tutorials", "vae.py")


def test_smoke_run_learns_and_writes_figures(tmp_path):
    spec = importlib.util.spec_from_file_location("vae_tutorial", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--smoke", "--out", str(tmp_path)])
    for name in ("elbo.png", "reconstructions_and_samples.png", "embedding.png"):
        assert os.path.getsize(tmp_path / name) > 1000, name
    # one epoch on 1000 images: far from converged, but well above the untrained
    # network's ELBO per image (about -543 = 784 * log(0.5))
    assert result["test_elbo"][0] > -500
