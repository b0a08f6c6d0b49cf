"""More than 2**31 elements in one call: element indices and block offsets must be 64-bit.

Slow (a few minutes; about 26 GB of files under the pytest temporary directory, read
through the page cache): marked slow, run by

    pytest --slow tests/core/test_bigindex.py

The data are float32 memmaps written chunk by chunk; the reference for every chunk is
computed in float64 with NumPy as it is written. The elements from index 2**31 on come
from another distribution (confident and mostly wrong, so their losses are about five
times the others'), which makes the sums tell whether those elements were read where
they are: a 32-bit index would wrap (or fault) exactly there.
"""

import math
import os
import shutil

import numpy as np
import pytest

import fastbce

pytestmark = pytest.mark.slow  # writes ~26 GB and takes minutes

BIG = 2**31
N = BIG + 2**24 + 3  # 2**24 + 3 elements past the 32-bit range, not a multiple of a block
CHUNK = 2**25        # divides 2**31: the tail distribution starts on a chunk boundary
EPS32 = float(np.float32(1e-12))  # PyTorch's clamp of x (1 - x), as a float32


def _prob_ref(x, t):
    """float64 per-element loss and gradient (reduction="sum") of float32 inputs (README)."""
    x = x.astype(np.float64)
    t = t.astype(np.float64)
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped to -100 as in PyTorch
        loss = -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log1p(-x), -100))
    grad = (x - t) / np.maximum(x * (1 - x), EPS32)
    return loss, grad


def _logit_loss_ref(z, t):
    z = z.astype(np.float64)
    t = t.astype(np.float64)
    return (1 - t) * z + np.logaddexp(0.0, -z)  # softplus(-z)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """(x, t, reference sums, directory): read-only float32 memmaps of N elements."""
    where = tmp_path_factory.mktemp("bigindex")
    need = 3 * 4 * N + 2**30  # x, t, one output, and room to spare
    if shutil.disk_usage(where).free < need:
        pytest.skip(f"needs {need / 2**30:.0f} GiB free under {where}")
    rng = np.random.default_rng(2024)
    x = np.memmap(where / "x.f32", dtype=np.float32, mode="w+", shape=(N,))
    t = np.memmap(where / "t.f32", dtype=np.float32, mode="w+", shape=(N,))
    prob_sums, logit_sums, tail_sum = [], [], 0.0
    for lo in range(0, N, CHUNK):
        m = min(CHUNK, N - lo)
        xc = rng.random(m, dtype=np.float32)
        tc = rng.random(m, dtype=np.float32)
        if lo >= BIG:  # confident and wrong: x in [0, 0.01), t in (0.99, 1]
            xc *= np.float32(0.01)
            tc = np.float32(1) - tc * np.float32(0.01)
        x[lo:lo + m] = xc
        t[lo:lo + m] = tc
        loss, _ = _prob_ref(xc, tc)
        prob_sums.append(loss.sum())
        logit_sums.append(_logit_loss_ref(xc, tc).sum())
        if lo >= BIG:
            tail_sum += prob_sums[-1]
    x.flush()
    t.flush()
    del x, t
    x = np.memmap(where / "x.f32", dtype=np.float32, mode="r", shape=(N,))
    t = np.memmap(where / "t.f32", dtype=np.float32, mode="r", shape=(N,))
    ref = {"prob": math.fsum(prob_sums), "logit": math.fsum(logit_sums), "tail": tail_sum}
    yield x, t, ref, where
    del x, t
    shutil.rmtree(where, ignore_errors=True)  # pytest keeps its last temporary directories


# Every element loss is >= 0, so the sum's relative error is at most the largest element's
# (README: float32 losses within 8 * 2**-24 of the exact value) plus float64 rounding.
SUM_RTOL = 8 * 2**-24


def test_sums_over_more_than_2_31_elements(big):
    x, t, ref, _ = big
    # the data make a misplaced tail visible: its 2**24 elements carry a few percent of the sum
    assert ref["tail"] > 0.03 * ref["prob"]
    total = fastbce.binary_cross_entropy(x, t, reduction="sum")
    assert float(total) == pytest.approx(ref["prob"], rel=SUM_RTOL)
    mean = fastbce.binary_cross_entropy(x, t)
    assert float(mean) == pytest.approx(ref["prob"] / N, rel=SUM_RTOL)
    # the block sums are added in block order: one thread gives the same bits
    assert fastbce.binary_cross_entropy(x, t, reduction="sum", num_threads=1) == total
    logit = fastbce.binary_cross_entropy_with_logits(x, t, reduction="sum")
    assert float(logit) == pytest.approx(ref["logit"], rel=SUM_RTOL)


def test_gradient_past_2_31(big):
    x, t, ref, where = big
    grad = np.memmap(where / "grad.f32", dtype=np.float32, mode="w+", shape=(N,))
    grad[-5:] = np.nan  # written by the call, or the check below fails
    loss, out = fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum", grad_out=grad)
    assert out is grad
    assert float(loss) == pytest.approx(ref["prob"], rel=SUM_RTOL)
    # around the 32-bit boundary, the last elements, and a sparse sample of everything
    idx = np.concatenate([
        np.arange(BIG - 4096, BIG + 4096),
        np.arange(N - 4096, N),
        np.arange(0, N, 1_000_003),
    ])
    _, want = _prob_ref(x[idx], t[idx])
    # README: each float32 gradient element within 5 * 2**-24 of the exact value
    np.testing.assert_allclose(grad[idx], want, rtol=5 * 2**-24, atol=0)
    del grad
    os.remove(where / "grad.f32")
