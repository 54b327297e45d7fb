"""The one embedding interface: a KJT of field ids -> ``(B, F, D)`` field embeddings.

:class:`FieldEmbedding` = :class:`IdRemap` (ids -> table rows per lookup key, pure tensor
ops) followed by a TorchRec ``EmbeddingBagCollection`` built on ``device="meta"`` so that
``DistributedModelParallel`` materializes and shards it (fused fbgemm kernels). Every model
uses it, so every model runs with every strategy and under sharding. OptFS hooks in here
too: optional gate tables during the search, and pruned tables with a row map after it.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.buckets import bucket_torch
from recsys.embeddings.gates import GateTables
from recsys.embeddings.keyed import KeyOrder
from recsys.embeddings.strategies import TablePlan


class IdRemap(nn.Module):
    """Maps raw field ids to table rows for every lookup key of a :class:`TablePlan`.

    Lookup key ``i`` reads the ids of field ``source[i]`` and, unless ``direct[i]``, maps them
    with ``bucket(id, salt[i], rows[i])``. Output keys are the plan's keys, in plan order.
    With ``row_maps`` (a pruned plan, :mod:`recsys.embeddings.prune`) the row ``r`` of table
    ``t`` then becomes ``row_maps[t][r]``: kept rows renumbered, pruned ones sent to an OOV row.
    The maps are a persistent buffer, saved with the weights.
    """

    salts: torch.Tensor
    rows: torch.Tensor
    direct: torch.Tensor
    source: torch.Tensor
    row_map: torch.Tensor
    map_offset: torch.Tensor

    def __init__(self, plan: TablePlan, row_maps: Optional[dict[str, torch.Tensor]] = None) -> None:
        super().__init__()
        fields = list(plan.fields)
        self.fields = fields
        self.keys = [k.key for k in plan.keys]
        self.pruned = row_maps is not None
        self.all_direct = all(k.direct for k in plan.keys)
        self.identity = self.all_direct and self.keys == fields and not self.pruned
        if row_maps is not None:
            names = [t.name for t in plan.tables]
            starts = dict(zip(names, torch.tensor([0] + [len(row_maps[n]) for n in names]).cumsum(0).tolist()))
            self.register_buffer("row_map", torch.cat([row_maps[n].to(torch.int64) for n in names]))
            self.register_buffer("map_offset", torch.tensor([starts[k.table] for k in plan.keys], dtype=torch.int64),
                                 persistent=False)
        self.register_buffer("salts", torch.tensor([k.salt for k in plan.keys], dtype=torch.int64), persistent=False)
        self.register_buffer("rows", torch.tensor([k.rows for k in plan.keys], dtype=torch.int64), persistent=False)
        self.register_buffer("direct", torch.tensor([k.direct for k in plan.keys]), persistent=False)
        self.register_buffer("source", torch.tensor([fields.index(k.field) for k in plan.keys], dtype=torch.int64),
                             persistent=False)

    def forward(self, kjt: KeyedJaggedTensor) -> KeyedJaggedTensor:
        if self.identity:
            return kjt
        values, lengths = kjt.values(), kjt.lengths()
        stride = kjt.stride()
        offsets = kjt.offsets()
        per_key = lengths.view(len(self.fields), stride).sum(dim=1)
        starts = offsets[:-1].view(len(self.fields), stride)[:, 0]
        src = self.source
        counts = per_key[src]
        key_of_value = torch.repeat_interleave(torch.arange(len(self.keys), device=values.device), counts)
        within = torch.arange(int(counts.sum()), device=values.device) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts)
        gathered = values[starts[src][key_of_value] + within]
        if self.all_direct:  # vocabulary ids (a pruned vocab plan): no hashing to do
            new_values = gathered
        else:
            hashed = bucket_torch(gathered, self.salts[key_of_value], self.rows[key_of_value])
            new_values = torch.where(self.direct[key_of_value], gathered, hashed)
        if self.pruned:
            new_values = self.row_map[self.map_offset[key_of_value] + new_values]
        new_lengths = lengths.view(len(self.fields), stride)[src].reshape(-1)
        return KeyedJaggedTensor(keys=self.keys, values=new_values, lengths=new_lengths, stride=stride)


class FieldEmbedding(nn.Module):
    """KJT with one key per categorical field -> ``(B, F, D)``, ``D = chunks * chunk_dim``.

    Args:
        plan: tables and lookup keys from :func:`recsys.embeddings.strategies.plan_tables`.
        device: ``meta`` under DistributedModelParallel (it materializes the tables);
            ``cpu``/``cuda`` for an unsharded model (export, scoring, tests).
        row_maps: a pruned plan's old-row -> new-row maps (see :class:`IdRemap`).
    """

    def __init__(self, plan: TablePlan, device: Optional[torch.device] = None,
                 row_maps: Optional[dict[str, torch.Tensor]] = None) -> None:
        super().__init__()
        self.plan = plan
        self.remap = IdRemap(plan, row_maps)
        self.ebc = EmbeddingBagCollection(tables=list(plan.tables), device=device or torch.device("meta"))
        self.gates: Optional[GateTables] = None
        """OptFS search gates (:func:`recsys.embeddings.prune.attach_gates`); None otherwise."""
        self.l2 = 0.0
        """``embedding_regularizer``: in training, each forward leaves ``l2_penalty = l2 / 2 *
        sum ||e||^2`` over the looked-up vectors (fbgemm's fused CPU kernels ignore weight decay)."""
        self.l2_penalty: Optional[torch.Tensor] = None
        # The collection returns its keys table by table (sharded: sharding by sharding); the
        # fields' chunks are read back in the plan's key order, field-major.
        self.key_order = KeyOrder([k.key for k in plan.keys])
        self.num_fields = len(plan.fields)
        self.dim = plan.chunk_dim * plan.chunks

    def forward(self, features: KeyedJaggedTensor) -> torch.Tensor:
        """``features``: KJT of raw ids, keys = fields. Returns ``(B, F, D)``."""
        rows = self.remap(features)
        pooled = self.key_order.values(self.ebc(rows))
        if self.training and self.l2:
            self.l2_penalty = 0.5 * self.l2 * pooled.float().pow(2).sum()
        if self.gates is not None:
            pooled = self.gates(rows, pooled)
        return pooled.view(-1, self.num_fields, self.dim)
