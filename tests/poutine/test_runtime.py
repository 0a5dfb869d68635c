import pytest
import torch

import pyrolite as pyro
import pyrolite.distributions as dist
from pyrolite import poutine
from pyrolite.poutine.messenger import Messenger
from pyrolite.poutine.runtime import _STACK, Message, apply_stack, effectful


class Recorder(Messenger):
    def __init__(self, log, tag, stop=False):
        self.log, self.tag, self.stop = log, tag, stop

    def _pyro_sample(self, msg):
        self.log.append(("process", self.tag))
        if self.stop:
            msg.stop = True

    def _pyro_post_sample(self, msg):
        self.log.append(("post", self.tag))


def test_message_reads_like_a_dict():
    msg = Message("sample", "x", None, value=3)
    assert msg["value"] == 3 and msg["name"] == "x"
    assert "log_prob" not in msg
    msg["log_prob"] = 1.0
    assert "log_prob" in msg and msg.get("log_prob") == 1.0
    assert msg.get("nonsense", 7) == 7
    with pytest.raises(KeyError):
        msg["nonsense"]
    with pytest.raises(KeyError, match="no field"):
        msg["nonsense"] = 1
    copy = msg.copy()
    copy.infer["x"] = 1
    assert msg.infer == {} and copy.value == 3


def test_order_innermost_first_then_back():
    log = []
    with Recorder(log, "outer"), Recorder(log, "inner"):
        pyro.sample("x", dist.Normal(0.0, 1.0))
    assert log == [("process", "inner"), ("process", "outer"), ("post", "outer"), ("post", "inner")]


def test_stop_hides_message_from_outer_handlers():
    log = []
    with Recorder(log, "outer"), Recorder(log, "inner", stop=True):
        value = pyro.sample("x", dist.Normal(0.0, 1.0))
    assert log == [("process", "inner"), ("post", "inner")]
    assert value.shape == ()


def test_empty_stack_is_plain_call():
    torch.manual_seed(3)
    expected = dist.Normal(0.0, 1.0).sample()
    torch.manual_seed(3)
    assert torch.equal(pyro.sample("x", dist.Normal(0.0, 1.0)), expected)
    obs = torch.tensor(2.0)
    assert pyro.sample("x", dist.Normal(0.0, 1.0), obs=obs) is obs


def test_stack_restored_after_exception():
    def model():
        pyro.sample("x", dist.Normal(0.0, 1.0))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with poutine.trace():
            with poutine.scale(scale=2.0):
                poutine.block(model)()
    assert _STACK == []
    with pytest.raises(RuntimeError, match="boom"):
        with pyro.plate("a", 3), pyro.plate("b", 4):
            model()
    assert _STACK == []


def test_same_handler_cannot_be_installed_twice():
    h = poutine.scale(scale=2.0)
    with h:
        with pytest.raises(ValueError, match="already active"):
            with h:
                pass
    assert _STACK == []


def test_effectful_user_primitive():
    seen = []

    class Doubler(Messenger):
        def _pyro_my_effect(self, msg):
            seen.append(msg.name)
            msg.value = 2 * msg.args[0]

    @effectful(type="my_effect")
    def ident(x):
        return x

    assert ident(3) == 3  # no handler: plain call
    with Doubler():
        assert ident(3, name="site") == 6
    assert seen == ["site"]
    with pytest.raises(ValueError, match="type"):
        effectful(lambda x: x)


def test_continuation_runs_last():
    calls = []
    msg = Message("sample", "x", lambda: 1.0, continuation=lambda m: calls.append(m.value))
    apply_stack(msg)
    assert calls == [1.0] and msg.done


def test_hooks_resolved_once_per_class():
    class H(Messenger):
        def _pyro_sample(self, msg):
            pass

        def _pyro_post_param(self, msg):
            pass

    assert set(H._process_table) == {"sample"}
    assert set(H._postprocess_table) == {"param"}

    class Everything(Messenger):
        def _process_message(self, msg):
            msg.infer["seen"] = True

    assert Everything._process_table.get("anything") is Everything._process_message
