"""KeyOrder: a pooled KeyedTensor read in one key order whatever order it arrives in."""

from __future__ import annotations

import pytest
import torch
from torchrec.sparse.jagged_tensor import KeyedTensor

from recsys.embeddings.keyed import KeyOrder


def test_columns_come_back_in_the_expected_key_order() -> None:
    a, b, c = torch.full((2, 2), 1.0), torch.full((2, 4), 2.0), torch.full((2, 2), 3.0)
    order = KeyOrder(["a", "b", "c"])
    same = KeyedTensor(keys=["a", "b", "c"], length_per_key=[2, 4, 2], values=torch.cat([a, b, c], 1))
    assert order.values(same) is same.values()  # no copy when nothing is permuted
    sharded = KeyedTensor(keys=["c", "a", "b"], length_per_key=[2, 2, 4], values=torch.cat([c, a, b], 1))
    assert torch.equal(order.values(sharded), same.values())


def test_other_keys_are_an_error() -> None:
    kt = KeyedTensor(keys=["a", "x"], length_per_key=[1, 1], values=torch.zeros(1, 2))
    with pytest.raises(ValueError, match="not the expected"):
        KeyOrder(["a", "b"]).values(kt)
