"""OptFS's search stage, run by the one trainer with callbacks (Lyu et al., WWW 2023).

Search: every field embedding gets gate tables (:func:`recsys.embeddings.prune.attach_gates`);
the loss is ``BCE + optfs_lambda * sum_x sigmoid(tau * m_x)``; ``tau`` rises geometrically
from 1 (first search epoch) to ``optfs_final_tau`` (last) for every backbone alike, since
the gates live in the shared embedding module (the reference code forgets it for IPNN);
the whole model, gates excepted, is snapshotted at the start of epoch ``optfs_rewind_epoch``.
What comes out is the snapshot and the hard gates (``m > 0``); :mod:`recsys.training.job`
rewinds to the snapshot on pruned tables and retrains with plain BCE.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from recsys.data.loader import BatchLoader
from recsys.embeddings.gates import GATE_PREFIX, gate_modules, kept_fraction, set_temperature
from recsys.embeddings.prune import attach_gates, keep_masks
from recsys.layers.gates import temperature
from recsys.training import checkpoint as ckpt
from recsys.training.callbacks import Callback
from recsys.training.config import OptFSConfig, TrainConfig
from recsys.training.env import DistEnv
from recsys.training.loop import Trainer
from recsys.training.parallel import build_optimizer, shard


@dataclass
class TemperatureSchedule(Callback):
    """Sets every gate's ``tau`` at the start of each search epoch."""

    search_epochs: int
    final_tau: float
    taus: list[float] = field(default_factory=list)

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        tau = temperature(epoch, self.search_epochs, self.final_tau)
        set_temperature(trainer.model, tau)
        self.taus.append(tau)

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        metrics["tau"] = self.taus[-1]
        metrics["kept_fraction"] = kept_fraction(trainer.model)


@dataclass
class RewindSnapshot(Callback):
    """Full weights (gates excluded) at the start of epoch ``epoch``: the retrain's start."""

    epoch: int
    state: Optional[dict[str, torch.Tensor]] = None

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        if epoch == self.epoch:
            full = ckpt.full_state_dict(trainer.model)
            self.state = {k: v for k, v in full.items() if not _is_gate_key(k)}


def _is_gate_key(key: str) -> bool:
    return GATE_PREFIX in key


@dataclass
class SearchResult:
    """The rewind point, the hard gates per table and one record per search epoch."""

    snapshot: dict[str, torch.Tensor]
    keep: dict[str, torch.Tensor]
    history: list[dict[str, float]]


def search_config(train: TrainConfig, epochs: int) -> TrainConfig:
    """A search stage (OptFS, OptInter) runs all its ``epochs`` at a constant learning rate: no
    early stop (the trainer writes no checkpoints for it and keeps its last weights)."""
    return dataclasses.replace(train, epochs=epochs, patience=epochs, lr_schedule="constant")


def run_search(model: nn.Module, train: TrainConfig, optfs: OptFSConfig, env: DistEnv, out_dir: Path,
               loaders: dict[str, BatchLoader], progress: bool = True) -> SearchResult:
    """Search gates on ``model`` (unsharded, tables on meta); its ``history.jsonl`` goes to ``out_dir``."""
    attach_gates(model, optfs.optfs_m_init)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = search_config(train, optfs.optfs_search_epochs)
    dmp = shard(model, cfg, env)
    gates = gate_modules(dmp)
    schedule = TemperatureSchedule(optfs.optfs_search_epochs, optfs.optfs_final_tau)
    snapshot = RewindSnapshot(optfs.optfs_rewind_epoch)
    trainer = Trainer(dmp, build_optimizer(dmp, cfg, {GATE_PREFIX: optfs.optfs_learning_rate}), cfg, env, out_dir,
                      callbacks=[schedule, snapshot], progress=progress, restore_best=False, checkpoints=False,
                      penalties=[lambda: optfs.optfs_lambda * torch.stack([g.penalty() for g in gates]).sum()])
    fit = trainer.fit(loaders["train"], loaders["val"])
    keep = keep_masks(dmp, ckpt.full_state_dict(dmp))
    assert snapshot.state is not None, "the rewind epoch lies inside the search (checked by OptFSConfig)"
    return SearchResult(snapshot.state, keep, fit.history)
