"""OptFS gate tables: one scalar logit per row of every embedding table of a plan.

Gates are tables too (tables are not features): ``optfs_gate__NAME`` has the rows and the
lookup keys of table ``NAME`` and width 1, so one lookup of the remapped ids returns every
key's logit ``m``. The search needs what the paper's optimizer does: Adam on every logit and
a penalty over *all* rows each step (``sum_x sigmoid(tau * m_x)``), so gate tables use
TorchRec's dense kernel (autograd weights, planned ``data_parallel``: replicated, gradients
all-reduced) while the embedding tables keep their fused, sharded kernels. A fused kernel
updates only looked-up rows inside its backward, so a penalty on the other rows could not
reach it. A gate costs 4 bytes per row (a 16-wide fp32 row costs 64) and exists only during
the search: the retrained model has no gates, only smaller tables (:mod:`.prune`).
"""

from __future__ import annotations

from typing import Iterator, Optional

import torch
from torch import nn
from torchrec.modules.embedding_configs import EmbeddingBagConfig, PoolingType
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.strategies import TablePlan
from recsys.layers.gates import gate_penalty, soft_gate

GATE_PREFIX = "optfs_gate__"


def is_gate_table(name: str) -> bool:
    return name.startswith(GATE_PREFIX)


def gated_table(gate_name: str) -> str:
    """``optfs_gate__t_C1`` -> ``t_C1``."""
    return gate_name[len(GATE_PREFIX):]


class GateTables(nn.Module):
    """Soft OptFS gates for the pooled lookups of one :class:`FieldEmbedding`.

    ``forward(rows, pooled)``: ``rows`` is the remapped KJT (``K`` keys), ``pooled`` the
    ``(B, K * c)`` table output in table order (``c`` = chunk width); returns ``pooled`` with
    key ``k``'s chunk scaled by ``g = sigmoid(tau * m) / sigmoid(m_init)``. One id per bag
    (Criteo, Avazu): a multi-hot bag would be gated by the sum of its ids' logits.
    ``tau`` is set by the trainer's temperature callback.
    """

    def __init__(self, plan: TablePlan, m_init: float, device: Optional[torch.device] = None) -> None:
        super().__init__()
        tables = [EmbeddingBagConfig(name=GATE_PREFIX + t.name, embedding_dim=1, num_embeddings=t.num_embeddings,
                                     feature_names=list(t.feature_names), pooling=PoolingType.SUM,
                                     weight_init_min=m_init, weight_init_max=m_init) for t in plan.tables]
        self.ebc = EmbeddingBagCollection(tables=tables, device=device or torch.device("meta"))
        self.m_init, self.tau, self.chunk_dim = float(m_init), 1.0, plan.chunk_dim

    def forward(self, rows: KeyedJaggedTensor, pooled: torch.Tensor) -> torch.Tensor:
        m = self.ebc(rows).values()  # (B, K)
        g = soft_gate(m.float(), self.tau, self.m_init)
        return (pooled.view(m.shape[0], m.shape[1], self.chunk_dim) * g.unsqueeze(-1)).view(pooled.shape)

    def logits(self) -> Iterator[torch.Tensor]:
        """The gate logit tensors (one ``(rows, 1)`` per table; replicated under sharding)."""
        return iter(self.ebc.parameters())

    def penalty(self) -> torch.Tensor:
        """``sum_x sigmoid(tau * m_x)`` over every row of every table of this embedding."""
        return torch.stack([gate_penalty(m, self.tau) for m in self.logits()]).sum()


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
