"""OptFS gate tables: one scalar logit per row of every embedding table of a plan.

Gates are a table too (tables are not features): ``optfs_gate__main`` (``optfs_gate__lr_``,
``optfs_gate__gen_`` for a model's other field embeddings) stacks one width-1 row per row of
each of the plan's tables, in table order, and every lookup key reads it at its table's
offset: one lookup and one logit tensor per field embedding, however many tables.
The search needs what the paper's optimizer does: Adam on every logit and a penalty over
*all* rows each step (``sum_x sigmoid(tau * m_x)``), so gate tables use TorchRec's dense
kernel (autograd weights, planned ``data_parallel``: replicated, gradients all-reduced)
while the embedding tables keep their fused, sharded kernels. A fused kernel updates only
looked-up rows inside its backward, so a penalty on the other rows could not reach it. A
gate costs 4 bytes per row (a 16-wide fp32 row costs 64) and exists only during the
search: the retrained model has no gates, only smaller tables (:mod:`.prune`).
"""

from __future__ import annotations

import itertools
from typing import Iterator, Optional

import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig, PoolingType
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.keyed import KeyOrder
from recsys.embeddings.strategies import TablePlan
from recsys.layers.gates import gate_penalty, soft_gate

GATE_PREFIX = "optfs_gate__"


def is_gate_table(name: str) -> bool:
    return name.startswith(GATE_PREFIX)


class GateTables(nn.Module):
    """Soft OptFS gates for the pooled lookups of one :class:`FieldEmbedding`.

    ``forward(rows, pooled)``: ``rows`` is the remapped KJT (``K`` keys), ``pooled`` the
    ``(B, K * c)`` table output in table order (``c`` = chunk width); returns ``pooled`` with
    key ``k``'s chunk scaled by ``g = sigmoid(tau * m) / sigmoid(m_init)``. One id per bag
    (Criteo, Avazu): a multi-hot bag would be gated by the sum of its ids' logits.
    ``tau`` is set by the trainer's temperature callback.
    """

    key_offset: torch.Tensor

    def __init__(self, plan: TablePlan, m_init: float, device: Optional[torch.device] = None) -> None:
        super().__init__()
        sizes = [t.num_embeddings for t in plan.tables]
        starts = [0] + list(itertools.accumulate(sizes))[:-1]
        self.spans = {t.name: (start, size) for t, start, size in zip(plan.tables, starts, sizes)}
        """Each embedding table's rows in the gate table: ``{table: (first row, rows)}``."""
        self.name = GATE_PREFIX + (plan.prefix or "main")
        keys = [k for t in plan.tables for k in t.feature_names]  # table by table, as the embedding tables
        table = EmbeddingBagConfig(name=self.name, embedding_dim=1, num_embeddings=sum(sizes), feature_names=keys,
                                   pooling=PoolingType.SUM, weight_init_min=m_init, weight_init_max=m_init)
        self.ebc = EmbeddingBagCollection(tables=[table], device=device or torch.device("meta"))
        self.key_order = KeyOrder([k.key for k in plan.keys])  # the gated embeddings' order
        self.register_buffer("key_offset", torch.tensor([self.spans[k.table][0] for k in plan.keys],
                                                        dtype=torch.int64), persistent=False)
        self.m_init, self.tau, self.chunk_dim = float(m_init), 1.0, plan.chunk_dim

    def forward(self, rows: KeyedJaggedTensor, pooled: torch.Tensor) -> torch.Tensor:
        lengths, batch = rows.lengths(), rows.stride()
        per_key = lengths.view(len(self.key_offset), batch).sum(dim=1)
        shifted = rows.values() + torch.repeat_interleave(self.key_offset, per_key)
        kjt = KeyedJaggedTensor(keys=rows.keys(), values=shifted, lengths=lengths, stride=batch)
        m = self.key_order.values(self.ebc(kjt))
        g = soft_gate(m.float(), self.tau, self.m_init)  # (B, K)
        return (pooled.view(m.shape[0], m.shape[1], self.chunk_dim) * g.unsqueeze(-1)).view(pooled.shape)

    def logits(self) -> Iterator[torch.Tensor]:
        """The gate logit tensor, ``(rows, 1)`` (replicated under sharding)."""
        return iter(self.ebc.parameters())

    def penalty(self) -> torch.Tensor:
        """``sum_x sigmoid(tau * m_x)`` over every row of every table of this embedding."""
        return torch.stack([gate_penalty(m, self.tau) for m in self.logits()]).sum()

    def split(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """The saved ``(rows, 1)`` logits -> ``{table: (table rows,)}``."""
        flat = logits.reshape(-1)
        return {name: flat[start:start + size] for name, (start, size) in self.spans.items()}


def gate_modules(model: nn.Module) -> list[GateTables]:
    """Every :class:`GateTables` in ``model`` (sharded or not)."""
    return [m for m in model.modules() if isinstance(m, GateTables)]


def set_temperature(model: nn.Module, tau: float) -> None:
    for gates in gate_modules(model):
        gates.tau = float(tau)


def kept_fraction(model: nn.Module) -> float:
    """Share of gated rows whose logit is positive (the hard gate's keep rate)."""
    kept = total = 0
    with torch.no_grad():
        for gates in gate_modules(model):
            for m in gates.logits():
                kept += int((m > 0).sum())
                total += m.numel()
    return kept / max(total, 1)
