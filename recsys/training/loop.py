"""One trainer for every model, single-process or one rank of many (Ray Train, torchrun).

Each epoch: shuffled batches -> forward -> task loss -> backward (embedding updates run
fused inside fbgemm's backward) -> dense clip + step; then exact validation metrics,
``history.jsonl``, a checkpoint, callbacks. At the end the best epoch's weights are
restored. Only rank 0 writes shared files.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from recsys.data.loader import BatchLoader
from recsys.errors import TrainingError
from recsys.files import write_json_atomic, write_text_atomic
from recsys.tasks.ctr import CTRTask
from recsys.tasks.metrics import StreamingMetrics
from recsys.training import checkpoint as ckpt
from recsys.training.callbacks import Callback, EarlyStopping
from recsys.training.batchnorm import average_batch_norm_across_ranks, recalibrate_batch_norm
from recsys.training.config import TrainConfig
from recsys.precision import autocast, uses_bf16
from recsys.training.env import DistEnv
from recsys.training.regularizers import embedding_l2


@dataclass
class EvalResult:
    """Exact metrics of one split and how fast it was scored."""

    auc: float
    logloss: float
    rows: int
    rows_per_s: float
    scores: Optional[np.ndarray] = None
    """``(N,)`` fp32 click probabilities in loader order, when asked for (``keep_scores``)."""
    labels: Optional[np.ndarray] = None


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    train_samples_per_s: float = 0.0
    epochs_run: int = 0
    val: Optional[EvalResult] = None  # validation of the final weights, when already measured


@torch.no_grad()
def score_loader(model: nn.Module, loader: BatchLoader, device: torch.device,
                 keep_scores: bool = False, across_ranks: bool = True) -> EvalResult:
    """Exact AUC/logloss of ``model`` over every row of ``loader``, merged across ranks, and
    the scoring speed; a sharded model and an unsharded one (``recsys evaluate``) alike.

    Always fp32, also for a model trained under bf16 autocast: the metrics are then the
    numbers the bundle reproduces (``recsys score`` and the service score in fp32), and no
    row's score depends on its batch's shape (bf16 kernels round differently per shape).
    ``keep_scores`` also returns this rank's scores and labels in loader order.
    ``across_ranks=False``: this process alone scores the whole split (an unsharded model on one
    rank of several); the metrics are not merged with the other ranks'."""
    model.eval()
    metrics, start = StreamingMetrics(), time.perf_counter()
    kept: list[tuple[torch.Tensor, torch.Tensor]] = []
    for batch, real in loader.iter_padded():
        batch = batch.to(device, non_blocking=True)
        out = model(batch.dense, batch.sparse)
        if real:
            metrics.update(out.logits.float(), batch.labels)
            if keep_scores:
                kept.append((torch.sigmoid(out.logits.float()).cpu(), batch.labels.cpu()))
    seconds = time.perf_counter() - start
    if across_ranks:
        metrics.gather()
    m = metrics.compute()
    result = EvalResult(m["auc"], m["logloss"], int(m["rows"]), m["rows"] / max(seconds, 1e-9))
    if keep_scores:
        result.scores = torch.cat([s for s, _ in kept]).numpy() if kept else np.zeros(0, np.float32)
        result.labels = torch.cat([y for _, y in kept]).numpy() if kept else np.zeros(0, np.float32)
    return result


Penalty = Callable[[], torch.Tensor]
"""A scalar added to every step's loss that depends on weights only (OptFS gate sparsity)."""
StepHook = Callable[["Trainer"], None]
"""Called before every training step (``trainer.step`` is the global step): OptInter's annealing."""


class Trainer:
    """Runs :meth:`fit` and :meth:`evaluate` for a sharded model; see the module docstring.

    ``penalties`` are added to each step's task loss; ``step_hooks`` run before each step. ``restore_best=False`` keeps the last
    epoch's weights and ``checkpoints=False`` writes none (a search stage wants its final
    state, not its best validation epoch, and nothing to resume from).
    """

    def __init__(self, model: nn.Module, optimizer: Any, cfg: TrainConfig, env: DistEnv, run_dir: Path,
                 callbacks: Optional[list[Callback]] = None, progress: bool = True,
                 penalties: Optional[list[Penalty]] = None, restore_best: bool = True,
                 checkpoints: bool = True, step_hooks: Optional[list[StepHook]] = None) -> None:
        self.model, self.optimizer, self.cfg, self.env = model, optimizer, cfg, env
        self.run_dir, self.task, self.progress = run_dir, CTRTask(), progress
        self.penalties, self.restore_best, self.checkpoints = list(penalties or []), restore_best, checkpoints
        l2 = embedding_l2(model, cfg.embedding_regularizer)
        if l2 is not None:
            self.penalties.append(l2)
        self.step_hooks = list(step_hooks or [])
        self.early = EarlyStopping(cfg.patience, cfg.monitor)
        self.callbacks: list[Callback] = [self.early] + list(callbacks or [])
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.step = 0

    # ---- one epoch -------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.cfg.mixed_precision, self.env.device)

    @property
    def precision(self) -> str:
        return "bf16" if uses_bf16(self.cfg.mixed_precision, self.env.device) else "fp32"

    def _set_lr(self, total_steps: int) -> None:
        if self.cfg.lr_schedule != "cosine" or total_steps <= 0:
            return
        factor = 0.5 * (1 + math.cos(math.pi * min(self.step / total_steps, 1.0)))
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * factor

    def train_epoch(self, loader: BatchLoader, epoch: int, total_steps: int) -> dict[str, float]:
        self.model.train()
        loader.set_epoch(epoch)
        loss_sum, rows, start = 0.0, 0, time.perf_counter()
        bar = tqdm(total=len(loader) * loader.batch_size, unit="rows", disable=None if self.progress and self.env.is_main else True,
                   desc=f"epoch {epoch + 1}", leave=False, mininterval=1.0)
        for batch in loader:
            batch = batch.to(self.env.device, non_blocking=True)
            self._set_lr(total_steps)
            value = self.train_step(batch, batch.batch_size / loader.batch_size)
            if not math.isfinite(value):
                raise TrainingError(f"non-finite loss ({value}) at epoch {epoch + 1}, step {self.step}; "
                                    "lower learning_rate or enable max_grad_norm")
            loss_sum += value * batch.batch_size
            rows += batch.batch_size
            self.step += 1
            bar.update(batch.batch_size)
            bar.set_postfix(loss=f"{loss_sum / rows:.4f}", rows_s=f"{rows / (time.perf_counter() - start):.0f}")
        bar.close()
        seconds = time.perf_counter() - start
        return {"train_loss": loss_sum / max(rows, 1), "train_rows": float(rows), "train_seconds": seconds,
                "train_samples_per_s": rows * self.env.world_size / max(seconds, 1e-9)}

    def train_step(self, batch: Any, share: float = 1.0) -> float:
        """One optimizer step on ``batch`` (already on the device): step hooks, forward under
        autocast, task loss times ``share`` plus penalties, backward (fbgemm updates the
        looked-up rows here), clipping of the dense gradients, the dense step. Returns the
        task loss (unweighted).

        ``share`` is the batch's rows over a full batch's: 1 but for an epoch's short last
        batch. A mean over 166 rows puts 25x a 4,096-row batch's per-row gradient on each row
        it looks up, and row-wise Adagrad, normalised by the small gradients seen so far, made
        that one step a near-maximal move of the most frequent rows: 0.004-0.006 test AUC and
        up to 0.02 logloss lost on 200k rows (measured, two seeds). Weighted, a short batch
        moves the weights as its rows would within a full batch."""
        for hook in self.step_hooks:
            hook(self)
        with self._autocast():
            out = self.model(batch.dense, batch.sparse)
        task_loss = self.task.loss(out, batch.labels)
        loss = task_loss * share if share != 1.0 else task_loss
        for penalty in self.penalties:
            loss = loss + penalty()
        self.optimizer.zero_grad()
        loss.backward()
        if self.cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self._dense_grads(), self.cfg.max_grad_norm)
        self.optimizer.step()
        return float(task_loss.detach())

    def _dense_grads(self) -> list[torch.Tensor]:
        return [p for p in self.model.parameters() if p.grad is not None]

    # ---- evaluation ------------------------------------------------------------------
    def evaluate(self, loader: BatchLoader, keep_scores: bool = False) -> EvalResult:
        """Exact AUC/logloss over every row of ``loader`` (merged across ranks)."""
        return score_loader(self.model, loader, self.env.device, keep_scores)

    # ---- fit -------------------------------------------------------------------------
    def fit(self, train: BatchLoader, val: BatchLoader, start_epoch: int = 0,
            history: Optional[list[dict[str, float]]] = None) -> FitResult:
        result = FitResult(history=list(history or []))
        total_steps = len(train) * self.cfg.epochs
        self.step = len(train) * start_epoch
        rates = []
        for epoch in range(start_epoch, self.cfg.epochs):
            for cb in self.callbacks:
                cb.on_epoch_start(self, epoch)
            stats = self.train_epoch(train, epoch, total_steps)
            self._recalibrate_batch_norm(train)
            val_res = result.val = self.evaluate(val)
            record = {"epoch": epoch + 1, **stats, "val_auc": val_res.auc, "val_logloss": val_res.logloss,
                      "lr": self.optimizer.param_groups[-1]["lr"]}
            rates.append(stats["train_samples_per_s"])
            for cb in self.callbacks:
                cb.on_epoch_end(self, epoch, record)
            self._plateau(epoch)
            result.history.append(record)
            if self.checkpoints:
                self.save_checkpoint(epoch, result.history)
            self._write_history(result.history)
            result.epochs_run = epoch + 1
            if self.early.stop:
                break
        result.best_epoch = self.early.best_epoch
        result.train_samples_per_s = sum(rates) / len(rates) if rates else 0.0
        if self.restore_best and self.early.best_epoch + 1 != result.epochs_run:
            self.restore(self.early.best_epoch)
            result.val = None
        return result

    def _recalibrate_batch_norm(self, train: BatchLoader) -> None:
        """Fresh BatchNorm statistics from the first training batches (every rank runs the same
        number of forwards, so sharded lookups stay in step). Without BatchNorm no batch is read."""
        if not self.cfg.bn_recalibration_batches:
            return
        batches = itertools.islice(iter(train), self.cfg.bn_recalibration_batches)
        if recalibrate_batch_norm(self.model, batches, self.env.device, self._autocast):
            average_batch_norm_across_ranks(self.model)

    def _write_history(self, history: list[dict[str, float]]) -> None:
        """Rewrite ``history.jsonl`` whole (a resumed run keeps one line per epoch)."""
        if self.env.is_main:
            write_text_atomic(self.run_dir / "history.jsonl", "".join(json.dumps(r) + "\n" for r in history))

    def _plateau(self, epoch: int) -> None:
        """Cut the learning rates after every ``plateau_patience`` consecutive bad epochs."""
        bad = self.early.bad_epochs
        if self.cfg.lr_schedule == "plateau" and bad > 0 and bad % self.cfg.plateau_patience == 0:
            for g in self.optimizer.param_groups:
                g["lr"] *= self.cfg.plateau_factor

    # ---- checkpoints -----------------------------------------------------------------
    def _ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def save_checkpoint(self, epoch: int, history: list[dict[str, float]]) -> None:
        """This rank's tensors of epoch ``epoch`` (0-based) and, on rank 0, ``state.json``; then
        every callback's :meth:`~recsys.training.callbacks.Callback.on_checkpoint`."""
        tensors = {f"model{ckpt.SEP}{k}": v for k, v in ckpt.flatten_tensors(self.model.state_dict()).items()}
        tensors.update({f"optim{ckpt.SEP}{k}": v for k, v in ckpt.flatten_tensors(self.optimizer.state_dict()).items()})
        tensors["rng"] = torch.get_rng_state()
        files = [ckpt.rank_file(self._ckpt_dir(), f"epoch-{epoch + 1}")]
        ckpt.save(files[0], tensors)
        if self.env.is_main:
            state = {"epoch": epoch + 1, "early": self.early.state(), "history": history,
                     "lrs": [g["lr"] for g in self.optimizer.param_groups], "world_size": self.env.world_size}
            write_json_atomic(self._ckpt_dir() / "state.json", state, indent=None)
            files.append(self._ckpt_dir() / "state.json")
        if dist.is_initialized():
            dist.barrier()
        for cb in self.callbacks:
            cb.on_checkpoint(self, epoch, files)

    def load_checkpoint(self, epoch: int, with_optimizer: bool = True) -> None:
        path = ckpt.rank_file(self._ckpt_dir(), f"epoch-{epoch}")
        saved = ckpt.load(path)
        model_part = _part(saved, "model")
        live = self.model.state_dict()
        missing = ckpt.copy_into(live, model_part)
        unexpected = sorted(set(model_part) - ckpt.tensor_keys(live))
        if missing or unexpected:
            raise TrainingError(f"{path}: the checkpoint does not fit this model (missing {missing[:3]}, "
                                f"unexpected {unexpected[:3]}); was it written by another config?")
        if with_optimizer:
            optim_part = _part(saved, "optim")
            self.optimizer.init_state()
            state = self.optimizer.state_dict()
            ckpt.copy_into(state, optim_part)
            self.optimizer.load_state_dict(state)
            torch.set_rng_state(saved["rng"])

    def resume_state(self) -> Optional[dict[str, Any]]:
        """The saved state.json of an interrupted run, or None."""
        path = self._ckpt_dir() / "state.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def restore(self, best_epoch: int) -> None:
        """Load the best epoch's weights (0-based ``best_epoch``) if it was not the last."""
        if best_epoch >= 0:
            self.load_checkpoint(best_epoch + 1, with_optimizer=False)


def _part(saved: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors saved under ``prefix//`` (model or optimizer), with the prefix removed."""
    head = prefix + ckpt.SEP
    return {k[len(head):]: v for k, v in saved.items() if k.startswith(head)}
