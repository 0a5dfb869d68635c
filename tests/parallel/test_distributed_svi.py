"""DistributedSVI: two gloo processes on halves of a batch match one process on the whole."""

import pytest
import torch
import torch.multiprocessing as mp
from svi_workers import N, make_program, rank_main, single_process

import pyrolite as pyro
from pyrolite.infer import Trace_ELBO
from pyrolite.parallel import DistributedSVI


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_two_ranks_on_halves_equal_one_process_on_the_batch(reduction, tmp_path):
    mp.spawn(rank_main, args=(2, str(tmp_path), reduction), nprocs=2, join=True)
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
