"""Memory: no growth across 100,000 calls, including calls that raise.

A child process (its own heap, nothing else of the test run in it) makes a mix of calls of
every public function on small inputs: plain, weighted, with out= buffers, Fortran and
float16 inputs, the criterion objects, show_config, and calls that raise (out-of-range
values, NaN logits, bad types, bad out= buffers, bad num_threads). After a warm-up of
10,000 calls it measures the resident set (/proc/self/statm) and Python's allocations
(tracemalloc), makes 100,000 more calls and measures again: the RSS may not grow by 2 MB
(a leak of one small array per call would be 10 MB or more) and the traced allocations by
100 kB (a leak of one object per call would be several MB).
"""

import json
import os
import subprocess
import sys

import pytest

import fastbce

CHILD = r"""
import json, os, sys, tracemalloc
import numpy as np
import fastbce

rng = np.random.default_rng(0)
x = rng.uniform(0.01, 0.99, 300)
t = rng.uniform(0, 1, 300)
z = rng.normal(0, 3, 300)
x32, t32 = x.astype(np.float32), t.astype(np.float32)
xf = np.asfortranarray(x.reshape(20, 15))
tf = np.asfortranarray(t.reshape(20, 15))
x16 = x.astype(np.float16)
w = rng.uniform(0.5, 2, 15)
bad = x.copy(); bad[100] = 1.5
nan = z.copy(); nan[7] = np.nan
out = np.empty(300)
g_out, h_out = np.empty(300), np.empty(300)
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
        lambda: F.binary_cross_entropy_with_logits_and_grad(z.reshape(20, 15), t.reshape(20, 15), w, "mean", w),
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

run(10_000)
tracemalloc.start()
run(2_000)
rss0, (traced0, _) = rss(), tracemalloc.get_traced_memory()
n = int(sys.argv[1])
run(n)
rss1, (traced1, _) = rss(), tracemalloc.get_traced_memory()
print(json.dumps({"rss_growth": rss1 - rss0, "traced_growth": traced1 - traced0,
                  "calls": n, "raised": raised[0], "kinds": len(calls)}))
"""

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastbce.__file__)))


def _child(n):
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    return json.loads(out.stdout)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc (Linux)")
def test_no_growth_across_100k_calls():
    got = _child(100_000)
    assert got["raised"] > 100_000 * 8 // 20  # a third of the calls raise
    assert got["rss_growth"] < 2 * 2**20, got
    assert got["traced_growth"] < 100 * 2**10, got
