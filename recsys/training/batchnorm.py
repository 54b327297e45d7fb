"""Re-estimating BatchNorm statistics with the final weights of an epoch.

BatchNorm keeps running averages (momentum 0.1) of its inputs' mean and variance, taken
while the weights were still moving. When a layer's inputs have a large mean and a small
spread (FGCNN's MLP over 6,555 inner products: mean ~7, std ~0.19 after a 1M-row epoch),
the lag of a few batches is a whole standard deviation: FGCNN scored AUC 0.829 / logloss
0.744 in eval mode on its validation rows, 0.866 / 0.360 with batch statistics (mean
prediction 0.57 vs 0.22 clicks). Recomputing the averages with the final weights (as
``torch.optim.swa_utils.update_bn`` does after weight averaging) removes the lag.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import torch
from torch import nn

from recsys.types import Batch


def recalibrate_batch_norm(model: nn.Module, batches: Iterable[Batch], device: torch.device,
                           autocast: Callable[[], contextlib.AbstractContextManager]) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them as the exact average over
    ``batches`` (train-mode forward, no gradient, dropout as in training). Momentum and the
    model's mode are restored. Returns the number of batches used (0: no BatchNorm layer)."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return 0
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training, used = model.training, 0
    model.train()
    try:
        with torch.no_grad():
            for batch in batches:
                batch = batch.to(device, non_blocking=True)
                with autocast():
                    model(batch.dense, batch.sparse)
                used += 1
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.train(was_training)
    return used


def average_batch_norm_across_ranks(model: nn.Module) -> None:
    """Make every rank's BatchNorm statistics the exact statistics of all ranks' batches together.

    Each rank recalibrates on its own batches (the same number, of the same size), so the
    pooled mean is the average of the ranks' means and the pooled variance the average of
    ``var_r + mean_r**2`` minus the pooled mean squared. Afterwards all ranks (and the exported
    weights, taken from rank 0) hold the same statistics. No-op on one rank."""
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return
    world = dist.get_world_size()
    for m in model.modules():
        if not isinstance(m, nn.modules.batchnorm._BatchNorm) or m.running_mean is None or m.running_var is None:
            continue
        mean, var = m.running_mean.double(), m.running_var.double()
        moments = torch.stack([mean, var + mean * mean])
        dist.all_reduce(moments)
        moments /= world
        m.running_mean.copy_(moments[0].to(m.running_mean.dtype))
        m.running_var.copy_((moments[1] - moments[0] * moments[0]).to(m.running_var.dtype))


__all__ = ["average_batch_norm_across_ranks", "recalibrate_batch_norm"]
