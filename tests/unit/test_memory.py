"""The allocator setting: freed activations are reused instead of page-faulted in afresh."""

from __future__ import annotations

import resource
import sys

import pytest
import torch

from recsys.memory import tune_allocator


def _faults_of_fresh_tensor(numel: int) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(numel).fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_freed_large_tensors_are_reused_without_page_faults() -> None:
    assert tune_allocator()
    numel = 48 << 18  # 48 MB of float32: above glibc's largest mmap threshold
    _faults_of_fresh_tensor(numel)  # the heap grows once
    faults = min(_faults_of_fresh_tensor(numel) for _ in range(3))
    assert faults < 1000, f"{faults} page faults for a 48 MB tensor (about 12,000 if mapped afresh)"
