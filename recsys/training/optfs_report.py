"""The OptFS report: which values each field kept and how much of its traffic they carry.

``RUN_DIR/optfs/``: ``fields.tsv`` (``field, values, kept, kept_fraction, traffic_kept``) for
the main field embedding, ``search.tsv`` (``epoch, tau, kept_fraction, val_auc``) and
``fields.png`` (kept fraction and traffic kept per field). A field's *values* are the table
rows its training rows reach: vocabulary ids, or hash buckets (with ``hashed``/``unified``
embeddings a row is a bucket shared by colliding values, so a gate keeps or drops the whole
bucket). *Kept* counts rows whose learned gate is open (``m > 0``); *traffic kept* is the
share of training rows whose row is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import polars as pl
import torch
import torch.distributed as dist

from recsys.data.loader import BatchLoader
from recsys.embeddings.module import IdRemap
from recsys.embeddings.strategies import TablePlan
from recsys.files import write_file_atomic, write_text_atomic
from recsys.plots import pyplot, save_png


@torch.no_grad()
def row_traffic(plan: TablePlan, loader: BatchLoader) -> dict[str, torch.Tensor]:
    """Training rows per table row, per lookup key: ``{key: (table rows,) int64}`` (summed over ranks)."""
    remap = IdRemap(plan)
    sizes = {t.name: t.num_embeddings for t in plan.tables}
    counts = {k.key: torch.zeros(sizes[k.table], dtype=torch.int64) for k in plan.keys}
    for batch in loader:
        kjt = remap(batch.sparse)
        for key, jt in kjt.to_dict().items():
            counts[key] += torch.bincount(jt.values(), minlength=len(counts[key]))
    if dist.is_initialized() and dist.get_world_size() > 1:
        for c in counts.values():
            dist.all_reduce(c)
    return counts


def field_table(plan: TablePlan, keep: Mapping[str, torch.Tensor], traffic: Mapping[str, torch.Tensor]) -> pl.DataFrame:
    """One row per field of ``plan``: values reached, kept, kept_fraction, traffic_kept."""
    rows = []
    for f in plan.fields:
        keys = [k for k in plan.keys if k.field == f]
        values = kept = hits = kept_hits = 0
        for k in keys:
            c, open_ = traffic[k.key], keep[k.table]
            reached = c > 0
            values += int(reached.sum())
            kept += int((reached & open_).sum())
            hits += int(c.sum())
            kept_hits += int(c[open_].sum())
        rows.append({"field": f, "values": values, "kept": kept, "kept_fraction": kept / max(values, 1),
                     "traffic_kept": kept_hits / max(hits, 1)})
    return pl.DataFrame(rows, schema={"field": pl.String, "values": pl.Int64, "kept": pl.Int64,
                                      "kept_fraction": pl.Float64, "traffic_kept": pl.Float64})


def search_table(history: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([{"epoch": int(r["epoch"]), "tau": r["tau"], "kept_fraction": r["kept_fraction"],
                          "val_auc": r["val_auc"]} for r in history])


_MEANING = {
    "vocab": "Each row is one vocabulary value of one field (row 0: the field's OOV value), so a gate keeps "
             "or drops one feature value; pruned values are scored as the OOV value.",
    "hashed": "Each row is a hash bucket of one field, shared by the values that collide in it, so a gate "
              "keeps or drops the whole bucket; pruned buckets map to one new OOV row per field.",
    "unified": "Each row is a bucket of the shared Unified Embedding table, reached by values of several "
               "fields (and chunks), so a gate keeps or drops the bucket for all of them; pruned buckets map to "
               "one new row per table.",
}


def readme(strategy: str) -> str:
    """What the report's files and a gate mean under ``strategy``."""
    return ("OptFS report (docs/models.md, OptFS)\n\n"
            f"What a gate means here ({strategy} embeddings): {_MEANING.get(strategy, _MEANING['vocab'])}\n\n"
            "fields.tsv: per field of the main embedding, the rows its training rows reach (values), those whose "
            "learned gate is open, m > 0 (kept), their share (kept_fraction) and the share of training rows whose "
            "row is kept (traffic_kept).\nsearch.tsv: per search epoch, the temperature, the share of all gated "
            "rows that are open, and the validation AUC.\nfields.png: kept_fraction and traffic_kept per field.\n")


def write_report(out_dir: Path, fields: pl.DataFrame, search: pl.DataFrame, strategy: str = "vocab") -> None:
    """``fields.tsv``, ``search.tsv``, ``fields.png`` and ``README.txt`` under ``out_dir`` (each
    written whole, then renamed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "README.txt", readme(strategy))
    for name, frame in (("fields.tsv", fields), ("search.tsv", search)):
        write_file_atomic(out_dir / name, lambda tmp: frame.write_csv(tmp, separator="\t", float_precision=6))
    _bar_chart(out_dir / "fields.png", fields)


def _bar_chart(path: Path, fields: pl.DataFrame) -> None:
    import numpy as np

    x = np.arange(fields.height)
    fig, ax = pyplot().subplots(figsize=(max(6.0, 0.32 * fields.height), 3.6))
    ax.bar(x - 0.2, fields["kept_fraction"].to_numpy(), 0.4, label="values kept", color="#4c78a8")
    ax.bar(x + 0.2, fields["traffic_kept"].to_numpy(), 0.4, label="traffic kept", color="#f58518")
    ax.set_xticks(x, fields["field"].to_list(), rotation=90, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction")
    ax.set_title("OptFS: kept values and kept traffic per field")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    save_png(fig, path)
