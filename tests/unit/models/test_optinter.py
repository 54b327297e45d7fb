"""The OptInter model allocates only what each pair's method needs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from recsys.embeddings.budget import budget_rows
from recsys.models.registry import build_model
from recsys.training.parallel import embedding_parameters
from recsys.training.runconfig import resolve
from tests.unit.models.test_models import _inputs, _schema


def _build(schema, **overrides):  # type: ignore[no-untyped-def]
    cfg = resolve("optinter", overrides={"dnn_hidden_units": [16], "optinter_cross_budget": "1000rows", **overrides})
    torch.manual_seed(0)
    return build_model("optinter", cfg.model_cfg, cfg.embedding, schema, torch.device("cpu")), cfg


def test_default_candidates_are_all_pairs_of_raw_categorical_fields() -> None:
    schema = dataclasses.replace(_schema(6), bucketized=("C0", "C1"))
    model, _ = _build(schema)
    assert len(model.pairs) == 6 and all(i >= 2 and j >= 2 for i, j in model.pairs)  # C(4, 2)


def test_fixed_methods_allocate_cross_rows_only_for_memorized_pairs() -> None:
    schema = _schema(4)
    pairs = (("C0", "C1"), ("C0", "C2"), ("C1", "C3"), ("C2", "C3"))
    model, _ = _build(schema, optinter_mode="fixed", optinter_pairs=pairs,
                      optinter_methods=("memorize", "naive", "factorize", "naive"))
    assert model.memorize is not None and model.memorize.keys == ["C0*C1"]
    assert model.memorize.rows == budget_rows("1000rows", 8) // 4  # one pair's share of the budget
    assert model.factorize is not None and model.fac_fields == [1, 3]  # tables only for C1 and C3
    emb = torch.randn(3, 2, 8)  # the factorization embeddings of C1 and C3
    assert torch.equal(model.factorize(emb), (emb[:, 0] * emb[:, 1])[:, None])
    assert model.mixture is None and model.mlp.net[0].in_features == 4 * 16 + 2 * 8 + 2  # + 2 raw dense
    naive, _ = _build(schema, optinter_mode="fixed", optinter_pairs=pairs, optinter_methods=("naive",) * 4)
    assert naive.memorize is None and naive.fac_embedding is None and not embedding_parameters(naive.memorize or torch.nn.Module())
    assert naive.mlp.net[0].in_features == 4 * 16 + 2


def test_search_hashes_each_pair_into_rows_of_its_own_a_trained_model_over_all(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A search pair's rows are its own, in a table of its own (AVX-512) or in its block of one
    table (AVX2), with the same hash; a trained model hashes every pair over the whole table."""
    from torchrec.modules.embedding_modules import EmbeddingBagCollection

    import recsys.embeddings.crosses as crosses

    schema = _schema(4)
    _, kjt = _inputs(schema, 256)
    rows = {}
    for per_table in (True, False):
        monkeypatch.setattr(crosses, "tables_per_pair", lambda per_table=per_table: per_table)
        search, _ = _build(schema)
        per_pair = search.memorize.rows_per_pair
        rows[per_table] = search.memorize.cross_rows(kjt)  # (P, B)
        assert search.memorize.rows == per_pair * 6 and rows[per_table].shape == (6, 256)
        ebc = search.memorize.ebc
        assert isinstance(ebc, EmbeddingBagCollection)
        tables = ebc.embedding_bag_configs()
        if per_table:
            assert [t.num_embeddings for t in tables] == [per_pair] * 6
            assert [t.feature_names for t in tables] == [[k] for k in search.memorize.keys]
        else:
            assert [(t.num_embeddings, t.feature_names) for t in tables] == [(6 * per_pair, search.memorize.keys)]
    blocks = torch.arange(6)[:, None] * per_pair
    assert rows[True].max() < per_pair and torch.equal(rows[False], rows[True] + blocks)
    trained, _ = _build(schema, optinter_mode="memorize")
    spread = trained.memorize.cross_rows(kjt)
    assert spread.max() < trained.memorize.rows and spread[0].max() >= per_pair  # over the whole table
    assert len(trained.memorize.ebc.embedding_bag_configs()) == 1


def test_search_mode_mixes_every_pair_and_alpha_gets_gradients() -> None:
    schema = _schema(5)
    model, _ = _build(schema)
    dense, kjt = _inputs(schema, 8)
    model(dense, kjt).logits.sum().backward()
    assert model.mixture is not None and model.mixture.arch_alpha.grad is not None
    assert model.mixture.arch_alpha.grad.abs().sum() > 0 and len(model.pairs) == 10


def test_fixed_mode_needs_one_method_per_pair() -> None:
    from recsys.errors import ConfigError

    with pytest.raises(ConfigError, match="one optinter_methods entry per pair"):
        resolve("optinter", overrides={"optinter_mode": "fixed", "optinter_pairs": [["C0", "C1"]],
                                       "optinter_methods": []})


def test_folding_the_mixture_into_the_first_layer_equals_mixing_the_pairs() -> None:
    schema = _schema(5)  # 2 raw dense values: their columns sit after the pairs'
    model, _ = _build(schema)
    dense, kjt = _inputs(schema, 6)
    model.mixture.t = 0.3
    with torch.no_grad():
        model.mixture.arch_alpha.normal_()
        emb = model.sparse_arch(dense, kjt)
        mixed = model.mixture(model.memorize(kjt), model.factorize(model.fac_embedding(kjt)))
        x = torch.cat([emb.flatten(1), mixed.flatten(1), dense], dim=1)
        assert torch.allclose(model(dense, kjt).logits, model.mlp(x).squeeze(-1), atol=1e-5)


@pytest.mark.parametrize("per_table", [True, False])
def test_cross_tables_skip_the_bounds_check_and_only_the_one_big_table_shards_row_wise_on_cuda(
        per_table: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cross rows are ``hash % rows``: no bounds check for any cross table. On CUDA one table of
    all pairs (a retrained model's, an AVX2 machine's search) shards row-wise; the search's small
    per-pair tables are placed like field tables."""
    from torchrec.distributed.types import ShardingType

    import recsys.embeddings.crosses as crosses
    from recsys.embeddings.sharding import sharding_constraints

    monkeypatch.setattr(crosses, "tables_per_pair", lambda: per_table)
    schema = _schema(4)
    search, _ = _build(schema)
    fixed, _ = _build(schema, optinter_mode="memorize")
    searched = [f"optinter_cross_{p}" for p in range(6)] if per_table else ["optinter_cross"]
    for model, names in ((search, searched), (fixed, ["optinter_cross"])):
        cpu, cuda = sharding_constraints(model, "cpu"), sharding_constraints(model, "cuda")
        for name in names:
            assert cpu[name].bounds_check_mode is not None and cpu[name].bounds_check_mode.name == "NONE"
            assert cpu[name].sharding_types == [ShardingType.TABLE_WISE.value]
            row_wise_only = ShardingType.TABLE_WISE.value not in (cuda[name].sharding_types or [])
            assert row_wise_only == (name == "optinter_cross")
