"""Sharding constraints for TorchRec's planner.

Every table uses the fused fbgemm kernel (optimizer inside the backward). Tables are
never data-parallel: a replicated table would need dense all-reduced gradients over its
rows, which is exactly what the fused path avoids. On CUDA, shared tables (unified, OptInter's cross table) shard
row-wise so that one big table spreads over all ranks, the others table-wise or row-wise.
TorchRec offers no row-wise sharding on CPU; there the shared table shards column-wise
(each rank holds every row, a slice of the columns) and the others table-wise.
OptFS gate tables (:mod:`recsys.embeddings.gates`) are the exception: data-parallel with
the dense kernel, because their optimizer must see every row's penalty gradient.
"""

from __future__ import annotations

from typing import Optional, Sequence

from fbgemm_gpu.split_table_batched_embeddings_ops_common import BoundsCheckMode
from torch import nn
from torchrec.distributed.embedding_types import EmbeddingComputeKernel
from torchrec.distributed.planner.types import ParameterConstraints
from torchrec.distributed.types import ShardingType
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from recsys.embeddings.crosses import CROSS_TABLE, is_cross_table
from recsys.embeddings.gates import is_gate_table


def _sharding_types(shared: bool, device_type: str) -> list[str]:
    if device_type == "cuda":
        kinds = [ShardingType.ROW_WISE, ShardingType.TABLE_ROW_WISE] if shared else \
            [ShardingType.TABLE_WISE, ShardingType.ROW_WISE, ShardingType.TABLE_ROW_WISE]
    else:
        kinds = [ShardingType.COLUMN_WISE, ShardingType.TABLE_WISE] if shared else [ShardingType.TABLE_WISE]
    return [k.value for k in kinds]


def sharding_constraints(model: nn.Module, device_type: str = "cpu",
                         forced: Optional[Sequence[str]] = None) -> dict[str, ParameterConstraints]:
    """Planner constraints for every table of every EmbeddingBagCollection in ``model``;
    ``forced`` sharding types (``--set sharding_types=[...]``) replace the choice for every table."""
    out: dict[str, ParameterConstraints] = {}
    fused = [EmbeddingComputeKernel.FUSED.value]
    for module in model.modules():
        if not isinstance(module, EmbeddingBagCollection):
            continue
        for table in module.embedding_bag_configs():
            if is_gate_table(table.name):
                out[table.name] = ParameterConstraints(sharding_types=[ShardingType.DATA_PARALLEL.value],
                                                       compute_kernels=[EmbeddingComputeKernel.DENSE.value])
                continue
            # OptInter's one cross table shards row-wise on CUDA; on CPU table-wise (TorchRec 1.8 built
            # inconsistent shard metadata for it column-wise over 2 gloo ranks). The search's small
            # per-pair tables are placed like any table.
            cross = table.name == CROSS_TABLE and device_type == "cuda"
            types = list(forced) if forced else _sharding_types("unified_" in table.name or cross, device_type)
            # Cross rows are ``hash % rows`` by construction: fbgemm's bounds check (a pass over
            # every one of the P x B ids) can never fire on them.
            check = BoundsCheckMode.NONE if is_cross_table(table.name) else None
            out[table.name] = ParameterConstraints(sharding_types=types, compute_kernels=fused, bounds_check_mode=check)
    return out
