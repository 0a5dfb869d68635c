"""Importance-weighted autoencoders: the MNIST VAE trained with RenyiELBO(alpha=0, k).

For k in {1, 5, 50} the VAE of ``vae.py`` is trained with the k-sample importance-weighted
bound (k = 1 is the ordinary ELBO); each model is then scored on test images with the
k-sample bound it was trained with and with a common 50-sample bound, as in Table 1 of
Burda, Grosse and Salakhutdinov (2015). Larger k gives a tighter bound on log p(x).
Particles are vectorised (an outer plate), so the model and guide broadcast over them.

    python tutorials/iwae.py [--epochs 2] [--train-size 20000] [--out outputs/iwae] [--smoke]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402
from vae import VAE  # noqa: E402

import pyrolite as pyro  # noqa: E402
from pyrolite.data import load_mnist  # noqa: E402
from pyrolite.infer import SVI, RenyiELBO  # noqa: E402


def bound(vae: VAE, images: torch.Tensor, k: int, batch_size: int = 250) -> float:
    """The k-sample importance-weighted bound per image (nats), averaged over ``images``."""
    elbo = RenyiELBO(alpha=0.0, num_particles=k, vectorize_particles=True, max_plate_nesting=1)
    total = 0.0
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        total -= elbo.loss(vae.model, vae.guide, x)  # the bound summed over the batch
    return total / len(images)


def train(k: int, images: torch.Tensor, epochs: int, batch_size: int, seed: int) -> VAE:
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    vae = VAE()
    elbo = RenyiELBO(alpha=0.0, num_particles=k, vectorize_particles=True, max_plate_nesting=1)
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), elbo)
    for epoch in range(epochs):
        order = torch.randperm(len(images))
        for start in tqdm(
            range(0, len(images), batch_size),
            desc=f"k={k} epoch {epoch + 1}",
            leave=False,
            mininterval=1.0,
        ):
            svi.step(images[order[start : start + batch_size]])
    return vae


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="1,5,50")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=20000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--out", default=os.path.join("outputs", "iwae"))
    parser.add_argument("--smoke", action="store_true", help="tiny run, for tests")
    args = parser.parse_args(argv)
    if args.smoke:
        args.ks, args.epochs, args.train_size, args.test_size = "1,5", 1, 500, 200
    ks = [int(k) for k in args.ks.split(",")]
    train_x, _ = load_mnist("train", root=args.mnist_dir)
    test_x, _ = load_mnist("test", root=args.mnist_dir)
    train_x, test_x = train_x[: args.train_size], test_x[: args.test_size]
    eval_k = max(ks)

    results = {}
    for k in ks:
        vae = train(k, train_x, args.epochs, args.batch_size, args.seed)
        with torch.no_grad():
            own, common = bound(vae, test_x, k), bound(vae, test_x, eval_k)
        results[k] = {"own_bound": own, "common_bound": common}
        print(
            f"k={k:3d}: test {k}-sample bound {own:9.3f}   test {eval_k}-sample bound {common:9.3f}"
        )

    os.makedirs(args.out, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, [results[k]["own_bound"] for k in ks], marker="o", label="own k-sample bound")
    ax.plot(
        ks, [results[k]["common_bound"] for k in ks], marker="s", label=f"{eval_k}-sample bound"
    )
    ax.set(
        xscale="log",
        xlabel="k (particles in training)",
        ylabel="test bound per image (nats)",
        title="IWAE on MNIST",
    )
    ax.legend()
    fig.tight_layout()
    path = os.path.join(args.out, "iwae_bounds.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure written to {path}")
    return results


if __name__ == "__main__":
    main()
