"""The public names of pyrolite.distributions."""

import torch

import pyrolite.distributions as dist


def test_public_names_exist():
    for name in dist.__all__:
        assert hasattr(dist, name), name
    for name in [
        "Delta",
        "Unit",
        "MaskedDistribution",
        "ImproperUniform",
        "TorchDistribution",
        "TorchDistributionMixin",
        "ScoreParts",
        "constraints",
        "transforms",
        "biject_to",
        "transform_to",
        "kl_divergence",
        "register_kl",
        "enable_validation",
        "is_validation_enabled",
        "Distribution",
    ]:
        assert name in dist.__all__, name


def test_torch_objects_are_reexported_not_copied():
    assert dist.Distribution is torch.distributions.Distribution
    assert dist.kl_divergence is torch.distributions.kl_divergence
    assert dist.register_kl is torch.distributions.register_kl


def test_submodule_imports():
    from pyrolite.distributions import biject_to, constraints, transform_to, transforms

    assert constraints.real is torch.distributions.constraints.real
    assert transforms.ExpTransform is torch.distributions.transforms.ExpTransform
    assert biject_to(constraints.real) == torch.distributions.transforms.identity_transform
    assert transform_to is dist.transform_to
