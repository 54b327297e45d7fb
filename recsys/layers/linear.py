"""A dense layer that runs its fp32 CPU matmuls through oneDNN for large batches.

On CPU, PyTorch's fp32 ``nn.Linear`` is MKL's ``sgemm``. On the AVX2-only AMD machine this
project measures on, oneDNN's linear (``torch.ops.mkldnn._linear_pointwise``, the kernel
``torch.compile``'s CPU freezing uses, with the ReLU fused into it) ran DeepFM's 400x3 MLP
forward 1.15-1.26x faster than MKL (8,192 rows, 2 threads, alternating in one process:
``benchmarks/onednn.py``, which also steps whole models both ways), and the input gradient
``dX = g W`` as a oneDNN linear over ``W^T`` at 65-94 GFLOP/s against 39-78
(``benchmarks/gemm_shapes.py`` compares every product per layer shape). The weight gradient
stays on MKL: oneDNN needs both operands transposed and copied and measured slower.

Results are fp32 with another summation order (logits within a few 1e-6 of MKL's). Small
batches keep MKL: oneDNN builds a kernel per new shape (2-5 ms the first time), which a
service's varying micro-batch sizes would pay again and again, and below a thousand rows it
measured no faster. Under autocast, on GPU or in another dtype the layer is a plain
``nn.Linear``. ``RECSYS_ONEDNN=0`` keeps MKL throughout.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

ONEDNN_MIN_ROWS = 2048
"""Batches of at least this many rows go through oneDNN (training batches of 4,096, ``recsys
score``'s model calls of 8,192); smaller ones through MKL."""


@functools.lru_cache(maxsize=None)
def _hasonednn_linear() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def onednn_enabled() -> bool:
    """Whether this PyTorch has oneDNN's fused linear and ``RECSYS_ONEDNN`` is not ``0``."""
    return os.environ.get("RECSYS_ONEDNN", "1") != "0" and _hasonednn_linear()


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], relu: bool) -> torch.Tensor:
    """``relu?(x W^T + b)`` by oneDNN, ``x``: ``(B, in)`` row-major, ``weight``: ``(out, in)``."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "relu" if relu else "none", [], "")


class _OneDnnLinearFunction(torch.autograd.Function):
    """``relu?(x W^T + b)`` forward and ``dX`` through oneDNN, ``dW = g^T x`` and ``db`` as autograd forms them."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                relu: bool) -> torch.Tensor:
        y = onednn_linear(x, weight, bias, relu)
        ctx.relu, ctx.has_bias = relu, bias is not None
        ctx.save_for_backward(x, weight, y if relu else None)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
        x, weight, y = ctx.saved_tensors
        g = g.contiguous()
        if ctx.relu:
            g = torch.ops.aten.threshold_backward(g, y, 0)
        dx = onednn_linear(g, weight.t().contiguous(), None, False) if ctx.needs_input_grad[0] else None
        dw = g.t().mm(x) if ctx.needs_input_grad[1] else None
        db = g.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db, None


class OneDnnLinear(nn.Linear):
    """``(B, in) -> (B, out)``, an ``nn.Linear`` (same parameters and state-dict keys) whose
    ReLU, when ``relu``, is part of the layer; fp32 CPU batches of :data:`ONEDNN_MIN_ROWS` rows
    or more go through oneDNN (forward and input gradient), the rest as ``nn.Linear``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, relu: bool = False,
                 device: Any = None) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device)
        self.relu = relu

    @classmethod
    def of(cls, linear: nn.Linear, relu: bool) -> "OneDnnLinear":
        """The same layer (its parameters, not copies) as a :class:`OneDnnLinear`."""
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, relu=relu, device="meta")
        layer.weight, layer.bias = linear.weight, linear.bias
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.dim() == 2 and x.shape[0] >= ONEDNN_MIN_ROWS and x.device.type == "cpu" and x.dtype == torch.float32
                and self.weight.dtype == torch.float32 and not torch.is_autocast_enabled("cpu") and onednn_enabled()):
            if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
                return _OneDnnLinearFunction.apply(x.contiguous(), self.weight, self.bias, self.relu)
            return onednn_linear(x.contiguous(), self.weight, self.bias, self.relu)
        y = F.linear(x, self.weight, self.bias)
        return F.relu(y, inplace=True) if self.relu else y

    def extra_repr(self) -> str:
        return super().extra_repr() + (", relu=True" if self.relu else "")


def onednn_dense_layers(model: nn.Module) -> nn.Module:
    """Make every plain ``nn.Linear`` of ``model`` a :class:`OneDnnLinear` (its parameters kept),
    folding a ReLU that directly follows it in an ``nn.Sequential`` into it. For scoring, after
    the weights are loaded: the models' MLPs are built of :class:`OneDnnLinear` already; this
    reaches the other layers (cross networks, attention projections). Subclasses such as
    ``LogitLinear`` are kept."""
    for parent in list(model.modules()):
        children = list(parent.named_children())
        for i, (name, child) in enumerate(children):
            if type(child) is not nn.Linear:
                continue
            relu = isinstance(parent, nn.Sequential) and i + 1 < len(children) and isinstance(children[i + 1][1], nn.ReLU)
            setattr(parent, name, OneDnnLinear.of(child, relu))
            if relu:
                setattr(parent, children[i + 1][0], nn.Identity())
    return model


__all__ = ["ONEDNN_MIN_ROWS", "OneDnnLinear", "onednn_dense_layers", "onednn_enabled", "onednn_linear"]
