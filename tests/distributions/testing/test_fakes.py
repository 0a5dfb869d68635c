"""The non-reparameterised fakes: same densities, has_rsample False, score-function parts."""

import pytest
import torch

import pyrolite.distributions as dist
from pyrolite.distributions.testing import fakes

CASES = [
    (fakes.NonreparameterizedBeta, dist.Beta, (torch.tensor([2.0, 3.0]), torch.tensor(1.5))),
    (fakes.NonreparameterizedDirichlet, dist.Dirichlet, (torch.tensor([1.0, 2.0, 3.0]),)),
    (fakes.NonreparameterizedGamma, dist.Gamma, (torch.tensor([2.0, 0.5]), torch.tensor(1.0))),
    (fakes.NonreparameterizedNormal, dist.Normal, (torch.tensor([0.0, 1.0]), torch.tensor(2.0))),
]


@pytest.mark.parametrize("Fake,Real,args", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_fake_scores_like_the_real_one_but_is_not_reparameterised(Fake, Real, args):
    args = tuple(a.clone().requires_grad_() for a in args)
    fake, real = Fake(*args), Real(*args)
    assert isinstance(fake, Real)
    assert fake.has_rsample is False and real.has_rsample is True
    x = real.sample((5,))
    torch.testing.assert_close(fake.log_prob(x), real.log_prob(x))
    assert not fake().requires_grad
    parts = fake.score_parts(x)
    assert parts.score_function is parts.log_prob and parts.entropy_term == 0
    # expand keeps the class, hence the flag
    e = fake.expand_by([3])
    assert type(e) is Fake and e.has_rsample is False


def test_fakes_match_pyro_names():
    pyro_fakes = pytest.importorskip("pyro.distributions.testing.fakes")
    names = {n for n in dir(pyro_fakes) if n.startswith("Nonreparameterized")}
    assert names == set(fakes.__all__)
