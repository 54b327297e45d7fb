"""Every model: shapes, finiteness, gradients, and every embedding strategy."""

from __future__ import annotations

import pytest
import torch
from torchrec.modules.embedding_modules import EmbeddingBagCollection
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

from recsys.embeddings.schema import FeatureSchema
from recsys.embeddings.strategies import EmbeddingConfig
from recsys.layers import InteractingLayer
from recsys.models.registry import MODELS, build_model
from recsys.training.runconfig import resolve

NAMES = list(MODELS)


def _schema(fields: int, dense: int = 2, encoding: str = "vocab") -> FeatureSchema:
    names = tuple(f"C{i}" for i in range(fields))
    return FeatureSchema(names, tuple(5 + 3 * i for i in range(fields)), tuple(f"I{i}" for i in range(dense)), encoding)


def _inputs(schema: FeatureSchema, batch: int, seed: int = 0) -> tuple[torch.Tensor, KeyedJaggedTensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.cat([torch.randint(0, c, (batch,), generator=g) for c in schema.cardinalities])
    kjt = KeyedJaggedTensor(keys=list(schema.categorical), values=ids,
                            lengths=torch.ones(len(schema.categorical) * batch, dtype=torch.int32), stride=batch)
    return torch.randn(batch, len(schema.dense), generator=g), kjt


def _model(name: str, schema: FeatureSchema, strategy: str = "vocab", budget: str | None = None) -> torch.nn.Module:
    cfg = resolve(name, overrides={"dnn_hidden_units": [32, 16]} if name not in ("lr", "fm") else {})
    emb = EmbeddingConfig(strategy, 8, budget, chunks=2 if strategy == "unified" else 1)  # type: ignore[arg-type]
    torch.manual_seed(0)
    return build_model(name, cfg.model_cfg, emb, schema, torch.device("cpu"))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fields", [5, 6])
@pytest.mark.parametrize("batch", [1, 7])
def test_output_shape_and_finite(name: str, fields: int, batch: int) -> None:
    schema = _schema(fields)
    model = _model(name, schema).eval()
    out = model(*_inputs(schema, batch))
    assert out.logits.shape == (batch,) and torch.isfinite(out.logits).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_every_parameter(name: str) -> None:
    schema = _schema(5)
    model = _model(name, schema).train()
    dense, kjt = _inputs(schema, 64)
    out = model(dense, kjt)
    torch.nn.functional.binary_cross_entropy_with_logits(out.logits, torch.rand(64).round()).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches {dead}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("strategy, budget", [("hashed", "40rows"), ("unified", "64rows")])
def test_every_model_runs_with_every_strategy(name: str, strategy: str, budget: str) -> None:
    schema = _schema(5, encoding="hash")
    model = _model(name, schema, strategy, budget)
    dense, kjt = _inputs(schema, 16)
    kjt = KeyedJaggedTensor(keys=kjt.keys(), values=kjt.values() * 7919 + 2**40, lengths=kjt.lengths(), stride=16)
    out = model(dense, kjt)
    out.logits.sum().backward()
    assert out.logits.shape == (16,) and torch.isfinite(out.logits).all()


def test_save_load_gives_identical_outputs(tmp_path: object) -> None:
    schema = _schema(6)
    a, b = _model("autoint+", schema).eval(), _model("autoint+", schema).eval()
    with torch.no_grad():
        for p in a.parameters():
            p.add_(torch.randn_like(p))
    b.load_state_dict(a.state_dict())
    inputs = _inputs(schema, 9)
    assert torch.equal(a(*inputs).logits, b(*inputs).logits)


@pytest.mark.parametrize("name", ["autoint", "autoint+"])
def test_autoint_with_dense_outside_attention(name: str) -> None:
    """``embed_dense: false`` (DeepCTR-Torch's layout): attention over the categorical fields
    only, dense values reach the output (and the DNN) directly, with a gradient to each weight."""
    schema = _schema(5, dense=3)
    overrides = {"embed_dense": False, "dnn_hidden_units": [32, 16] if name == "autoint+" else []}
    cfg = resolve(name, overrides=overrides)
    torch.manual_seed(0)
    model = build_model(name, cfg.model_cfg, EmbeddingConfig("vocab", 8), schema, torch.device("cpu"))
    assert model.sparse_arch.num_fields == 5 and model.head.in_features == 5 * 2 * cfg.model_cfg.attention_dim + 3
    dense, kjt = _inputs(schema, 32)
    out = model(dense, kjt)
    torch.nn.functional.binary_cross_entropy_with_logits(out.logits, torch.rand(32).round()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    moved = model(dense + 1.0, kjt).logits
    assert not torch.allclose(moved, out.logits)  # dense values are used


@pytest.mark.parametrize("strategy", ["hashed", "unified"])
@pytest.mark.parametrize("name", NAMES)
def test_embedding_budget_is_a_total_over_every_field_table(name: str, strategy: str) -> None:
    """Main, first-order, generator and factorization tables together fit --embedding-budget
    (OptInter's cross table has its own budget) and fill most of it."""
    import dataclasses

    from recsys.embeddings.crosses import is_cross_table
    from recsys.models.registry import field_table_bytes
    from recsys.training.parallel import embedding_parameters

    schema = dataclasses.replace(_schema(6), cardinalities=tuple(3_000 + 500 * i for i in range(6)))
    model = _model(name, schema, strategy, "40KB")
    cross = sum(t.num_embeddings * t.embedding_dim * 4 for m in model.modules()
                if isinstance(m, EmbeddingBagCollection) for t in m.embedding_bag_configs() if is_cross_table(t.name))
    used = sum(p.numel() * p.element_size() for p in embedding_parameters(model)) - cross
    assert used == field_table_bytes(model)
    assert 0.9 * 40_000 <= used <= 40_000


@pytest.mark.parametrize("name", NAMES)
def test_dense_layers_start_xavier_normal_with_zero_biases(name: str) -> None:
    """FuxiCTR's initialisation for every Linear (AutoInt's fused Q/K/V per projection): PyTorch's
    default left our DNN towers without BatchNorm far behind (docs/benchmarks.md)."""
    torch.manual_seed(0)
    cfg = resolve(name, overrides={"dnn_hidden_units": [256, 256]} if name not in ("lr", "fm") else {})
    model = build_model(name, cfg.model_cfg, cfg.embedding, _schema(6), torch.device("cpu"))
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    fused = {id(m.qkv) for m in model.modules() if isinstance(m, InteractingLayer)}
    assert linears or name in ("lr", "fm")
    for layer in linears:
        if layer.bias is not None:
            assert torch.count_nonzero(layer.bias) == 0
        w = layer.weight.detach()
        parts = w.chunk(3) if id(layer) in fused else (w,)
        for part in parts:
            fan_out, fan_in = part.shape
            expected = (2.0 / (fan_in + fan_out)) ** 0.5
            if part.numel() >= 256:  # the sample std of small matrices is too noisy to compare
                assert abs(part.std().item() / expected - 1) < 0.2, (name, tuple(part.shape))
