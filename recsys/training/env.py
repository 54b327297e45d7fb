"""The distributed environment: the only code that reads rank and world size.

Single-process runs still get a 1-rank process group (gloo on a HashStore), so the same
DistributedModelParallel path - fused fbgemm optimizers included - runs everywhere. Under
torchrun or Ray Train the group already exists (or RANK/WORLD_SIZE/MASTER_* are set).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: ``rank`` of ``world_size``, on ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _device(local_rank: int) -> torch.device:
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed() -> DistEnv:
    """Join (or create) the default process group and return this process's place in it."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1 and "MASTER_ADDR" not in os.environ:
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
        else:
            dist.init_process_group(backend)
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, device)


def set_threads(threads: int | None) -> None:
    """Pin intra-op threads (CPU training); None keeps torch's default."""
    if threads:
        torch.set_num_threads(threads)

