"""The scoring lookup (:class:`FusedBagLookup`) returns the unsharded collection's sums exactly."""

from __future__ import annotations

import pytest
import torch
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.scoring.fused import FusedBagLookup


def _collection() -> EmbeddingBagCollection:
    torch.manual_seed(0)
    return EmbeddingBagCollection(tables=[
        EmbeddingBagConfig(name="t_a", embedding_dim=8, num_embeddings=50, feature_names=["a"]),
        EmbeddingBagConfig(name="t_bc", embedding_dim=8, num_embeddings=30, feature_names=["b", "c"]),
    ])


@pytest.mark.parametrize("lengths", [[1] * 12, [1, 2, 0, 1, 3, 1, 1, 0, 2, 1, 1, 1]], ids=["one id each", "bags"])
def test_fused_lookup_equals_the_collection(lengths: list[int]) -> None:
    ebc = _collection()
    kjt = KeyedJaggedTensor(keys=["a", "b", "c"], lengths=torch.tensor(lengths),
                            values=torch.randint(0, 30, (sum(lengths),)), stride=4)
    with torch.no_grad():
        expected, fused = ebc(kjt), FusedBagLookup(ebc)(kjt)
    assert fused.keys() == expected.keys()
    assert torch.equal(fused.values(), expected.values())


def test_fused_lookup_serves_batches_larger_than_the_last() -> None:
    """The one-id-per-bag offsets are cached and grown; a larger batch after a smaller one must
    not reuse a short cache."""
    ebc = _collection()
    fused = FusedBagLookup(ebc)
    for b in (2, 64, 3):
        kjt = KeyedJaggedTensor(keys=["a", "b", "c"], lengths=torch.ones(3 * b, dtype=torch.int64),
                                values=torch.randint(0, 30, (3 * b,)), stride=b)
        with torch.no_grad():
            assert torch.equal(fused(kjt).values(), ebc(kjt).values())
