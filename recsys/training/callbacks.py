"""Trainer callbacks: hooks that watch or steer training without living in the loop.

Early stopping lives here; OptFS temperature and OptInter annealing will be callbacks too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Callback:
    """Hooks called by :class:`recsys.training.loop.Trainer`; each does nothing unless overridden."""

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        return None

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        """``metrics``: the epoch's record (``epoch``, train loss and speed, ``val_auc``, ...)."""
        return None

    def on_checkpoint(self, trainer: Any, epoch: int, files: list[Path]) -> None:
        """After epoch ``epoch`` (0-based) was checkpointed: ``files`` are this rank's files of it
        (its tensors; on rank 0 also ``state.json``), complete on disk."""
        return None


@dataclass
class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without improving ``monitor`` on validation (0: at the first).

    Marks the best epoch so the trainer restores the best checkpoint at the end.
    """

    patience: int = 2
    monitor: str = "auc"
    best: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stop: bool = field(default=False)

    def _score(self, metrics: dict[str, float]) -> float:
        value = metrics[f"val_{self.monitor}"]
        return -value if self.monitor == "logloss" else value

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        score = self._score(metrics)
        if score > self.best:
            self.best, self.best_epoch, self.bad_epochs = score, epoch, 0
        else:
            self.bad_epochs += 1
            self.stop = self.bad_epochs >= max(self.patience, 1)

    def state(self) -> dict[str, float]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load(self, state: dict[str, float]) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], int(state["best_epoch"]), int(state["bad_epochs"])
