"""The names of Pyro's ``pyro.poutine.runtime`` that pyrolite adds: ``get_plates``,
``get_mask``, ``default_process_message``, ``NonlocalExit.reset_stack`` and the aliases of
the handler stack and the dim allocator."""

import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.poutine import runtime
from pyrolite.poutine.dim_allocator import DIM_ALLOCATOR
from pyrolite.poutine.runtime import Message, default_process_message, get_mask, get_plates


def test_aliases_are_the_same_objects():
    assert runtime._PYRO_STACK is runtime._STACK
    assert runtime._DIM_ALLOCATOR is DIM_ALLOCATOR
    assert not runtime.am_i_wrapped()
    with poutine.trace():
        assert runtime.am_i_wrapped()


def test_get_plates_lists_enclosing_plates():
    assert get_plates() == ()
    with pyro.plate("outer", 5):
        assert [f.name for f in get_plates()] == ["outer"]
        with pyro.plate("inner", 3):
            plates = get_plates()
            assert isinstance(plates, tuple)
            assert [(f.name, f.dim, f.size) for f in plates] == [
                ("outer", -1, 5),
                ("inner", -2, 3),
            ]
    assert get_plates() == ()


def test_get_mask_without_mask_is_none():
    assert get_mask() is None
    with pyro.plate("i", 2):
        assert get_mask() is None


def test_get_mask_combines_enclosing_masks():
    with poutine.mask(mask=False):
        assert get_mask() is False
    mask1 = torch.tensor([False, True, True])
    mask2 = torch.tensor([True, True, False])
    with poutine.mask(mask=mask1):
        with poutine.mask(mask=mask2):
            assert torch.equal(get_mask(), mask1 & mask2)


def test_inspecting_leaves_no_site_in_traces():
    with poutine.trace() as tracer:
        with pyro.plate("i", 2):
            get_plates()
            get_plates()
            pyro.sample("x", dist.Normal(0.0, 1.0))
    assert "_pyro_inspect" not in tracer.trace.nodes


def test_default_process_message():
    msg = Message("sample", "x", lambda: torch.tensor(2.0))
    default_process_message(msg)
    assert msg.value.item() == 2.0 and msg.done
    observed = Message("sample", "y", lambda: 1 / 0, value=torch.tensor(3.0), is_observed=True)
    default_process_message(observed)
    assert observed.value.item() == 3.0 and observed.done


def test_reset_stack_resets_handlers_up_to_the_hiding_block():
    def nested_model():
        pyro.sample("a", dist.Normal(0.0, 1.0))
        with poutine.escape(escape_fn=lambda msg: msg["name"] == "c"):
            pyro.sample("b", dist.Normal(0.0, 1.0))
            pyro.sample("c", dist.Normal(0.0, 1.0))

    with poutine.trace() as outer:
        with poutine.block(hide=["c"]):
            with poutine.trace() as inner:
                try:
                    nested_model()
                except poutine.NonlocalExit as exit_:
                    assert exit_.site.name == "c"
                    exit_.reset_stack()
                    assert "b" not in inner.trace.nodes  # reset
                    assert "b" in outer.trace.nodes  # beyond the block: untouched
