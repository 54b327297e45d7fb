"""OptInter pieces: cross hashing pinned by literal vectors, factorization, the mixture and its annealing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.embeddings.buckets import cross_rows_torch
from recsys.features.hashing import cross_rows_numpy, pair_salt
from recsys.layers.crosses import Factorize, MethodMixture, _MixedPairs, annealed_temperature

A = np.array([0, 1, 5, 123456789, -7, 2**62], dtype=np.int64)
B = np.array([3, 0, 5, 42, 9, -1], dtype=np.int64)


def test_cross_rows_literal_vectors_in_numpy_and_torch() -> None:
    salt = pair_salt("C14", "C17")
    assert salt == 401719568726284948
    expected = [244, 956, 33, 295, 363, 106]
    assert cross_rows_numpy(A, B, salt, 1000).tolist() == expected
    assert cross_rows_torch(torch.tensor(A), torch.tensor(B), salt, 1000).tolist() == expected


def test_cross_rows_depend_on_the_pair_and_its_order() -> None:
    ab = cross_rows_numpy(A, B, pair_salt("C1", "C2"), 1 << 20)
    assert (ab != cross_rows_numpy(A, B, pair_salt("C2", "C1"), 1 << 20)).any()
    assert (ab != cross_rows_numpy(B, A, pair_salt("C1", "C2"), 1 << 20)).any()


@pytest.mark.parametrize("pairs", [[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)],  # all pairs: slices only
                                   [(0, 1), (1, 2), (0, 2)],  # grouping reorders
                                   [(2, 0), (0, 3), (2, 3), (1, 3)],  # gaps, reversed pairs
                                   [(0, 2), (0, 4), (1, 2), (1, 4), (3, 0)]])  # a field right of two gapped groups
def test_factorize_is_the_hadamard_product_of_each_pair(pairs: list[tuple[int, int]]) -> None:
    emb = torch.randn(5, 5, 8, requires_grad=True)
    out = Factorize(pairs)(emb)
    want = torch.stack([emb[:, i] * emb[:, j] for i, j in pairs], dim=1)
    assert out.shape == (5, len(pairs), 8) and torch.equal(out, want)
    weights = torch.randn_like(want)
    (grad,) = torch.autograd.grad((out * weights).sum(), emb)
    (want_grad,) = torch.autograd.grad((want * weights).sum(), emb)
    assert torch.allclose(grad, want_grad, atol=1e-6)


def test_annealing_schedule() -> None:
    assert annealed_temperature(0, 0.01, 5e-5) == 1.0
    assert annealed_temperature(10_000, 0.01, 5e-5) == pytest.approx(0.5)
    assert annealed_temperature(10**7, 0.01, 5e-5) == 0.01


def test_mixture_gradients_are_exact() -> None:
    """The hand-written backward (flat products, column sums) against finite differences, in float64."""
    torch.manual_seed(0)
    mem, fac = torch.randn(5, 3, 4, dtype=torch.float64), torch.randn(5, 3, 4, dtype=torch.float64)
    w = torch.softmax(torch.randn(3, 3, dtype=torch.float64), dim=1)
    assert torch.autograd.gradcheck(_MixedPairs.apply, (mem.requires_grad_(), fac.requires_grad_(), w.requires_grad_()))


def test_mixture_in_autocast_precision_keeps_table_gradients_fp32() -> None:
    """Under autocast the factorized products are bf16: the mix comes out bf16 (it only feeds a
    matmul) while the memorized rows' gradient stays in the table's fp32."""
    mix = MethodMixture(2)
    mem = torch.randn(4, 2, 8, requires_grad=True)
    fac = torch.randn(4, 2, 8).bfloat16().requires_grad_()
    out = mix(mem, fac)
    assert out.dtype == torch.bfloat16 and out.shape == (4, 2, 8)
    w = mix.weights()
    expected = mem * w[:, 0, None] + fac.float() * w[:, 1, None]
    assert torch.allclose(out.float(), expected, atol=2e-2)
    out.float().sum().backward()
    assert mem.grad is not None and mem.grad.dtype == torch.float32 and fac.grad is not None
    assert torch.allclose(mem.grad, w[:, 0, None].expand(4, 2, 8), atol=1e-2)


def test_mixture_weights_and_choice() -> None:
    mix = MethodMixture(2)
    with torch.no_grad():
        mix.arch_alpha.copy_(torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    mem, fac = torch.ones(5, 2, 4), 2 * torch.ones(5, 2, 4)
    mix.t = 1.0
    w = torch.softmax(mix.arch_alpha, dim=1)
    assert torch.allclose(mix(mem, fac)[:, 0], (w[0, 0] + 2 * w[0, 1]).expand(5, 4))
    mix.t = 0.01  # nearly hard: the argmax method alone
    out = mix(mem, fac)
    assert torch.allclose(out[:, 0], mem[:, 0], atol=1e-6) and torch.allclose(out[:, 1], torch.zeros(5, 4), atol=1e-6)
    assert mix.choice() == ["memorize", "naive"] and mix.choice(0.5) == ["memorize", "naive"]


def test_a_pair_must_prefer_a_method_over_naive_by_the_margin() -> None:
    from recsys.layers.crosses import choose_methods

    w = torch.tensor([[0.5, 0.2, 0.3], [0.3, 0.36, 0.34], [0.2, 0.2, 0.6], [0.34, 0.33, 0.33]])
    assert choose_methods(w, 0.0) == ["memorize", "factorize", "naive", "memorize"]
    assert choose_methods(w, 0.05) == ["memorize", "naive", "naive", "naive"]
