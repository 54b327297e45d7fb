"""Layers: hand-computable goldens, slow references, properties."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.layers import MLP, CrossNetwork, FactorizationMachine, FeatureGeneration, InnerProduct, InteractingLayer


def test_fm_golden() -> None:
    emb = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    # <e1,e2> + <e1,e3> + <e2,e3> = 11 + 17 + 39
    assert FactorizationMachine()(emb).item() == 67.0


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 9), st.integers(1, 6), st.integers(1, 5))
def test_fm_and_inner_product_equal_the_pairwise_loop(fields: int, dim: int, batch: int) -> None:
    emb = torch.randn(batch, fields, dim, dtype=torch.float64)
    slow = torch.stack([sum(emb[b, i] @ emb[b, j] for i, j in itertools.combinations(range(fields), 2))
                        for b in range(batch)])
    assert torch.allclose(FactorizationMachine()(emb), slow)
    products = InnerProduct(fields)(emb)
    assert products.shape == (batch, fields * (fields - 1) // 2)
    assert torch.allclose(products.sum(dim=1), slow)


@pytest.mark.parametrize("fields", [2, 3, 8])
def test_inner_product_with_embeddings_matches_autograd_reference(fields: int) -> None:
    """The fused flatten + pairs op (custom backward) against plain indexing, values and gradients."""
    torch.manual_seed(fields)
    emb = torch.randn(3, fields, 4, dtype=torch.float64, requires_grad=True)
    layer = InnerProduct(fields)
    rows, cols = torch.triu_indices(fields, fields, offset=1)
    reference = torch.cat([emb.flatten(1), (emb[:, rows] * emb[:, cols]).sum(-1)], dim=1)
    assert torch.allclose(layer.with_embeddings(emb), reference)
    assert torch.autograd.gradcheck(layer.with_embeddings, (emb,))


def test_cross_network_equals_the_formula() -> None:
    torch.manual_seed(0)
    net = CrossNetwork(4, 2)
    x0 = torch.randn(3, 4)
    x1 = x0 * net.w[0](x0) + x0
    x2 = x0 * net.w[1](x1) + x1
    assert torch.allclose(net(x0), x2)
    low = CrossNetwork(4, 1, low_rank=2)
    assert torch.allclose(low(x0), x0 * low.u[0](low.v[0](x0)) + x0)


def test_interacting_layer_equals_explicit_attention() -> None:
    torch.manual_seed(0)
    layer = InteractingLayer(6, attention_dim=3, num_heads=2, use_residual=True, use_scale=False)
    x = torch.randn(2, 5, 6)
    q, k, v = layer.qkv(x).view(2, 5, 3, 2, 3).permute(2, 0, 3, 1, 4)  # (B, H, F, d) each
    attn = torch.softmax(q @ k.transpose(-1, -2), dim=-1)  # unscaled, as in the paper
    expected = torch.relu((attn @ v).transpose(1, 2).reshape(2, 5, 6) + layer.residual(x))  # type: ignore[misc]
    assert torch.allclose(layer(x), expected, atol=1e-5)
    scaled = InteractingLayer(6, attention_dim=3, num_heads=2, use_residual=False, use_scale=True)
    q, k, v = scaled.qkv(x).view(2, 5, 3, 2, 3).permute(2, 0, 3, 1, 4)
    reference = torch.nn.functional.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(d)
    assert torch.allclose(scaled(x), torch.relu(reference.transpose(1, 2).reshape(2, 5, 6)), atol=1e-5)


def test_feature_generation_handles_odd_field_counts() -> None:
    gen = FeatureGeneration(7, 4, channels=[3, 3], kernel_heights=[3, 3], pooling_sizes=[2, 2],
                            recombined_channels=[2, 1])
    # ceil(7/2)=4 fields after block 1 (the 7th field pooled alone), ceil(4/2)=2 after block 2.
    assert gen.num_new == 2 * 4 + 1 * 2
    assert gen(torch.randn(3, 7, 4)).shape == (3, 10, 4)


def test_mlp_shapes() -> None:
    assert MLP(8, [4, 3], out_dim=1, dropout=0.1, batch_norm=True)(torch.randn(5, 8)).shape == (5, 1)
    assert MLP(8, []).out_dim == 8


def test_field_pooling_equals_max_pool2d_ceil_mode() -> None:
    from recsys.layers.fgcnn import _pool_fields

    for fields in (6, 7):
        y = torch.randn(3, 2, fields, 4)
        expected = torch.nn.functional.max_pool2d(y, kernel_size=(2, 1), ceil_mode=True)
        assert torch.equal(_pool_fields(y, 2), expected)
