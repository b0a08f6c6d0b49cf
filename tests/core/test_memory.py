"""Memory: no growth across 100,000 calls, including calls that raise.

A child process (its own heap, nothing else of the test run in it) makes a mix of calls of
every public function on small inputs: plain, weighted, with out= buffers, Fortran and
float16 inputs, the criterion objects, show_config, and calls that raise (out-of-range
values, NaN logits, bad types, bad out= buffers, bad num_threads). After a warm-up of
10,000 calls it measures the resident set (/proc/self/statm) and the reference counts of the
arguments, makes 100,000 more calls and measures again: the RSS may not grow by 2 MB (a
leak of one small array per call would be 10 MB or more), and no reference to an argument
may be left behind. Then Python's allocations (tracemalloc, which slows every allocation)
over 20,000 calls may not grow by 100 kB (one leaked object per call would be 1 MB).
"""

import os

import pytest
from helpers import Child

import fastbce

CHILD = r"""
import json, os, sys, tracemalloc
import numpy as np
import fastbce

rng = np.random.default_rng(0)
x = rng.uniform(0.01, 0.99, 60)
t = rng.uniform(0, 1, 60)
z = rng.normal(0, 3, 60)
x32, t32 = x.astype(np.float32), t.astype(np.float32)
xf = np.asfortranarray(x.reshape(4, 15))
tf = np.asfortranarray(t.reshape(4, 15))
x16 = x.astype(np.float16)
w = rng.uniform(0.5, 2, 15)
bad = x.copy(); bad[40] = 1.5
nan = z.copy(); nan[7] = np.nan
out = np.empty(60)
g_out, h_out = np.empty(60), np.empty(60)
crit = fastbce.BCEWithLogitsLoss(pos_weight=2.0, label_smoothing=0.1)
F = fastbce

def ok_calls():
    return [
        lambda: F.binary_cross_entropy(x, t),
        lambda: F.binary_cross_entropy(x32, t32, reduction="none"),
        lambda: F.binary_cross_entropy_grad(xf, tf, w, "none", grad_output=xf),
        lambda: F.binary_cross_entropy_and_grad(x, t, reduction="sum", grad_out=out),
        lambda: F.binary_cross_entropy_with_logits(z, t, reduction="none", out=out),
        lambda: F.binary_cross_entropy_with_logits_grad(z, t, pos_weight=w[0]),
        lambda: F.binary_cross_entropy_with_logits_and_grad(z.reshape(4, 15), t.reshape(4, 15), w, "mean", w),
        lambda: F.binary_cross_entropy_with_logits_grad_hess(z, t, grad_out=g_out, hess_out=h_out),
        lambda: F.binary_cross_entropy_grad(x16, t),
        lambda: crit.loss_and_grad(z, t),
        lambda: F.BCELoss(weight=0.5)(x, t),
        lambda: F.show_config(),
    ]

def bad_calls():
    return [
        lambda: F.binary_cross_entropy(bad, t),
        lambda: F.binary_cross_entropy_with_logits_and_grad(nan, t),
        lambda: F.binary_cross_entropy(x, "abc"),
        lambda: F.binary_cross_entropy(x, [[0.5], [0.5, 0.5]]),
        lambda: F.binary_cross_entropy_grad(x, t, out=np.empty(7)),
        lambda: F.binary_cross_entropy_with_logits(z, t, num_threads=0),
        lambda: F.binary_cross_entropy_with_logits_grad_hess(z, t, grad_out=g_out, hess_out=g_out),
        lambda: F.binary_cross_entropy(x, t, reduction="avg"),
    ]

calls = ok_calls() + bad_calls()
raised = [0]

def run(n):
    for i in range(n):
        try:
            calls[i % len(calls)]()
        except (ValueError, TypeError):
            raised[0] += 1

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

arrays = [x, t, z, x32, t32, xf, tf, x16, w, bad, nan, out, g_out, h_out]
n = int(sys.argv[1])
run(10_000)
refs0 = [sys.getrefcount(a) for a in arrays]
rss0 = rss()
run(n)
rss1 = rss()
refs1 = [sys.getrefcount(a) for a in arrays]
# Python's allocations, over a fifth of the calls (tracemalloc slows every allocation)
tracemalloc.start()
run(2_000)
traced0 = tracemalloc.get_traced_memory()[0]
run(n // 5)
traced1 = tracemalloc.get_traced_memory()[0]
print(json.dumps({"rss_growth": rss1 - rss0, "traced_growth": traced1 - traced0,
                  "refs_before": refs0, "refs_after": refs1,
                  "calls": n, "raised": raised[0], "kinds": len(calls)}))
"""

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastbce.__file__)))


LINUX = os.path.exists("/proc/self/statm")


@pytest.mark.skipif(not LINUX, reason="reads RSS from /proc (Linux)")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", "")
                    or "asan" in os.environ.get("LD_PRELOAD", "").rsplit("/", 1)[-1],
                    reason="under ASan (tools/sanitize.sh) freed memory waits in its "
                           "quarantine: the resident size says nothing about leaks there")
def test_no_growth_across_100k_calls():
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT, OMP_NUM_THREADS="1")
    got = Child(CHILD, 100_000, env=env).result()
    assert got["raised"] > 100_000 * 8 // 20  # two calls in five raise
    assert got["rss_growth"] < 2 * 2**20, got
    assert got["traced_growth"] < 100 * 2**10, got
    assert got["refs_after"] == got["refs_before"], "a reference to an argument leaked"
