"""The benchmark scripts run end to end on tiny settings and write their JSON."""

import json
import math

import pytest


@pytest.mark.parametrize(
    "module, argv, key",
    [
        ("overhead", ["--repeats", "1", "--runs", "3"], "overhead_us_per_site"),
        (
            "svi_overhead",
            ["--repeats", "1", "--steps", "5", "--warmup", "2"]
            + ["--contenders", "torch,torch_raw,pyrolite,pyro,pyro_jit"],
            "ratio_to_torch",
        ),
        (
            "many_sites",
            ["--repeats", "1", "--steps", "2", "--warmup", "1"]
            + ["--contenders", "torch,torch_raw,torch_vec,pyrolite,pyro"],
            "ratio_to_torch",
        ),
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


def test_w1_compiled_step_against_numpyro(tmp_path):
    """The compiled contender records its warm-up with the compilation in it; with NumPyro
    installed the ratio of the compiled step to NumPyro's jitted step is reported."""
    argv = ["--repeats", "2", "--steps", "5", "--warmup", "3"]
    argv += ["--contenders", "torch,pyrolite_compiled,numpyro", "--out", str(tmp_path / "w1.json")]
    result = __import__("svi_overhead").main(argv)
    assert result["warmup_s_incl_compile"]["pyrolite_compiled"] > 0
    contenders = ["torch", "pyrolite_compiled"]
    try:
        import numpyro  # noqa: F401

        contenders.append("numpyro")
        assert result["compiled_to_numpyro"] > 0
        saved = json.loads((tmp_path / "w1.json").read_text())
        assert saved["compiled_to_numpyro"] == pytest.approx(result["compiled_to_numpyro"])
    except ImportError:
        assert result["compiled_to_numpyro"] is None
    # each repeat starts at w_loc = 0 and takes 5 Adam steps of lr 0.01 towards the truth
    # (1, -2, 0.5); Adam's first steps move each entry by about lr, so each is about +-0.05
    for name in contenders:
        w = result["final_w_loc"][name]
        assert [math.copysign(1.0, v) for v in w] == [1.0, -1.0, 1.0], name
        assert all(0.02 < abs(v) < 0.1 for v in w), name


def test_w1b_numpyro_contender():
    """The NumPyro contender of W1b on 3 sites instead of 100 (its jit compile grows with the
    sites): the jitted update returns finite losses and moves the params."""
    pytest.importorskip("numpyro")
    many_sites = __import__("many_sites")
    y = many_sites.make_data(0)
    step = many_sites.numpyro_setup(y, sites=3)(0)
    losses = [step() for _ in range(30)]
    assert all(math.isfinite(v) for v in losses)
    # y (seed 0) is about 6.5, the sum of 100 standard normals plus noise; 3 latents near 0
    # predict ~0: 30 Adam steps of lr 0.01 move their sum by ~0.9, lowering the loss by ~50,
    # while one-draw noise (sd of the sum ~0.17) moves it by ~11 per step
    assert sum(losses[-5:]) < sum(losses[:5])
