"""Checkpoints of tensors only: ``torch.save`` of a flat ``{name: Tensor}`` dict, loaded with
``weights_only=True`` (no arbitrary unpickling).

Sharded tables are saved as this rank's local shards (one file per rank), so resuming
needs the same world size; :func:`full_state_dict` gathers whole tables for export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed._shard.sharded_tensor import ShardedTensor

from recsys.files import write_file_atomic

SEP = "//"


def _leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{prefix}{SEP}{k}" if prefix else str(k))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _leaves(v, f"{prefix}{SEP}{i}")
    else:
        yield prefix, tree


def _local(t: Any) -> list[torch.Tensor]:
    if isinstance(t, ShardedTensor):
        return [s.tensor for s in t.local_shards()]
    return [t] if isinstance(t, torch.Tensor) else []


def flatten_tensors(tree: Any) -> dict[str, torch.Tensor]:
    """Every tensor leaf (local shards of ShardedTensors) under a path-like key."""
    out: dict[str, torch.Tensor] = {}
    for key, leaf in _leaves(tree):
        for i, t in enumerate(_local(leaf)):
            out[f"{key}#{i}"] = t.detach().cpu().clone()
    return out


def tensor_keys(tree: Any) -> set[str]:
    """The keys :func:`flatten_tensors` would give, without copying anything."""
    return {f"{key}#{i}" for key, leaf in _leaves(tree) for i, _ in enumerate(_local(leaf))}


def copy_into(tree: Any, saved: dict[str, torch.Tensor]) -> list[str]:
    """Copy saved tensors in place into the live tensors of ``tree``; return the keys that are
    missing or whose saved shape does not fit (those are left untouched)."""
    missing = []
    for key, leaf in _leaves(tree):
        for i, t in enumerate(_local(leaf)):
            src = saved.get(f"{key}#{i}")
            if src is None or src.numel() != t.numel():
                missing.append(f"{key}#{i}" if src is None else f"{key}#{i} (shape {tuple(src.shape)})")
            else:
                with torch.no_grad():
                    t.copy_(src.to(t.device, t.dtype).view_as(t))
    return missing


def save(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write atomically (temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, lambda tmp: torch.save(tensors, tmp))


def load(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def rank_file(directory: Path, stem: str) -> Path:
    rank = dist.get_rank() if dist.is_initialized() else 0
    return directory / f"{stem}.rank{rank}.pt"


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Whole (unsharded) tensors of ``model``'s state on every rank (gathered when sharded)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if isinstance(value, ShardedTensor):
            shards = value.local_shards()
            if dist.get_world_size() == 1 and len(shards) == 1 and list(shards[0].tensor.shape) == list(value.size()):
                out[key] = shards[0].tensor.detach().cpu().clone()
                continue
            full = torch.empty(value.size(), dtype=shards[0].tensor.dtype if shards else torch.float32)
            value.gather(dst=0, out=full if dist.get_rank() == 0 else None)
            dist.broadcast(full, src=0)
            out[key] = full
        elif isinstance(value, torch.Tensor):
            out[key] = value.detach().cpu().clone()
    return out


def load_full_state(model: nn.Module, full: dict[str, torch.Tensor], where: str = "weights") -> None:
    """Copy whole (unsharded) tensors into ``model``'s live state, sharded or not.

    Each rank copies the slices its local shards hold (``shard_offsets``/``shard_sizes``),
    so full weights load under any sharding plan. Missing or unexpected keys are an error.
    """
    from recsys.errors import TrainingError

    live = model.state_dict()
    missing, unexpected = sorted(set(live) - set(full)), sorted(set(full) - set(live))
    if missing or unexpected:
        raise TrainingError(f"{where} do not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    with torch.no_grad():
        for key, value in live.items():
            src = full[key]
            if isinstance(value, ShardedTensor):
                for shard in value.local_shards():
                    index = tuple(slice(o, o + n) for o, n in zip(shard.metadata.shard_offsets, shard.metadata.shard_sizes))
                    shard.tensor.copy_(src[index].to(shard.tensor.device, shard.tensor.dtype))
            elif isinstance(value, torch.Tensor):
                value.copy_(src.to(value.device, value.dtype).view_as(value))
