"""A VAE on MNIST whose prior over z is a normalizing flow spread across devices.

The encoder and decoder are those of ``tutorials/vae.py`` (z of dimension 50). The prior
p(z) is no longer a standard Normal: it is a standard Normal pushed through 8
AffineAutoregressive stages (MADE networks), placed with :class:`DistributedFlow` in
contiguous blocks over ``--devices`` (default: every XLA device if torch_xla sees any, else
every CUDA device, else the CPU). The model scores the guide's z under the prior in the MAF
direction, ``TransformedDistribution(Normal, [flow.inv])``: ``log p(z)`` takes one pass of
each stage (``flow(z)``), the input hopping from device to device and the log-determinant
summed back on z's device. A learned prior can only raise the best ELBO reachable: the
script trains the plain Gaussian-prior VAE and the flow-prior VAE from the same
initialisation and batches, and reports both test ELBOs. Measured (one epoch on the full
training set, seed 0, CPU): test ELBO per image -158.7 with the Gaussian prior and -149.7
with the flow prior (+9.0 nats).

    python tutorials/model_parallel_vae.py [--epochs 10] [--devices xla:0 xla:1 ...]
        [--out outputs/model_parallel_vae] [--mnist-dir DIR] [--smoke]

On four virtual XLA devices (``PJRT_DEVICE=CPU CPU_NUM_DEVICES=4``, torch_xla installed)
the stages run two per device; the copies between them are real but the devices share the
CPU, so it is slower than all on the CPU (see ``benchmarks/flow_placement.py``), and XLA
compiles every new graph (seconds each: new batch shapes, and constants such as Adam's bias
corrections that change from step to step), so use it there for smoke runs only. Each step
ends with :func:`pyrolite.parallel.sync_devices`, which cuts XLA's lazy graphs.
"""

from __future__ import annotations

import argparse
import copy
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from vae import VAE, run_epoch  # noqa: E402

import pyrolite as pyro  # noqa: E402
import pyrolite.distributions as dist  # noqa: E402
from pyrolite.data import load_mnist  # noqa: E402
from pyrolite.distributions.transforms import affine_autoregressive  # noqa: E402
from pyrolite.infer import SVI, Trace_ELBO  # noqa: E402
from pyrolite.parallel import DistributedFlow, available_devices, sync_devices  # noqa: E402


class FlowPriorVAE(VAE):
    """The VAE of ``tutorials/vae.py`` (same networks and guide) with p(z) a placed flow
    (``prior_flow=None``: a standard Normal)."""

    def __init__(self, z_dim: int, hidden_dim: int, prior_flow: DistributedFlow | None) -> None:
        super().__init__(z_dim, hidden_dim)
        self.prior_flow = prior_flow

    def prior(self, batch: int) -> dist.Distribution:
        """p(z) with batch_shape (batch,) and event_shape (z_dim,)."""
        base = dist.Normal(torch.zeros(batch, self.z_dim), 1.0).to_event(1)
        if self.prior_flow is None:
            return base
        return dist.TransformedDistribution(base, [self.prior_flow.inv])

    def model(self, x: torch.Tensor) -> None:
        pyro.module("decoder", self.decoder)
        if self.prior_flow is not None:
            pyro.module("prior_flow", self.prior_flow)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("latent", self.prior(x.shape[0]))
            probs = self.decoder(z)
            pyro.sample("obs", dist.Bernoulli(probs, validate_args=False).to_event(1), obs=x)


class SyncedSVI:
    """``svi.step`` followed by a sync of the flow's devices (XLA's lazy graphs; see
    :func:`pyrolite.parallel.sync_devices`)."""

    def __init__(self, svi: SVI, devices: list[torch.device]) -> None:
        self.svi = svi
        self.devices = devices

    def step(self, x: torch.Tensor) -> float:
        loss = self.svi.step(x)
        sync_devices(self.devices)
        return loss

    def evaluate_loss(self, x: torch.Tensor) -> float:
        return self.svi.evaluate_loss(x)


def save_figures(vaes: dict, curves: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), [-v for v in values], marker="o", label=name)
    ax.set(xlabel="epoch", ylabel="test ELBO per image", title="Gaussian vs flow prior")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "test_elbo.png"), dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(len(vaes), 10, figsize=(10, 1.2 * len(vaes) + 0.3))
    with torch.no_grad():
        for row, (name, vae) in enumerate(vaes.items()):
            images = vae.decoder(vae.prior(10).sample())
            for i in range(10):
                axes[row, i].imshow(images[i].reshape(28, 28).numpy(), cmap="gray")
                axes[row, i].axis("off")
            axes[row, 0].set_title(f"samples, {name} prior", loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "prior_samples.png"), dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--stages", type=int, default=8)
    parser.add_argument("--devices", nargs="*", default=None, help="default: all XLA/CUDA/cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist-dir", default=None, help="folder with MNIST's idx .gz files")
    parser.add_argument("--out", default=os.path.join("outputs", "model_parallel_vae"))
    parser.add_argument("--smoke", action="store_true", help="1 epoch on 1000 images, for tests")
    args = parser.parse_args(argv)

    train_x, _ = load_mnist("train", root=args.mnist_dir)
    test_x, _ = load_mnist("test", root=args.mnist_dir)
    if args.smoke:
        args.epochs = 1
        train_x, test_x = train_x[:1000], test_x[:500]

    devices = args.devices or available_devices()
    pyro.set_rng_seed(args.seed)
    z_dim, hidden_dim = 50, 400
    flow = DistributedFlow([affine_autoregressive(z_dim) for _ in range(args.stages)], devices)
    print("prior flow stages:")
    for i, device in enumerate(flow.stage_devices):
        print(f"  stage {i} ({type(flow.stages[i]).__name__}) on {device}")
    gaussian = FlowPriorVAE(z_dim, hidden_dim, None)
    flow_vae = FlowPriorVAE(z_dim, hidden_dim, flow)
    # the same encoder and decoder weights to start from
    flow_vae.encoder = copy.deepcopy(gaussian.encoder)
    flow_vae.decoder = copy.deepcopy(gaussian.decoder)
    vaes = {"Gaussian": gaussian, "flow": flow_vae}

    curves: dict[str, list[float]] = {}
    for name, vae in vaes.items():
        pyro.clear_param_store()
        pyro.set_rng_seed(args.seed + 1)
        svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": args.lr}), Trace_ELBO())
        svi = SyncedSVI(svi, flow.stage_devices)
        curves[name] = []
        for epoch in range(1, args.epochs + 1):
            train_loss = run_epoch(svi, train_x, args.batch_size, True, f"{name} {epoch}")
            test_loss = run_epoch(svi, test_x, args.batch_size, False, f"{name} {epoch}")
            curves[name].append(test_loss)
            print(
                f"{name:>8} prior, epoch {epoch:3d}  train ELBO {-train_loss:9.3f}  "
                f"test ELBO {-test_loss:9.3f}"
            )
    gain = curves["Gaussian"][-1] - curves["flow"][-1]
    print(f"test ELBO, flow prior minus Gaussian prior: {gain:+.3f} nats per image")
    save_figures(vaes, curves, args.out)
    print(f"figures written to {args.out}")
    return {
        "test_elbo": {name: [-v for v in values] for name, values in curves.items()},
        "stage_devices": [str(d) for d in flow.stage_devices],
    }


if __name__ == "__main__":
    main()
