"""Training settings (FuxiCTR names where the field shares them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from recsys.errors import ConfigError

SHARDING_TYPES = {"table_wise", "row_wise", "column_wise", "table_row_wise", "table_column_wise"}
SparseOptimizer = Literal["rowwise_adagrad", "adagrad", "sgd", "adam", "rowwise_adam"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimizers, schedule, regularization, stopping and reproducibility.

    ``learning_rate`` drives the dense (torch) optimizer; ``sparse_learning_rate`` the fused
    fbgemm optimizer of the embedding tables. On CPU fbgemm fuses ``sgd``, ``adagrad`` and
    ``rowwise_adagrad``; ``adam``/``rowwise_adam`` are GPU-only ("not supported in CPU mode").
    ``embedding_regularizer`` is L2 on the embedding rows a batch looks up, as a loss term
    (:mod:`recsys.training.regularizers`: fbgemm's fused CPU kernels ignore weight decay);
    ``net_regularizer`` is L2 on dense weights. ``mixed_precision: bf16`` runs dense layers under bfloat16 autocast
(fp32 master weights; embeddings stay fp32 in fbgemm); ``auto`` picks bf16 where the
hardware has native bf16 matmuls (AVX512-BF16/AMX CPUs, Ampere+ GPUs), else fp32.
    """

    learning_rate: float = 1e-3
    sparse_learning_rate: float = 0.01
    optimizer: Literal["adam", "adagrad", "sgd"] = "adam"
    sparse_optimizer: SparseOptimizer = "rowwise_adagrad"
    batch_size: int = 4096
    epochs: int = 1
    embedding_regularizer: float = 0.0
    net_regularizer: float = 0.0
    max_grad_norm: Optional[float] = 10.0
    lr_schedule: Literal["constant", "cosine", "plateau"] = "constant"
    plateau_patience: int = 1
    """``lr_schedule: plateau``: the learning rates are multiplied by ``plateau_factor`` after
    this many consecutive epochs without a better validation ``monitor`` (counted again from
    each cut; 1: at every bad epoch, FuxiCTR's behaviour)."""
    plateau_factor: float = 0.1
    patience: int = 2
    monitor: Literal["auc", "logloss"] = "auc"
    seed: int = 2024
    threads: Optional[int] = None
    mixed_precision: Literal["auto", "none", "bf16"] = "auto"
    eval_batch_size: int = 16384
    sharding_types: Optional[tuple[str, ...]] = None
    """Force the TorchRec planner to these sharding types for every embedding table (e.g.
    ``[row_wise]`` on GPUs, ``[column_wise]`` on CPU, where TorchRec has no row-wise); None lets
    :mod:`recsys.embeddings.sharding` choose per table."""
    bn_recalibration_batches: int = 16
    """After each epoch, BatchNorm statistics are re-estimated over this many training batches
    with the epoch's final weights (:mod:`recsys.training.batchnorm`); 0 keeps the running
    averages taken during training. Models without BatchNorm skip it."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.epochs < 1:
            raise ConfigError("batch_size and epochs must be positive")
        if self.learning_rate <= 0 or self.sparse_learning_rate <= 0:
            raise ConfigError("learning rates must be positive")
        if self.plateau_patience < 1 or not 0 < self.plateau_factor < 1:
            raise ConfigError("plateau_patience must be >= 1 and plateau_factor in (0, 1)")
        if self.patience < 0:
            raise ConfigError("patience must be >= 0")
        bad = set(self.sharding_types or ()) - SHARDING_TYPES
        if bad:
            raise ConfigError(f"sharding_types: unknown {sorted(bad)}; choose from {sorted(SHARDING_TYPES)}")
        if self.bn_recalibration_batches < 0:
            raise ConfigError("bn_recalibration_batches must be >= 0")


@dataclass(frozen=True)
class OptFSConfig:
    """OptFS (Lyu et al., WWW 2023): gate search, rewind, retrain on pruned tables.

    Defaults are the paper's DeepFM-on-Criteo setting (gate Adam lr 3e-4, lambda 5e-9, final
    tau 200, 15 search epochs, rewind epoch 1, m_init 0.5), for Criteo's 36.7M training rows.
    For ``N`` training rows (docs/models.md, OptFS): ``optfs_lambda = 0.18 / N`` (the BCE is a
    mean, so a value seen ``c`` times weighs ``c / N`` against a per-row penalty: this prunes
    the same counts at any ``N``) and, below a few million rows, ``optfs_learning_rate =
    0.25 / sqrt(2 * steps per epoch)`` (an Adam-stepped logit random-walks ``lr * sqrt(steps)``;
    keep that well under ``m_init`` over the first two epochs). ``configs/optfs/criteo_1m.yaml``
    is the rule for 800k rows. ``optfs_rewind_epoch`` is the 0-based search epoch at whose
    start the weights are snapshotted (1: after one epoch; 0: the initial weights).
    """

    optfs: bool = False
    optfs_search_epochs: int = 15
    optfs_final_tau: float = 200.0
    optfs_lambda: float = 5e-9
    optfs_rewind_epoch: int = 1
    optfs_m_init: float = 0.5
    optfs_learning_rate: float = 3e-4

    def __post_init__(self) -> None:
        if self.optfs_search_epochs < 1:
            raise ConfigError("optfs_search_epochs must be >= 1")
        if not 0 <= self.optfs_rewind_epoch < self.optfs_search_epochs:
            raise ConfigError(f"optfs_rewind_epoch must be in [0, optfs_search_epochs={self.optfs_search_epochs})")
        if self.optfs_final_tau < 1 or self.optfs_lambda < 0 or self.optfs_learning_rate <= 0:
            raise ConfigError("optfs_final_tau must be >= 1, optfs_lambda >= 0, optfs_learning_rate > 0")
