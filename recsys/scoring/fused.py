"""One lookup per embedding module when scoring: all tables of an EmbeddingBagCollection in one
``embedding_bag`` call.

An unsharded TorchRec ``EmbeddingBagCollection`` runs one ``nn.EmbeddingBag`` per table: 78
calls for DeepFM on Criteo (39 main + 39 first-order tables), about a quarter of a small
request's time in the service. The tables of one field embedding share their width, so their
weights concatenate into one matrix and every feature's ids shift by its table's first row:
the same sums, one call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor, KeyedTensor


class FusedBagLookup(nn.Module):
    """Drop-in for a sum-pooled ``EmbeddingBagCollection`` of equal-width tables, for inference:
    KJT -> KeyedTensor ``(B, F * D)`` with features in the collection's order."""

    weight: torch.Tensor
    first_row: torch.Tensor
    one_per_bag: torch.Tensor

    def __init__(self, ebc: EmbeddingBagCollection) -> None:
        super().__init__()
        configs = ebc.embedding_bag_configs()
        self.dim = configs[0].embedding_dim
        self.features = [f for c in configs for f in c.feature_names]
        weights = [ebc.embedding_bags[c.name].weight.detach() for c in configs]
        starts = torch.tensor([0] + [w.shape[0] for w in weights[:-1]]).cumsum(0)
        self.register_buffer("weight", torch.cat(weights), persistent=False)
        self.register_buffer("first_row", torch.tensor(
            [int(starts[i]) for i, c in enumerate(configs) for _ in c.feature_names], dtype=torch.int64), persistent=False)
        self.register_buffer("one_per_bag", torch.arange(0), persistent=False)  # bag offsets 0, 1, 2, ...

    @staticmethod
    def fits(ebc: EmbeddingBagCollection) -> bool:
        configs = ebc.embedding_bag_configs()
        return bool(configs) and len({c.embedding_dim for c in configs}) == 1 and \
            all(c.pooling.value == "SUM" for c in configs) and not ebc.is_weighted()

    def forward(self, features: KeyedJaggedTensor) -> KeyedTensor:
        if features.keys() != self.features:
            features = features.permute([features.keys().index(f) for f in self.features])
        b = features.stride()
        lengths = features.lengths()
        if bool((lengths == 1).all()):  # one id per feature and row (the usual case): plain lookups in
            # row-major order, so the (B, F * D) result needs no transpose of the vectors, only of the ids
            ids = (features.values().view(len(self.features), b) + self.first_row.unsqueeze(1)).t().reshape(-1)
            return KeyedTensor(keys=self.features, length_per_key=[self.dim] * len(self.features),
                               values=self._gather(ids).view(b, -1))
        per_feature = lengths.view(len(self.features), b).sum(dim=1)
        ids = features.values() + torch.repeat_interleave(self.first_row, per_feature)
        pooled = F.embedding_bag(ids, self.weight, features.offsets()[:-1], mode="sum")  # (F * B, D)
        values = pooled.view(len(self.features), b, self.dim).transpose(0, 1).reshape(b, -1)
        return KeyedTensor(keys=self.features, length_per_key=[self.dim] * len(self.features), values=values)

    def _gather(self, ids: torch.Tensor) -> torch.Tensor:
        """``weight[ids]`` ``(N, D)`` as bags of one id: ``embedding_bag``'s CPU kernel (fbgemm's)
        against ``index_select`` (``F.embedding``), 2 threads, the Criteo DeepFM bundle's 364k x 16
        table: 5.8 against 7.6 ms per 8,192-row scoring call (``torch.profiler``), 2.0-2.6 against
        4.2-6.4 ms for 319k uniformly random ids alone. Offsets are cached and only ever grown
        (service threads may share the module)."""
        offsets = self.one_per_bag
        if len(offsets) < len(ids):
            self.one_per_bag = offsets = torch.arange(2 * len(ids), device=ids.device)
        return F.embedding_bag(ids, self.weight, offsets[: len(ids)], mode="sum")


def fuse_lookups(model: nn.Module) -> nn.Module:
    """Replace every fitting ``ebc`` attribute of ``model``'s modules by a :class:`FusedBagLookup`
    (after the weights are loaded; for scoring only: the fused weights are a copy)."""
    for module in list(model.modules()):
        ebc = getattr(module, "ebc", None)
        if isinstance(ebc, EmbeddingBagCollection) and FusedBagLookup.fits(ebc):
            module.ebc = FusedBagLookup(ebc)
    return model
