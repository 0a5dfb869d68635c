"""The README's code is true: its postcard VAE runs and lowers its loss."""

import os
import re

import torch

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def test_postcard_vae_runs_and_learns():
    text = open(README).read()
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    torch.manual_seed(0)
    # a fixed binary "dataset" of 64 images, 8 passes over it in batches of 32
    data = (torch.rand(64, 784) < 0.3).float()
    batches = [data[i : i + 32] for _ in range(8) for i in (0, 32)]
    namespace = {"batches": batches}
    exec(compile(code, "README.md", "exec"), namespace)
    pyro = namespace["pyro"]

    def loss_on(x):
        return namespace["svi"].evaluate_loss(x)

    trained = sum(loss_on(data) for _ in range(5))
    store = pyro.get_param_store()
    assert set(store.keys()) >= {"encoder$$$0.weight", "decoder$$$2.bias"}
    # a freshly initialised network scores the same data worse
    namespace["batches"] = []
    pyro.clear_param_store()
    torch.manual_seed(0)
    exec(compile(code, "README.md", "exec"), namespace)
    fresh = sum(loss_on(data) for _ in range(5))
    assert trained < fresh - 1.0


def test_mcmc_block_runs_and_finds_the_mean():
    text = open(README).read()
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[1]
    namespace = {}
    exec(compile(code.replace("mcmc.summary()", ""), "README.md", "exec"), namespace)
    draws, y = namespace["draws"], namespace["y"]
    assert draws["mu"].shape == (4000,) and draws["sigma"].shape == (4000,)
    # with a flat-ish prior the posterior mean of mu is the sample mean (shrinkage ~1e-4);
    # its sd is ~0.1, so 4000 draws with ESS >= 1000 give an MC error <= 0.003: 0.02 is 6+ MCSE
    assert abs(float(draws["mu"].mean()) - float(y.mean())) < 0.02
    assert abs(float(draws["sigma"].mean()) - float(y.std())) < 0.03
