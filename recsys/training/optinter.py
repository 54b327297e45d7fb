"""OptInter's search stage and report, run by the one trainer (Lyu et al., ICDE 2022).

Search (``optinter_search_epochs``): the model in mode ``search`` mixes memorize, factorize
and naive per pair with ``softmax(alpha / t)``; a step hook anneals ``t = max(t_min, 1 - rate
* step)``; ``alpha`` has its own Adam and is stepped on the training batch, or with
``optinter_bilevel`` on the gradient of a validation batch (first-order bi-level, as DARTS).
The retrain builds the model again in mode ``fixed`` with each pair's argmax method, from
scratch, and trains it like any model (:mod:`recsys.training.job`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import polars as pl
import torch
from torch import nn

from recsys.data.loader import BatchLoader
from recsys.embeddings.schema import FeatureSchema
from recsys.files import write_file_atomic
from recsys.layers.crosses import MethodMixture, annealed_temperature, choose_methods
from recsys.models.optinter import OptInterConfig, candidate_pairs
from recsys.models.registry import build_model
from recsys.plots import pyplot, save_png
from recsys.tasks.ctr import CTRTask
from recsys.training import checkpoint as ckpt
from recsys.training.env import DistEnv
from recsys.training.loop import Trainer
from recsys.training.parallel import build_optimizer, embedding_parameters, shard
from recsys.training.runconfig import RunConfig
from recsys.training.stages import search_config

ARCH = "arch_alpha"


def mixtures(model: nn.Module) -> list[MethodMixture]:
    return [m for m in model.modules() if isinstance(m, MethodMixture)]


@dataclass
class Annealing:
    """Step hook: ``t = max(t_min, 1 - rate * step)`` on every :class:`MethodMixture`."""

    t_min: float
    rate: float

    def __call__(self, trainer: Trainer) -> None:
        t = annealed_temperature(trainer.step, self.t_min, self.rate)
        for m in mixtures(trainer.model):
            m.t = t


class BilevelArch:
    """Step hook for ``optinter_bilevel``: the gradient of ``alpha`` comes from a validation batch.

    Before each step it computes ``d loss_val / d alpha`` (``autograd.grad``: no other weight,
    and no fused table update, sees the validation batch); a gradient hook on ``alpha`` then
    puts it in place of the training batch's, so the optimizer steps ``alpha`` on validation."""

    def __init__(self, model: nn.Module, val: BatchLoader, device: torch.device) -> None:
        self.alphas = [m.arch_alpha for m in mixtures(model)]
        self.val, self.device, self.task = val, device, CTRTask()
        self.batches: Iterator[Any] = iter(())
        self.grads: list[torch.Tensor] = []
        for i, alpha in enumerate(self.alphas):
            alpha.register_hook(lambda g, i=i: self.grads[i] if self.grads else g)

    def _next(self) -> Any:
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.val)
            return next(self.batches)

    def __call__(self, trainer: Trainer) -> None:
        batch = self._next().to(self.device)
        with trainer._autocast():
            out = trainer.model(batch.dense, batch.sparse)
        loss = self.task.loss(out, batch.labels)
        self.grads = []  # the hooks pass this gradient through unchanged
        self.grads = list(torch.autograd.grad(loss, self.alphas))


@dataclass
class SearchOutcome:
    pairs: list[tuple[str, str]]
    methods: list[str]
    alpha: torch.Tensor  # (P, 3) softmax weights at the final temperature
    history: list[dict[str, float]]
    samples_per_s: float


def run_optinter_search(cfg: RunConfig, schema: FeatureSchema, env: DistEnv, out_dir: Path,
                        loaders: dict[str, BatchLoader], progress: bool = True) -> SearchOutcome:
    """Train the search model for ``optinter_search_epochs``; return each pair's chosen method."""
    mc: OptInterConfig = cfg.model_cfg
    model = build_model(cfg.model, mc, cfg.embedding, schema)
    out_dir.mkdir(parents=True, exist_ok=True)
    train = search_config(cfg.train, mc.optinter_search_epochs)
    dmp = shard(model, train, env)
    hooks: list[Any] = [Annealing(mc.optinter_t_min, mc.optinter_anneal_rate)]
    if mc.optinter_bilevel:
        hooks.append(BilevelArch(dmp, loaders["val"], env.device))
    trainer = Trainer(dmp, build_optimizer(dmp, train, {ARCH: mc.optinter_arch_learning_rate}), train, env, out_dir,
                      progress=progress, restore_best=False, checkpoints=False, step_hooks=hooks)
    fit = trainer.fit(loaders["train"], loaders["val"])
    mixture = mixtures(dmp)[0]
    alpha = next(v for k, v in ckpt.full_state_dict(dmp).items() if k.endswith(ARCH))
    weights = torch.softmax(alpha.float() / mixture.t, dim=1)
    pairs = [(schema.categorical[i], schema.categorical[j]) for i, j in candidate_pairs(mc, schema)]
    methods = choose_methods(weights, mc.optinter_naive_margin)
    return SearchOutcome(pairs, methods, weights, fit.history, fit.train_samples_per_s)


def retrain_config(cfg: RunConfig, outcome: SearchOutcome) -> RunConfig:
    """The run config of the retrain: mode ``fixed`` with the searched methods."""
    model_cfg = dataclasses.replace(cfg.model_cfg, optinter_mode="fixed", optinter_pairs=tuple(outcome.pairs),
                                    optinter_methods=tuple(outcome.methods))
    return dataclasses.replace(cfg, model_cfg=model_cfg)


def model_sizes(cfg: RunConfig, schema: FeatureSchema, mode: str) -> dict[str, int]:
    """Trainable parameters and embedding bytes of the optinter model in ``mode`` (built on meta)."""
    model = build_model(cfg.model, dataclasses.replace(cfg.model_cfg, optinter_mode=mode), cfg.embedding, schema)
    return {"params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "embedding_bytes": sum(p.numel() * p.element_size() for p in embedding_parameters(model))}


def method_table(outcome: SearchOutcome) -> pl.DataFrame:
    """``FeatureA, FeatureB, method, alpha_memorize, alpha_factorize, alpha_naive``."""
    w = outcome.alpha.tolist()
    return pl.DataFrame({"FeatureA": [a for a, _ in outcome.pairs], "FeatureB": [b for _, b in outcome.pairs],
                         "method": outcome.methods, "alpha_memorize": [r[0] for r in w],
                         "alpha_factorize": [r[1] for r in w], "alpha_naive": [r[2] for r in w]})


def write_report(out_dir: Path, outcome: SearchOutcome, fields: tuple[str, ...]) -> None:
    """``methods.tsv`` and ``methods.png`` (field x field heatmap of the chosen method)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = method_table(outcome)
    write_file_atomic(out_dir / "methods.tsv", lambda tmp: table.write_csv(tmp, separator="\t", float_precision=6))
    _heatmap(out_dir / "methods.png", outcome, fields)


def _heatmap(path: Path, outcome: SearchOutcome, fields: tuple[str, ...]) -> None:
    import numpy as np
    from matplotlib.colors import ListedColormap

    code = {"naive": 0, "factorize": 1, "memorize": 2}
    grid = np.full((len(fields), len(fields)), np.nan)
    for (a, b), m in zip(outcome.pairs, outcome.methods):
        i, j = fields.index(a), fields.index(b)
        grid[i, j] = grid[j, i] = code[m]
    size = max(5.0, 0.2 * len(fields))
    fig, ax = pyplot().subplots(figsize=(size + 1.5, size))
    image = ax.imshow(grid, cmap=ListedColormap(["#eeeeee", "#4c78a8", "#f58518"]), vmin=-0.5, vmax=2.5)
    ax.set_xticks(range(len(fields)), fields, rotation=90, fontsize=6)
    ax.set_yticks(range(len(fields)), fields, fontsize=6)
    bar = fig.colorbar(image, ax=ax, ticks=[0, 1, 2], shrink=0.6)
    bar.ax.set_yticklabels(["naive", "factorize", "memorize"])
    ax.set_title("OptInter: method chosen per field pair")
    fig.tight_layout()
    save_png(fig, path)


def counts(methods: list[str]) -> dict[str, int]:
    return {m: sum(1 for x in methods if x == m) for m in MethodMixture.METHODS}

