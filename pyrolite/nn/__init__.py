"""Neural building blocks for flows and guides.

- :class:`AutoRegressiveNN`: a masked autoencoder (MADE) whose output for variable ``i``
  depends only on the variables before ``i`` in a chosen order; it drives the affine
  autoregressive flow (IAF/MAF);
- :class:`DenseNN`: a plain fully connected network that splits its output into named
  parameter blocks; it drives the affine coupling flow (Real NVP);
- :class:`MaskedLinear`: ``nn.Linear`` with a fixed 0/1 mask on its weight.
"""

from pyrolite.nn.auto_reg_nn import AutoRegressiveNN, create_masks
from pyrolite.nn.dense_nn import DenseNN
from pyrolite.nn.masked_linear import MaskedLinear

__all__ = ["AutoRegressiveNN", "DenseNN", "MaskedLinear", "create_masks"]
