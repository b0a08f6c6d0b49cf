"""Every kernel path that exists only for speed is taken where it should be, and not where it
should not: the kernels count the chunks each path takes in the pass (``Totals.chunks``) and
``fastbce._bce.path_counts()`` reports the last pass's counts. The values are tested elsewhere;
these tests fail if, say, the 0/1-target product path stopped firing (every value test would
still pass). CI runs them once per kernel module."""

import numpy as np
import pytest

import fastbce
from fastbce import _bce

N = 1 << 16  # 256 chunks of 256 elements
CHUNKS = N // 256


def counts(fn, *args, **kwargs):
    fn(*args, **kwargs)
    got = _bce.path_counts()
    assert sum(got.values()) == CHUNKS, got  # every chunk took exactly one path
    return got


def probs(dtype, hard, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.05, 0.95, N).astype(dtype)
    t = (rng.uniform(size=N) < 0.5).astype(dtype) if hard else rng.uniform(size=N).astype(dtype)
    return x, t


@pytest.mark.parametrize("fn", [fastbce.binary_cross_entropy, fastbce.binary_cross_entropy_and_grad])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_zero_one_targets_take_the_product_path(fn, reduction, dtype):
    x, t = probs(dtype, hard=True)
    got = counts(fn, x, t, reduction=reduction, num_threads=1)
    assert got["product"] == CHUNKS, got


@pytest.mark.parametrize("fn", [fastbce.binary_cross_entropy, fastbce.binary_cross_entropy_and_grad])
def test_soft_targets_take_two_logs_and_never_the_product_path(fn, dtype):
    x, t = probs(dtype, hard=False)
    got = counts(fn, x, t, num_threads=1)
    assert got["soft"] == CHUNKS and got["product"] == 0, got


def test_zero_one_targets_per_element_take_one_log(dtype):
    # "none" writes each loss: nothing to multiply, but one log per element, not two
    x, t = probs(dtype, hard=True)
    got = counts(fastbce.binary_cross_entropy, x, t, reduction="none")
    assert got["hard"] == CHUNKS, got


def test_confident_predictions_leave_the_product_path_for_one_log(dtype):
    # products of factors near 1 lose the small losses: such chunks take the one-log path
    rng = np.random.default_rng(1)
    t = (rng.uniform(size=N) < 0.5).astype(dtype)
    x = np.where(t == 1, 1 - 1e-7, 1e-7).astype(dtype)
    got = counts(fastbce.binary_cross_entropy, x, t)
    assert got["hard"] > CHUNKS // 2 and got["soft"] == 0, got


def test_a_weight_or_label_smoothing_keeps_the_product_path_off(dtype):
    x, t = probs(dtype, hard=True)
    assert counts(fastbce.binary_cross_entropy, x, t, np.ones(N, dtype))["product"] == 0
    assert counts(fastbce.binary_cross_entropy, x, t, label_smoothing=0.1)["product"] == 0


def test_logits_product_path_is_float32_only():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 3, N)
    t = (rng.uniform(size=N) < 0.5).astype(float)
    got32 = counts(fastbce.binary_cross_entropy_with_logits, z.astype(np.float32),
                   t.astype(np.float32))
    assert got32["product"] > 0 and got32["product"] + got32["logits"] == CHUNKS, got32
    got64 = counts(fastbce.binary_cross_entropy_with_logits, z, t)
    assert got64["logits"] == CHUNKS, got64
    got = counts(fastbce.binary_cross_entropy_with_logits, z.astype(np.float32),
                 t.astype(np.float32), pos_weight=2.0)
    assert got["logits"] == CHUNKS, got


def test_focal_and_unclamped_losses_take_the_plain_block(dtype):
    x, t = probs(dtype, hard=True)
    assert counts(fastbce.sigmoid_focal_loss, x, t)["other"] == CHUNKS
    assert counts(fastbce.binary_cross_entropy, x, t, clamp_log=False)["other"] == CHUNKS


def test_counts_do_not_depend_on_the_thread_count(dtype):
    x, t = probs(dtype, hard=True)
    one = counts(fastbce.binary_cross_entropy, x, t, num_threads=1)
    assert counts(fastbce.binary_cross_entropy, x, t, num_threads=2) == one
