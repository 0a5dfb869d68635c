import pytest
import torch

import pyrolite as pyro
from pyrolite.constraint_codec import decode_constraint, encode_constraint
from pyrolite.distributions import constraints


@pytest.mark.parametrize(
    "name", ["integer", "softplus_positive", "ordered_vector", "positive_ordered_vector"]
)
def test_pyrolite_constraints_encode_as_names(name):
    c = getattr(constraints, name)
    assert encode_constraint(c) == {"name": name}
    assert decode_constraint({"name": name}) is c


def test_param_with_pyrolite_constraint_survives_save_load(tmp_path):
    pyro.param("o", torch.tensor([0.1, 0.5, 2.0]), constraint=constraints.positive_ordered_vector)
    path = tmp_path / "params.pt"
    pyro.get_param_store().save(path)
    pyro.clear_param_store()
    pyro.get_param_store().load(path)
    assert torch.allclose(pyro.param("o"), torch.tensor([0.1, 0.5, 2.0]))
    assert pyro.get_param_store().constraint("o") is constraints.positive_ordered_vector


def test_unknown_encoding_is_an_error():
    with pytest.raises(ValueError, match="unknown constraint encoding"):
        decode_constraint({"name": "no_such_constraint"})
