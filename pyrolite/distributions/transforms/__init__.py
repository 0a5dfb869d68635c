"""Transforms: everything in ``torch.distributions.transforms``, plus pyrolite's own.

Added here: :class:`OrderedTransform` (for ``constraints.ordered_vector``) and the
normalizing flows, one file each, with Pyro's helper constructors:

- :class:`AffineAutoregressive` / :func:`affine_autoregressive` (IAF/MAF over a MADE);
- :class:`AffineCoupling` / :func:`affine_coupling` (Real NVP);
- :class:`Planar` / :func:`planar` and :class:`Radial` / :func:`radial` (no closed-form
  inverse; the last ``(x, y)`` pair is cached);
- :class:`Permute` / :func:`permute` (reorder the variables between flow layers);
- :class:`TransformModule` (a transform that is an ``nn.Module``) and
  :class:`ComposeTransformModule` (a chain of them, an ``nn.ModuleList``).
"""

from torch.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)

from pyrolite.distributions.transforms.affine_autoregressive import (
    AffineAutoregressive,
    affine_autoregressive,
)
from pyrolite.distributions.transforms.affine_coupling import AffineCoupling, affine_coupling
from pyrolite.distributions.transforms.ordered import OrderedTransform
from pyrolite.distributions.transforms.permute import Permute, permute
from pyrolite.distributions.transforms.planar import Planar, planar
from pyrolite.distributions.transforms.radial import Radial, radial
from pyrolite.distributions.transforms.transform_module import (
    ComposeTransformModule,
    TransformModule,
)

__all__ = [
    "AbsTransform",
    "AffineAutoregressive",
    "AffineCoupling",
    "AffineTransform",
    "CatTransform",
    "ComposeTransform",
    "ComposeTransformModule",
    "CorrCholeskyTransform",
    "CumulativeDistributionTransform",
    "ExpTransform",
    "IndependentTransform",
    "LowerCholeskyTransform",
    "OrderedTransform",
    "Permute",
    "Planar",
    "PositiveDefiniteTransform",
    "PowerTransform",
    "Radial",
    "ReshapeTransform",
    "SigmoidTransform",
    "SoftmaxTransform",
    "SoftplusTransform",
    "StackTransform",
    "StickBreakingTransform",
    "TanhTransform",
    "Transform",
    "TransformModule",
    "affine_autoregressive",
    "affine_coupling",
    "identity_transform",
    "permute",
    "planar",
    "radial",
]
