"""DistributedFlow: placement, equality with the unplaced flow (values and gradients), errors.

Runs on whatever devices this process sees: XLA virtual devices in the XLA job, CUDA devices
on a GPU machine, else four "cpu" entries (placement logic and caching still exercised).
"""

import copy
import gc

import pytest
import torch
from flow_stages import (
    AffineStage,
    ForwardOnlyStage,
    TrackedStage,
    affine_stages,
    placement_devices,
)
from torch.distributions.transforms import ComposeTransform, ExpTransform

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.parallel import DistributedFlow, place_stages
from pyrolite.parallel.devices import xla_device_count

DIM = 5
# float32 sums of a few dozen terms: rounding differs by ordering/backends only
TOL = dict(rtol=1e-5, atol=1e-5)


def placed_and_plain(n=8):
    stages = affine_stages(n, DIM)
    plain = ComposeTransform(copy.deepcopy(stages))
    return DistributedFlow(stages, placement_devices()), plain


@pytest.mark.parametrize(
    "stages, devices, expected",
    [
        (8, 4, [0, 0, 1, 1, 2, 2, 3, 3]),
        (5, 3, [0, 0, 1, 1, 2]),
        (8, 3, [0, 0, 0, 1, 1, 1, 2, 2]),
        (2, 4, [0, 1]),
        (3, 1, [0, 0, 0]),
    ],
)
def test_place_stages_contiguous_blocks(stages, devices, expected):
    assert place_stages(stages, devices) == expected


def test_every_parameter_lives_on_its_stage_device():
    flow, _ = placed_and_plain()
    devices = placement_devices()
    expected = [torch.device(devices[i]) for i in place_stages(8, len(devices))]
    assert flow.stage_devices == expected
    for stage, device in zip(flow.stages, flow.stage_devices, strict=True):
        for p in stage.parameters():
            assert p.device == device
    assert len(list(flow.parameters())) == 16


def test_forward_inverse_and_log_det_equal_the_unplaced_flow():
    flow, plain = placed_and_plain()
    x = torch.randn(7, DIM)
    y = flow(x)
    assert y.device == x.device and y.shape == (7, DIM)
    torch.testing.assert_close(y, plain(x), **TOL)
    ladj = flow.log_abs_det_jacobian(x, y)
    assert ladj.shape == (7,) and ladj.device == x.device
    torch.testing.assert_close(ladj, plain.log_abs_det_jacobian(x, plain(x)), **TOL)
    torch.testing.assert_close(flow.inv(y), x, **TOL)
    # a pair that is not the latest call's: the stages are run again from x
    x2 = torch.randn(3, DIM)
    y2 = plain(x2)
    torch.testing.assert_close(
        flow.log_abs_det_jacobian(x2, y2), plain.log_abs_det_jacobian(x2, y2), **TOL
    )


def test_log_prob_and_gradients_equal_the_unplaced_flow():
    flow, plain = placed_and_plain()
    base = dist.Normal(torch.zeros(DIM), torch.ones(DIM)).to_event(1)
    y = torch.randn(11, DIM)
    lp = dist.TransformedDistribution(base, [flow]).log_prob(y)
    lp_plain = dist.TransformedDistribution(base, [plain]).log_prob(y)
    torch.testing.assert_close(lp, lp_plain, **TOL)
    lp.sum().backward()
    lp_plain.sum().backward()
    for placed, ref in zip(flow.stages, plain.parts, strict=True):
        for name, p in placed.named_parameters():
            torch.testing.assert_close(p.grad.cpu(), getattr(ref, name).grad, **TOL)


def test_rsample_then_log_prob_needs_no_inverse():
    stages = [ForwardOnlyStage(DIM, seed) for seed in range(4)]
    plain = ComposeTransform(copy.deepcopy(stages))
    flow = DistributedFlow(stages, placement_devices())
    base = dist.Normal(torch.zeros(DIM), torch.ones(DIM)).to_event(1)
    q = dist.TransformedDistribution(base, [flow])
    pyro.set_rng_seed(1)
    z = q.rsample((6,))
    pyro.set_rng_seed(1)
    x = base.rsample((6,))
    torch.testing.assert_close(z, plain(x), **TOL)
    expected = base.log_prob(x) - plain.log_abs_det_jacobian(x, plain(x))
    torch.testing.assert_close(q.log_prob(z), expected, **TOL)
    with pytest.raises(NotImplementedError):
        q.log_prob(z.clone())


def test_stateless_stages_and_event_dims_mix():
    stages = [AffineStage(DIM, 0), ExpTransform(), AffineStage(DIM, 1)]
    plain = ComposeTransform(copy.deepcopy(stages))
    flow = DistributedFlow(stages, placement_devices())
    assert flow.domain.event_dim == 1 and flow.codomain.event_dim == 1
    x = torch.randn(4, DIM)
    y = flow(x)
    torch.testing.assert_close(y, plain(x), **TOL)
    torch.testing.assert_close(
        flow.log_abs_det_jacobian(x, y), plain.log_abs_det_jacobian(x, plain(x)), **TOL
    )


def test_pyro_module_registers_every_stage_parameter():
    flow, _ = placed_and_plain(3)
    pyro.module("flow", flow)
    names = set(pyro.get_param_store().keys())
    assert {f"flow$$$stages.{i}.{p}" for i in range(3) for p in ("loc", "log_scale")} <= names


def test_errors_name_the_problem_and_the_fix():
    with pytest.raises(ValueError, match="at least one stage"):
        DistributedFlow([], ["cpu"])
    with pytest.raises(ValueError, match="at least one device"):
        DistributedFlow(affine_stages(2, DIM), [])
    with pytest.raises(ValueError, match="unknown device 'gpu0'.*'cpu', 'cuda:i', 'xla:i'"):
        DistributedFlow(affine_stages(2, DIM), ["gpu0"])
    with pytest.raises(TypeError, match="stage 1 is a Linear"):
        DistributedFlow([AffineStage(DIM, 0), torch.nn.Linear(2, 2)], ["cpu"])
    missing = torch.cuda.device_count()
    with pytest.raises(RuntimeError, match=f"cuda:{missing} is not available.*'cpu'"):
        DistributedFlow(affine_stages(2, DIM), ["cpu", f"cuda:{missing}"])
    count = xla_device_count()
    message = "install torch_xla" if count == 0 else f"sees {count} XLA device"
    with pytest.raises(RuntimeError, match=f"xla:{count} is not available.*{message}"):
        DistributedFlow(affine_stages(2, DIM), [f"xla:{count}"])


def test_no_intermediate_outlives_the_values_it_relates():
    stages = [TrackedStage(DIM, seed) for seed in range(4)]
    flow = DistributedFlow(stages, placement_devices())
    base = dist.Normal(torch.zeros(DIM), torch.ones(DIM)).to_event(1)
    q = dist.TransformedDistribution(base, [flow])
    z = q.rsample((5,))
    q.log_prob(z).sum().backward()
    refs = [r for stage in stages for r in stage.outputs]
    # each stage's output is kept for log_abs_det_jacobian while z lives, and only that long
    assert len(refs) == 4 and all(r() is not None for r in refs)
    del z
    gc.collect()
    assert all(r() is None for r in refs)
    # the density direction: the flow's output lives only inside log_prob
    dist.TransformedDistribution(base, [flow.inv]).log_prob(torch.randn(5, DIM)).sum().backward()
    refs = [r for stage in stages for r in stage.outputs[1:]]
    assert len(refs) == 4
    gc.collect()
    assert all(r() is None for r in refs)
