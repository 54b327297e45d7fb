"""Sharding constraints for TorchRec's planner.

Every table uses the fused fbgemm kernel (optimizer inside the backward). Tables are
never data-parallel: a replicated table would need dense all-reduced gradients over its
rows, which is exactly what the fused path avoids. Unified (shared) tables shard
row-wise so that one big table spreads over all ranks; the others table-wise or row-wise.
"""

from __future__ import annotations

from torch import nn
from torchrec.distributed.embedding_types import EmbeddingComputeKernel
from torchrec.distributed.planner.types import ParameterConstraints
from torchrec.distributed.types import ShardingType
from torchrec.modules.embedding_modules import EmbeddingBagCollection


def sharding_constraints(model: nn.Module) -> dict[str, ParameterConstraints]:
    """Planner constraints for every table of every EmbeddingBagCollection in ``model``."""
    out: dict[str, ParameterConstraints] = {}
    fused = [EmbeddingComputeKernel.FUSED.value]
    for module in model.modules():
        if not isinstance(module, EmbeddingBagCollection):
            continue
        for table in module.embedding_bag_configs():
            types = [ShardingType.ROW_WISE.value] if "unified_" in table.name else \
                [ShardingType.TABLE_WISE.value, ShardingType.ROW_WISE.value]
            out[table.name] = ParameterConstraints(sharding_types=types, compute_kernels=fused)
    return out
