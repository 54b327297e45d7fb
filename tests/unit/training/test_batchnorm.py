"""BatchNorm re-estimation: exact statistics of the final weights, settings restored."""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.training.batchnorm import recalibrate_batch_norm
from recsys.types import Batch


class _DenseOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))

    def forward(self, dense: torch.Tensor, sparse: KeyedJaggedTensor) -> torch.Tensor:
        return self.net(dense)


def _batch(x: torch.Tensor) -> Batch:
    empty = KeyedJaggedTensor(keys=[], values=torch.zeros(0, dtype=torch.long), lengths=torch.zeros(0, dtype=torch.int32))
    return Batch(x, empty, torch.zeros(len(x)))


def test_statistics_are_the_exact_average_over_the_batches() -> None:
    torch.manual_seed(0)
    model = _DenseOnly().eval()
    bn = model.net[1]
    bn.running_mean.fill_(123.0)  # stale statistics, as after a drifting epoch
    xs = [torch.randn(64, 3) * 2 + 5 for _ in range(4)]
    used = recalibrate_batch_norm(model, map(_batch, xs), torch.device("cpu"), contextlib.nullcontext)
    with torch.no_grad():
        pre = model.net[0](torch.cat(xs))
    per_batch_var = torch.stack([model.net[0](x).var(0, unbiased=True) for x in xs]).detach()
    assert used == 4
    assert torch.allclose(bn.running_mean, pre.mean(0), atol=1e-5)
    assert torch.allclose(bn.running_var, per_batch_var.mean(0), atol=1e-5)
    assert bn.momentum == 0.1 and not model.training  # settings restored


def test_a_model_without_batch_norm_is_left_alone() -> None:
    model = nn.Sequential()
    assert recalibrate_batch_norm(model, [], torch.device("cpu"), contextlib.nullcontext) == 0
