"""Data sets for examples and tests, read from local files and checked against their SHA-256."""

from pyrolite.data.mnist import (
    MNIST_MIRRORS,
    MNIST_SHA256,
    REPO_MNIST_DIR,
    download_mnist,
    load_mnist,
    mnist_cache_dir,
    read_idx,
)

__all__ = [
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "REPO_MNIST_DIR",
    "download_mnist",
    "load_mnist",
    "mnist_cache_dir",
    "read_idx",
]
