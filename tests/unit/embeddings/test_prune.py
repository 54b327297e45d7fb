"""OptFS pruning: smaller tables, row maps to OOV rows, and gates on every backbone."""

from __future__ import annotations

import pytest
import torch

from recsys.embeddings.gates import gate_modules, set_temperature
from recsys.embeddings.prune import attach_gates, field_embeddings, keep_masks, prune_model, prune_plan, prune_state
from recsys.embeddings.strategies import EmbeddingConfig, plan_tables
from recsys.models.registry import MODELS
from tests.unit.models.test_models import _inputs, _model, _schema

CARDS = {"a": 6, "b": 4}


def _keep(plan, rows: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    out = {}
    for t in plan.tables:
        mask = torch.zeros(t.num_embeddings, dtype=torch.bool)
        mask[rows.get(t.name, [])] = True
        out[t.name] = mask
    return out


def test_vocab_tables_keep_row_zero_as_the_oov_row() -> None:
    plan = plan_tables(CARDS, EmbeddingConfig("vocab", 8), "vocab")
    pruned, how = prune_plan(plan, _keep(plan, {"t_a": [2, 5], "t_b": []}))
    assert [t.num_embeddings for t in pruned.tables] == [3, 1]
    assert how["t_a"].row_map.tolist() == [0, 0, 1, 0, 0, 2]
    assert how["t_b"].row_map.tolist() == [0, 0, 0, 0]
    assert [k.rows for k in pruned.keys] == [6, 4]  # hashing and direct ids unchanged


def test_hashed_and_unified_tables_get_one_new_oov_row() -> None:
    hashed = plan_tables(CARDS, EmbeddingConfig("hashed", 8, "6rows"), "hash")
    pruned, how = prune_plan(hashed, _keep(hashed, {"h_a": [0]}))
    assert [t.num_embeddings for t in pruned.tables] == [2, 1]
    assert how["h_a"].row_map[0] == 0 and set(how["h_a"].row_map[1:].tolist()) == {1}
    unified = plan_tables(CARDS, EmbeddingConfig("unified", 8, "10rows", chunks=2), "hash")
    pruned, how = prune_plan(unified, _keep(unified, {"unified_0": [3, 7]}))
    assert pruned.tables[0].num_embeddings == 3 and how["unified_0"].kept.tolist() == [3, 7]


def test_keep_masks_are_hard_gates_of_the_saved_logits() -> None:
    """One gate table per field embedding, split back into its tables' rows."""
    model = _model("dnn", _schema(2))  # tables t_C0 (5 rows) and t_C1 (8 rows)
    attach_gates(model, 0.5, torch.device("cpu"))
    logits = torch.full((13, 1), -1.0)
    logits[[0, 4, 5, 12]] = torch.tensor([[0.2], [1e-6], [3.0], [0.5]])
    logits[6] = 0.0
    keep = keep_masks(model, {"sparse_arch.embedding.gates.ebc.embedding_bags.optfs_gate__main.weight": logits})
    assert keep["t_C0"].tolist() == [True, False, False, False, True]
    assert keep["t_C1"].tolist() == [True, False, False, False, False, False, False, True]


@pytest.mark.parametrize("name", [m for m in MODELS if m != "optinter"])  # its cross table has no gates
def test_every_backbone_is_gated_and_follows_the_temperature(name: str) -> None:
    """Closed gates at a high temperature silence every embedding: the output stops depending on ids."""
    schema = _schema(5)
    model = _model(name, schema)
    attach_gates(model, 0.5, torch.device("cpu"))
    assert len(gate_modules(model)) == len(list(field_embeddings(model))) > 0
    dense, kjt = _inputs(schema, 16, seed=1)
    _, other = _inputs(schema, 16, seed=2)
    model.eval()
    with torch.no_grad():
        before = model(dense, kjt).logits
        assert not torch.allclose(before, model(dense, other).logits)
        for gates in gate_modules(model):
            for m in gates.logits():
                m.fill_(-0.05)
        set_temperature(model, 1.0)
        assert not torch.allclose(model(dense, kjt).logits, model(dense, other).logits)
        set_temperature(model, 400.0)
        assert torch.allclose(model(dense, kjt).logits, model(dense, other).logits, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_backbone_reaches_the_final_temperature_at_the_last_search_epoch(name: str) -> None:
    from types import SimpleNamespace

    from recsys.training.stages import TemperatureSchedule

    model = _model(name, _schema(4))
    attach_gates(model, 0.5, torch.device("cpu"))
    schedule = TemperatureSchedule(search_epochs=5, final_tau=200.0)
    trainer = SimpleNamespace(model=model)
    for epoch in range(5):
        schedule.on_epoch_start(trainer, epoch)
        assert {g.tau for g in gate_modules(model)} == {schedule.taus[-1]}
    assert schedule.taus[0] == 1.0 and schedule.taus[-1] == pytest.approx(200.0, rel=1e-12)


@pytest.mark.parametrize("strategy,budget,encoding", [("vocab", None, "vocab"), ("hashed", "40rows", "vocab"),
                                                      ("unified", "60rows", "vocab")])
def test_pruned_model_scores_kept_rows_like_the_original(strategy: str, budget: str | None, encoding: str) -> None:
    """With every row kept, the pruned model (smaller tables + row maps) equals the original."""
    schema = _schema(4, encoding=encoding)
    model = _model("deepfm", schema, strategy, budget)
    state = model.state_dict()
    keep = {t.name: torch.ones(t.num_embeddings, dtype=torch.bool)
            for _, _, fe in field_embeddings(model) for t in fe.plan.tables}
    pruned = _model("deepfm", schema, strategy, budget)
    how = prune_model(pruned, keep, device=torch.device("cpu"))
    pruned.load_state_dict(prune_state(state, pruned, how))
    dense, kjt = _inputs(schema, 32)
    model.eval(), pruned.eval()
    with torch.no_grad():
        assert torch.allclose(model(dense, kjt).logits, pruned(dense, kjt).logits, atol=1e-6)


def test_pruned_values_score_as_their_fields_oov_value() -> None:
    schema = _schema(3)
    model = _model("dnn", schema)
    keep = {t.name: torch.arange(t.num_embeddings) % 2 == 0 for _, _, fe in field_embeddings(model) for t in fe.plan.tables}
    pruned = _model("dnn", schema)
    how = prune_model(pruned, keep, device=torch.device("cpu"))
    pruned.load_state_dict(prune_state(model.state_dict(), pruned, how))
    dense, kjt = _inputs(schema, 64)
    odd_to_oov = torch.where(kjt.values() % 2 == 1, torch.zeros_like(kjt.values()), kjt.values())
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    as_oov = KeyedJaggedTensor(keys=kjt.keys(), values=odd_to_oov, lengths=kjt.lengths(), stride=kjt.stride())
    model.eval(), pruned.eval()
    with torch.no_grad():
        assert torch.allclose(pruned(dense, kjt).logits, model(dense, as_oov).logits, atol=1e-6)
    tables = [t.num_embeddings for _, _, fe in field_embeddings(pruned) for t in fe.plan.tables]
    assert tables == [(c + 1) // 2 for c in schema.cardinalities]
