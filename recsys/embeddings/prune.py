"""OptFS surgery on a model's field embeddings: gates in for the search, rows out after it.

Works on any model, because every model embeds through :class:`FieldEmbedding`:

* :func:`attach_gates` gives every field embedding (main, first-order ``lr_``, FGCNN's
  ``gen_``) gate tables of the same rows.
* :func:`prune_plan`: a plan + the rows to keep -> the same plan with smaller tables and,
  per table, an old-row -> new-row map. A pruned row maps to its field's OOV row: row 0 of
  a vocabulary table (kept always; it already serves unseen and rare values), or one new
  row appended to a hashed table (one field per table) or a Unified Embedding table (shared
  by the fields of that table). Lookup keys keep their hashing (``rows`` of the old table).
* :func:`prune_model` swaps every field embedding for its pruned one; :func:`prune_state`
  carries full (unsharded) weights over: kept rows copied, new OOV rows zero (what a hard
  gate gave a pruned row at the rewind point).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterator, Mapping, Optional

import torch
from torch import nn

from recsys.embeddings.gates import GateTables, gate_modules
from recsys.embeddings.module import FieldEmbedding
from recsys.embeddings.strategies import TablePlan
from recsys.layers.gates import hard_gate

_TABLE_KEY = re.compile(r"embedding_bags\.([^.]+)\.weight$")


def field_embeddings(model: nn.Module) -> Iterator[tuple[nn.Module, str, FieldEmbedding]]:
    """``(parent, attribute, module)`` of every :class:`FieldEmbedding` in ``model``."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FieldEmbedding):
                yield parent, name, child


def attach_gates(model: nn.Module, m_init: float, device: Optional[torch.device] = None) -> None:
    """Give every field embedding of ``model`` OptFS gate tables (built on ``device``, meta by default)."""
    for _, _, fe in field_embeddings(model):
        fe.gates = GateTables(fe.plan, m_init, device)


def keep_masks(model: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hard gates (``m > 0``) per embedding table: ``{table: (rows,) bool}``, from the full state
    dict of gated ``model`` (sharded or not)."""
    out = {}
    for gates in gate_modules(model):
        key = next(k for k in state if k.endswith(f"embedding_bags.{gates.name}.weight"))
        out.update({table: hard_gate(m) for table, m in gates.split(state[key]).items()})
    return out


@dataclasses.dataclass(frozen=True)
class TablePruning:
    """One pruned table: ``row_map`` (old row -> new row, int64) and the ``kept`` old rows, in
    new-row order (new row ``i`` holds old row ``kept[i]``; rows past them are new OOV rows)."""

    row_map: torch.Tensor
    kept: torch.Tensor


def prune_plan(plan: TablePlan, keep: Mapping[str, torch.Tensor]) -> tuple[TablePlan, dict[str, TablePruning]]:
    """Smaller tables for ``keep[table]`` (bool per old row) and how each table was pruned."""
    tables, out = [], {}
    for table in plan.tables:
        mask = keep[table.name].clone().bool()
        vocab = all(k.direct for k in plan.keys if k.table == table.name)
        if vocab:
            mask[0] = True
        kept = torch.nonzero(mask).squeeze(1)
        oov = 0 if vocab else len(kept)
        row_map = torch.full((table.num_embeddings,), oov, dtype=torch.int64)
        row_map[kept] = torch.arange(len(kept))
        out[table.name] = TablePruning(row_map, kept)
        tables.append(dataclasses.replace(table, num_embeddings=len(kept) + (0 if vocab else 1)))
    return dataclasses.replace(plan, tables=tuple(tables)), out


def prune_model(model: nn.Module, keep: Optional[Mapping[str, torch.Tensor]] = None,
                sizes: Optional[Mapping[str, int]] = None, device: Optional[torch.device] = None) -> dict[str, TablePruning]:
    """Swap every field embedding of ``model`` (unpruned) for its pruned version.

    ``keep``: rows to keep per table (after a search); returns how each table was pruned.
    ``sizes``: pruned row counts per table, to rebuild a saved pruned model whose row maps
    then come with its weights (placeholders until ``load_state_dict``); returns ``{}``.
    """
    out: dict[str, TablePruning] = {}
    for parent, name, fe in field_embeddings(model):
        if keep is not None:
            plan, pruning = prune_plan(fe.plan, keep)
            maps = {t: p.row_map for t, p in pruning.items()}
            out.update(pruning)
        else:
            assert sizes is not None, "prune_model needs keep or sizes"
            plan = dataclasses.replace(fe.plan, tables=tuple(
                dataclasses.replace(t, num_embeddings=int(sizes[t.name])) for t in fe.plan.tables))
            maps = {t.name: torch.zeros(t.num_embeddings, dtype=torch.int64) for t in fe.plan.tables}
        setattr(parent, name, FieldEmbedding(plan, device, maps))
    return out


def pruned_sizes(model: nn.Module) -> dict[str, int]:
    """Rows per table of a (pruned) model: what :func:`prune_model` needs to rebuild it."""
    return {t.name: int(t.num_embeddings) for _, _, fe in field_embeddings(model) for t in fe.plan.tables}


def prune_state(state: Mapping[str, torch.Tensor], model: nn.Module,
                pruning: Mapping[str, TablePruning]) -> dict[str, torch.Tensor]:
    """Full weights of the unpruned model -> those of pruned ``model`` (gate logits dropped).

    Table rows are taken from the kept old rows; appended OOV rows start at zero. Row maps
    come from ``pruning``; every other tensor is copied.
    """
    out: dict[str, torch.Tensor] = {}
    for key, live in model.state_dict().items():
        match = _TABLE_KEY.search(key)
        if key.endswith("remap.row_map"):
            fe = model.get_submodule(key[: -len(".remap.row_map")])
            assert isinstance(fe, FieldEmbedding)
            out[key] = torch.cat([pruning[t.name].row_map for t in fe.plan.tables])
        elif match and match.group(1) in pruning:
            kept = pruning[match.group(1)].kept
            new = torch.zeros(live.shape, dtype=state[key].dtype)
            new[: len(kept)] = state[key][kept]
            out[key] = new
        else:
            out[key] = state[key]
    return out
