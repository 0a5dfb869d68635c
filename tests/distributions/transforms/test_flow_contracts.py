"""What every flow transform must do: exact log-determinants (checked against the autograd
Jacobian), inverses, shapes under TransformedDistribution, gradients to its parameters and
registration of those parameters with ``pyro.module``."""

import copy
import io

import pytest
import torch
from torch.autograd.functional import jacobian

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite.distributions import transforms as T

FLOWS = {
    "iaf": lambda d: T.affine_autoregressive(d),
    "iaf_stable": lambda d: T.affine_autoregressive(d, stable=True),
    "iaf_two_layers": lambda d: T.affine_autoregressive(d, hidden_dims=[3 * d, 2 * d]),
    "coupling": lambda d: T.affine_coupling(d),
    "planar": lambda d: T.planar(d),
    "radial": lambda d: T.radial(d),
    "permute": lambda d: T.permute(d),
    "chain": lambda d: T.ComposeTransformModule(
        [T.planar(d), T.permute(d), T.affine_coupling(d), T.radial(d)]
    ),
}
CLOSED_FORM_INVERSE = {"iaf", "iaf_stable", "iaf_two_layers", "coupling", "permute"}
DIMS = [2, 3, 5]


def _make(name, d):
    flow = FLOWS[name](d).double()
    with torch.no_grad():  # move every parameter off its init so nothing is special
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return flow


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("name", FLOWS)
def test_log_det_matches_autograd_jacobian(name, d):
    flow = _make(name, d)
    xs = torch.randn(4, d, dtype=torch.float64)
    log_det = flow.log_abs_det_jacobian(xs, flow(xs))
    assert log_det.shape == (4,)
    for x, got in zip(xs, log_det, strict=True):
        expected = torch.linalg.slogdet(jacobian(flow, x.clone())).logabsdet
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("name", sorted(CLOSED_FORM_INVERSE))
def test_inverse_reproduces_the_input(name, d):
    flow = _make(name, d)
    x = torch.randn(3, 2, d, dtype=torch.float64)
    y = flow(x).clone()  # a new tensor: no cache hit, the inverse really runs
    x_back = flow.inv(y)
    torch.testing.assert_close(x_back, x, rtol=1e-9, atol=1e-9)
    # and the log-det of the inverse is minus the forward one
    torch.testing.assert_close(
        flow.inv.log_abs_det_jacobian(y, x_back), -flow.log_abs_det_jacobian(x, y)
    )


@pytest.mark.parametrize("name", ["planar", "radial"])
def test_no_closed_form_inverse_except_from_the_cache(name):
    flow = _make(name, 3)
    x = torch.randn(5, 3, dtype=torch.float64)
    y = flow(x)
    assert flow.inv(y) is x
    with pytest.raises(NotImplementedError, match="no closed-form inverse"):
        flow.inv(y.clone())


@pytest.mark.parametrize("name", FLOWS)
def test_transformed_distribution_shapes_and_density(name):
    d = 3
    flow = _make(name, d)
    base = dist.Normal(torch.zeros(4, d, dtype=torch.float64), 1.0)  # batch (4, 3)
    flowed = dist.TransformedDistribution(base, [flow])
    # the transform's event dim 1 turns the base's last batch dim into the event dim
    assert flowed.batch_shape == (4,) and flowed.event_shape == (d,)
    y = flowed.rsample((6,))
    assert y.shape == (6, 4, d)
    log_prob = flowed.log_prob(y)
    assert log_prob.shape == (6, 4)
    # change of variables by hand, from the base draw (its x is the cached inverse)
    x = flow.inv(y)
    expected = base.log_prob(x).sum(-1) - flow.log_abs_det_jacobian(x, y)
    torch.testing.assert_close(log_prob, expected)
    if name in CLOSED_FORM_INVERSE:  # a point the flow did not produce
        z = torch.randn(4, d, dtype=torch.float64)
        x = flow.inv(z)
        expected = base.log_prob(x).sum(-1) - flow.log_abs_det_jacobian(x, z)
        torch.testing.assert_close(flowed.log_prob(z), expected)


@pytest.mark.parametrize("name", sorted(set(FLOWS) - {"permute"}))
def test_gradients_reach_every_parameter(name):
    flow = _make(name, 3)
    flowed = dist.TransformedDistribution(
        dist.Normal(torch.zeros(3, dtype=torch.float64), 1.0).to_event(1), [flow]
    )
    y = flowed.rsample((64,))
    (flowed.log_prob(y).mean() + y.pow(2).mean()).backward()
    for param_name, p in flow.named_parameters():
        assert p.grad is not None, param_name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", sorted(set(FLOWS) - {"permute"}))
def test_pyro_module_registers_the_flow_parameters(name):
    flow = FLOWS[name](3)

    def guide():
        pyro.module("flow", flow)
        base = dist.Normal(torch.zeros(3), 1.0).to_event(1)
        return pyro.sample("z", dist.TransformedDistribution(base, [flow]))

    trace = pyro.poutine.trace(guide).get_trace()
    names = {f"flow$$${n}" for n, _ in flow.named_parameters()}
    assert set(trace.param_nodes) == names
    store = pyro.get_param_store()
    for n, p in flow.named_parameters():
        assert store[f"flow$$${n}"] is p  # shared, so the optimiser trains the flow
    assert trace.nodes["z"].value.shape == (3,)


@pytest.mark.parametrize("name", FLOWS)
def test_deepcopy_and_pickle_after_use(name):
    flow = _make(name, 3)
    x = torch.randn(4, 3, dtype=torch.float64)
    flow(x).sum()  # fills the caches with non-leaf tensors
    copied = copy.deepcopy(flow)
    torch.testing.assert_close(copied(x), flow(x))
    buffer = io.BytesIO()
    torch.save(flow, buffer)
    buffer.seek(0)
    torch.testing.assert_close(torch.load(buffer, weights_only=False)(x), flow(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", FLOWS)
def test_same_numbers_on_cuda(name):
    flow = _make(name, 3)
    x = torch.randn(4, 3, dtype=torch.float64)
    on_cpu = flow(x), flow.log_abs_det_jacobian(x, flow(x))
    flow = flow.to("cuda")  # parameters and buffers (masks, permutations) move together
    xc = x.to("cuda")
    on_gpu = flow(xc), flow.log_abs_det_jacobian(xc, flow(xc))
    for a, b in zip(on_cpu, on_gpu, strict=True):
        torch.testing.assert_close(b.cpu(), a)


def test_composed_log_det_reuses_each_layers_forward():
    # ComposeTransform rebuilds the intermediate values by calling each part again; the parts
    # must hand back what they made instead of running their networks a second time
    flow = T.ComposeTransformModule([T.affine_autoregressive(3), T.affine_autoregressive(3)])
    calls = []
    for part in flow.parts:
        part.arn.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(4, 3)
    y = flow(x)
    ladj = flow.log_abs_det_jacobian(x, y)
    assert len(calls) == 2
    expected = sum(
        part.log_abs_det_jacobian(x_in, part(x_in))
        for part, x_in in zip(flow.parts, [x, flow.parts[0](x)], strict=True)
    )
    torch.testing.assert_close(ladj, expected)
