"""ScoreParts: fields and scale_and_mask."""

import torch

from pyrolite.distributions import ScoreParts


def test_fields():
    lp = torch.tensor([1.0, 2.0])
    parts = ScoreParts(lp, 0, lp)
    assert parts.log_prob is lp and parts.score_function == 0 and parts.entropy_term is lp
    assert tuple(parts) == (lp, 0, lp)


def test_scale_and_mask_values():
    lp = torch.tensor([1.0, 2.0, 3.0])
    parts = ScoreParts(lp, lp, 0).scale_and_mask(2.0, torch.tensor([True, False, True]))
    assert isinstance(parts, ScoreParts)
    assert parts.log_prob.tolist() == [2.0, 0.0, 6.0]
    # the score-function part is neither scaled nor masked: the cost it multiplies is
    assert parts.score_function is lp
    assert parts.entropy_term == 0
    assert ScoreParts(lp, 0, lp).scale_and_mask().log_prob is lp


def test_scale_and_mask_selects_rather_than_multiplies():
    # A masked -inf entry becomes 0 (multiplying by the mask would give NaN), and its
    # gradient is exactly 0.
    y = torch.tensor([1.0, 2.0], requires_grad=True)
    lp = y - torch.tensor([0.0, float("inf")])
    parts = ScoreParts(lp, 0, lp).scale_and_mask(scale=3.0, mask=torch.tensor([True, False]))
    assert parts.log_prob.tolist() == [3.0, 0.0]
    parts.log_prob.sum().backward()
    assert y.grad.tolist() == [3.0, 0.0]
