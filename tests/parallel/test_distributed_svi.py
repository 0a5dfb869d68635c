"""DistributedSVI: two gloo processes on halves of a batch match one process on the whole;
a failure on one rank raises on both, and leaves the params equal and unstepped."""

import pytest
import torch
from spawn_ranks import run_ranks
from svi_workers import N, fault_main, make_program, rank_main, single_process

import pyrolite as pyro
from pyrolite.infer import Trace_ELBO
from pyrolite.parallel import DistributedSVI


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_two_ranks_on_halves_equal_one_process_on_the_batch(reduction, tmp_path):
    run_ranks(rank_main, 2, str(tmp_path), reduction)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    expected = single_process(reduction)
    assert set(expected["params"]) == {"w_q", "net$$$weight", "net$$$bias"}
    for result in ranks:
        # float32 gradients summed in a different order: rounding only
        assert result["losses"] == pytest.approx(expected["losses"], rel=1e-5)
        for name, value in expected["params"].items():
            torch.testing.assert_close(result["params"][name], value, rtol=1e-5, atol=1e-6)
    # the ranks started from different random inits and moved: equality is not trivial
    assert not torch.allclose(expected["params"]["w_q"], torch.zeros(3))


def test_without_a_process_group_the_error_says_how_to_start_one():
    assert not torch.distributed.is_initialized()
    model, guide = make_program("sum")
    with pytest.raises(RuntimeError, match="init_process_group.*torchrun.*pyrolite.infer.SVI"):
        DistributedSVI(model, guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())


def test_world_of_one_is_plain_svi(tmp_path):
    init = "file://" + str(tmp_path / "rendezvous")
    torch.distributed.init_process_group("gloo", init_method=init, rank=0, world_size=1)
    try:
        model, guide = make_program("sum")
        from svi_workers import data

        x, y = data()
        svi = DistributedSVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
        losses = [svi.step(x, y, torch.arange(N)) for _ in range(3)]
        assert svi.evaluate_loss(x, y, torch.arange(N)) == pytest.approx(
            svi.evaluate_loss(x, y, torch.arange(N))
        )
        assert losses[-1] < losses[0]
        with pytest.raises(ValueError, match="'mean' or 'sum'"):
            DistributedSVI(
                model, guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO(), grad_reduction="x"
            )
    finally:
        torch.distributed.destroy_process_group()


def run_fault(tmp_path, fault: str, at: int) -> list[dict]:
    run_ranks(fault_main, 2, str(tmp_path), fault, at)
    return [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]


def assert_failed_together(ranks, step, own, healthy, synced=True) -> str:
    """Step ``step`` raised on both ranks (rank 1 its own ``own`` error, rank 0 a ``healthy``
    one quoting it); no optimiser step; the others ran in lockstep. Returns rank 1's message.
    ``synced``: whether the params were already equal across ranks when the step failed."""
    healthy_rank, failed_rank = ranks
    _, own_type, own_message = failed_rank["outcomes"][step]
    assert failed_rank["outcomes"][step][0] == "error" and own_type == own
    kind, healthy_type, healthy_message = healthy_rank["outcomes"][step]
    assert kind == "error" and healthy_type == healthy
    assert "DistributedSVI.step failed on rank(s) 1 of 2" in healthy_message
    assert own_message in healthy_message
    for result in ranks:
        assert all(result["grads_cleared"])
        if step > 0:  # no optimiser step: every param as the previous step left it
            for name, value in result["params"][step - 1].items():
                torch.testing.assert_close(result["params"][step][name], value, rtol=0, atol=0)
    if synced:
        for name, value in healthy_rank["params"][step].items():
            torch.testing.assert_close(failed_rank["params"][step][name], value, rtol=0, atol=0)
    # the other steps ran on both ranks, which stayed in lockstep
    for other in {0, 1, 2} - {step}:
        assert healthy_rank["outcomes"][other][0] == failed_rank["outcomes"][other][0] == "ok"
        assert healthy_rank["outcomes"][other][1] == failed_rank["outcomes"][other][1]
    for name, value in healthy_rank["params"][2].items():
        torch.testing.assert_close(failed_rank["params"][2][name], value, rtol=0, atol=0)
        assert not torch.equal(value, healthy_rank["params"][step][name])
    return own_message


@pytest.mark.parametrize("step", [0, 1], ids=["first-step", "later-step"])
def test_inf_in_one_ranks_shard_raises_on_every_rank(step, tmp_path):
    ranks = run_fault(tmp_path, "inf", step)
    # in the first step the first pass fails, before params are broadcast from rank 0
    message = assert_failed_together(ranks, step, "ValueError", "ValueError", synced=step > 0)
    assert message.startswith("the loss is inf: non-finite log density at model site 'y'")
    (_, own_type, own_message), (_, healthy_type, healthy_message) = [
        result["evaluate_loss"] for result in reversed(ranks)
    ]
    assert own_type == healthy_type == "ValueError"
    assert own_message.startswith("the loss is inf")
    assert "DistributedSVI.evaluate_loss failed on rank(s) 1 of 2" in healthy_message
    assert own_message in healthy_message


@pytest.mark.parametrize(
    "error, at_run, step, healthy",
    [
        ("TypeError", 1, 0, "RuntimeError"),  # first step, before the broadcast
        ("ValueError", 2, 0, "ValueError"),  # first step, after the broadcast
        ("ValueError", 3, 1, "ValueError"),
    ],
)
def test_an_exception_in_one_ranks_model_raises_on_every_rank(
    error, at_run, step, healthy, tmp_path
):
    ranks = run_fault(tmp_path, error, at_run)
    message = assert_failed_together(ranks, step, error, healthy, synced=at_run > 1)
    assert message == "user code rejects the rows of rank 1"


def test_a_nonfinite_gradient_on_one_rank_raises_on_every_rank(tmp_path):
    ranks = run_fault(tmp_path, "nan_grad", 3)
    message = assert_failed_together(ranks, 1, "ValueError", "ValueError")
    assert message.startswith("the gradient of param(s) ['w_q'] is NaN or infinite")
