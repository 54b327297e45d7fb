"""The dense Adam is PyTorch's fused kernel on CPU and steps as the default implementation does."""

from __future__ import annotations

import torch

from recsys.training.parallel import fused_adam


def _params() -> list[torch.nn.Parameter]:
    torch.manual_seed(0)
    return [torch.nn.Parameter(torch.randn(64, 37)), torch.nn.Parameter(torch.randn(37))]


def test_fused_adam_is_fused_on_cpu_and_steps_as_the_default() -> None:
    fused, default = _params(), _params()
    opt_fused = fused_adam(fused, lr=1e-2, weight_decay=1e-4)
    opt_default = torch.optim.Adam(default, lr=1e-2, weight_decay=1e-4)
    assert opt_fused.defaults["fused"] is True
    for step in range(5):
        torch.manual_seed(100 + step)
        grads = [torch.randn_like(p) for p in fused]
        for ps, opt in ((fused, opt_fused), (default, opt_default)):
            for p, g in zip(ps, grads):
                p.grad = g.clone()
            opt.step()
    for a, b in zip(fused, default):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(fused[0], _params()[0])  # it moved


def test_meta_parameters_get_the_default_adam() -> None:
    opt = fused_adam([torch.nn.Parameter(torch.empty(3, device="meta"))], lr=1e-3)
    assert not opt.defaults["fused"]
