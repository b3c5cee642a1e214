"""Recorders: forward hooks that capture a named module's output or input inside ``with``."""
import pytest
import torch
from torch import nn

from mmkd.distill.recorders import ModuleRecorder, RecorderGroup

WHERE = 'model.distiller.recorders.student'


class TwoOutputs(nn.Module):
    """Returns a tuple ``(x + 1, x * 2)`` and takes a second positional argument."""

    def forward(self, x, y=None):
        return x + 1, x * 2


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        self.pair = TwoOutputs()
        self.unused = nn.Linear(2, 2)

    def forward(self, x):
        out = self.body(x)
        first, second = self.pair(out, out * 10)
        return first + second


def make_net():
    torch.manual_seed(0)
    return Net()


def test_output_input_and_index_capture():
    net = make_net()
    x = torch.randn(5, 3)
    group = RecorderGroup(net, dict(
        hidden='body.0',                                    # output of the first Linear
        relu_in=dict(source='body.1', kind='input'),        # first positional input of ReLU
        pair_second=dict(source='pair', index=1),           # element 1 of a tuple output
        pair_in_second=dict(source='pair', kind='input', index=1),
        pair_all='pair'), WHERE)
    with group:
        out = net(x)
    hidden = net.body[0](x)
    body_out = net.body(x)
    torch.testing.assert_close(group.get('hidden', 'w'), hidden)
    torch.testing.assert_close(group.get('relu_in', 'w'), hidden)
    torch.testing.assert_close(group.get('pair_second', 'w'), body_out * 2)
    torch.testing.assert_close(group.get('pair_in_second', 'w'), body_out * 10)
    whole = group.get('pair_all', 'w')
    assert isinstance(whole, tuple) and len(whole) == 2
    torch.testing.assert_close(whole[0], body_out + 1)
    torch.testing.assert_close(out, whole[0] + whole[1])


def test_input_defaults_to_first_positional_argument():
    recorder = ModuleRecorder('pair', kind='input')
    assert recorder.index == 0
    assert ModuleRecorder('pair').index is None


def test_hooks_removed_after_with_and_data_not_overwritten():
    net = make_net()
    group = RecorderGroup(net, dict(hidden='body.0'), WHERE)
    linear = net.body[0]
    assert len(linear._forward_hooks) == 0          # attaching does not hook yet
    x1, x2 = torch.randn(2, 3), torch.randn(2, 3)
    with group:
        assert len(linear._forward_hooks) == 1
        net(x1)
    assert len(linear._forward_hooks) == 0
    captured = group.get('hidden', 'w')
    net(x2)                                         # outside the with: not recorded
    assert group.get('hidden', 'w') is captured
    torch.testing.assert_close(captured, linear(x1))
    # A new ``with`` clears the old value before the forward.
    with group:
        pass
    with pytest.raises(RuntimeError, match="'body.0'"):
        group.get('hidden', 'w')


def test_hooks_removed_when_forward_raises():
    net = make_net()
    group = RecorderGroup(net, dict(hidden='body.0'), WHERE)
    with pytest.raises(RuntimeError):
        with group:
            net(torch.randn(2, 7))                  # wrong width: Linear raises
    assert len(net.body[0]._forward_hooks) == 0


def test_unknown_module_path_names_path_and_config_key():
    with pytest.raises(KeyError, match=r"model\.distiller\.recorders\.student\.feat: module "
                                       r"'body\.9' does not exist in Net"):
        RecorderGroup(make_net(), dict(feat='body.9'), WHERE)


def test_bad_recorder_config():
    with pytest.raises(ValueError, match="kind must be 'output' or 'input', got 'grad'"):
        RecorderGroup(make_net(), dict(feat=dict(source='body.0', kind='grad')), WHERE)
    with pytest.raises(TypeError, match=r'model\.distiller\.recorders\.student\.feat: .*'
                                        r'expected a module path'):
        RecorderGroup(make_net(), dict(feat=dict(source='body.0', layer=3)), WHERE)


def test_module_not_called_raises_naming_it():
    net = make_net()
    group = RecorderGroup(net, dict(skipped='unused', hidden='body.0'), WHERE)
    with group:
        net(torch.randn(2, 3))
    group.get('hidden', 'x')
    with pytest.raises(RuntimeError, match=r"loss_x \(ref\): module 'unused' was not called in "
                                           r"the last forward pass, so recorder 'skipped' "
                                           r'holds nothing'):
        group.get('skipped', 'loss_x (ref)')
