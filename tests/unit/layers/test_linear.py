"""OneDnnLinear: the same layer as nn.Linear (+ ReLU), values and gradients, on both kernels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import recsys.layers.linear as linear_module
from recsys.layers.linear import ONEDNN_MIN_ROWS, OneDnnLinear, onednn_dense_layers, onednn_enabled
from recsys.layers.logit import LogitLinear
from recsys.layers.mlp import MLP

needs_onednn = pytest.mark.skipif(not onednn_enabled(), reason="this PyTorch build has no oneDNN linear")


def _reference(layer: nn.Linear, x: torch.Tensor, relu: bool) -> torch.Tensor:
    y = F.linear(x, layer.weight, layer.bias)
    return torch.relu(y) if relu else y


def _grads(layer: nn.Linear, x: torch.Tensor, forward) -> tuple[torch.Tensor, ...]:
    x = x.clone().requires_grad_(True)
    layer.zero_grad()
    out = forward(x)
    (out * torch.linspace(-1, 1, out.shape[1])).sum().backward()
    return (out.detach(), x.grad, layer.weight.grad.clone()) + ((layer.bias.grad.clone(),) if layer.bias is not None else ())


@needs_onednn
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_onednn_path_matches_linear_in_values_and_gradients(relu: bool, bias: bool,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    kernel = linear_module.onednn_linear
    monkeypatch.setattr(linear_module, "onednn_linear", lambda *a: calls.append(a[0].shape) or kernel(*a))
    torch.manual_seed(0)
    layer = OneDnnLinear(48, 32, bias=bias, relu=relu)
    x = torch.randn(ONEDNN_MIN_ROWS + 5, 48)
    got = _grads(layer, x, layer)
    want = _grads(layer, x, lambda v: _reference(layer, v, relu))
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=2e-5, rtol=1e-5)
    assert calls == [(ONEDNN_MIN_ROWS + 5, 48), (ONEDNN_MIN_ROWS + 5, 32)]  # forward and dX through oneDNN


def test_small_batches_and_the_switch_keep_nn_linear_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    layer = OneDnnLinear(48, 32, relu=True)
    small = torch.randn(ONEDNN_MIN_ROWS - 1, 48)
    assert torch.equal(layer(small), _reference(layer, small, True))
    monkeypatch.setenv("RECSYS_ONEDNN", "0")
    large = torch.randn(ONEDNN_MIN_ROWS, 48)
    assert torch.equal(layer(large), _reference(layer, large, True))


def test_mlp_keeps_its_state_dict_keys_with_relu_in_the_layer() -> None:
    mlp = MLP(8, [4, 4], out_dim=1)
    assert list(mlp.state_dict()) == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias",
                                      "net.4.weight", "net.4.bias"]
    assert isinstance(mlp.net[0], OneDnnLinear) and mlp.net[0].relu and isinstance(mlp.net[1], nn.Identity)
    normed = MLP(8, [4], layer_norm=True)  # the norm sits between: the ReLU stays a module
    assert not normed.net[0].relu and isinstance(normed.net[2], nn.ReLU)


def test_scoring_swap_converts_plain_linears_and_keeps_the_logit_layer() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 8, bias=False), LogitLinear(8, 1)).eval()
    x = torch.randn(ONEDNN_MIN_ROWS, 16)
    with torch.no_grad():
        before, keys = model(x), list(model.state_dict())
        onednn_dense_layers(model)
        after = model(x)
    assert [type(m) for m in model] == [OneDnnLinear, nn.Identity, OneDnnLinear, LogitLinear]
    assert model[0].relu and not model[2].relu and list(model.state_dict()) == keys
    assert torch.allclose(before, after, atol=1e-5)
