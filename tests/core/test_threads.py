"""Threads: bit-identical results for any thread count, thread control, concurrent callers,
and fastbce inside a thread pool.

Calling fastbce from a thread pool (the recommendation tested below): each pool thread that
makes a call of 16,384 elements or more with ``num_threads=None`` starts an OpenMP team of
its own, ``fastbce.get_num_threads()`` threads (all the cores by default), so P workers
run P times that many threads at once. Pass ``num_threads=1`` in those calls (or build the
criterion with ``num_threads=1``), or call ``fastbce.set_num_threads(1)`` once, which holds
for the calls of every thread; to share the cores, give each of P workers
``num_threads=cores // P``. ``threadpoolctl.threadpool_limits`` limits only the thread that
enters it (OpenMP keeps the setting per thread): a ``with threadpool_limits(1)`` around the
pool in the main thread does not reach the pool's threads; enter it inside the function the
workers run. Results are the same bits whichever is chosen.
"""

import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from helpers import Child, make
from threadpoolctl import threadpool_limits

import fastbce

N = 300_007  # many blocks, not a multiple of the block size


@pytest.fixture(autouse=True)
def reset_global_threads():
    yield
    fastbce.set_num_threads(None)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("targets", ["soft", "hard"])
def test_bit_identical_for_any_thread_count(dtype, reduction, weighted, targets):
    x = make((N,), dtype, seed=1, lo=1e-5, hi=1 - 1e-5)
    t = make((N,), dtype, seed=2)
    if targets == "hard":  # summed as products (see _kernels.pyx)
        t = (t > 0.5).astype(dtype)
    w = make((N,), dtype, seed=3, lo=0.5, hi=2.0) if weighted else None
    results = [
        fastbce.binary_cross_entropy_and_grad(x, t, w, reduction, num_threads=n)
        + (fastbce.binary_cross_entropy(x, t, w, reduction, num_threads=n),)
        for n in (1, 2, 3, 7)
    ]
    first = results[0]
    for res in results[1:] + [fastbce.binary_cross_entropy_and_grad(x, t, w, reduction) + (first[2],)]:
        for a, b in zip(first, res):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_threads_do_not_change_the_error():
    x = make((N,), np.float64, seed=4)
    x[N - 3] = 1.5
    for n in (1, 2, 5):
        with pytest.raises(ValueError, match="input"):
            fastbce.binary_cross_entropy(x, x.clip(0, 1), num_threads=n)


def test_global_setting_and_default():
    default = fastbce.get_num_threads()
    assert default >= 1
    fastbce.set_num_threads(3)
    assert fastbce.get_num_threads() == 3
    assert fastbce.show_config()["num_threads"] == 3
    fastbce.set_num_threads(None)
    assert fastbce.get_num_threads() == default


@pytest.mark.skipif(not fastbce.show_config()["openmp"], reason="serial build")
def test_threadpoolctl_limits_are_respected():
    with threadpool_limits(limits=1, user_api="openmp"):
        assert fastbce.get_num_threads() == 1
    with threadpool_limits(limits=2, user_api="openmp"):
        assert fastbce.get_num_threads() == 2


@pytest.mark.skipif(not fastbce.show_config()["openmp"], reason="serial build")
@pytest.mark.parametrize("value", ["1", "3"])
def test_omp_num_threads_is_respected(tmp_path, value):
    env = dict(os.environ, OMP_NUM_THREADS=value)
    code = "import fastbce; print(fastbce.get_num_threads())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == value


def test_show_config_reports_the_build(capsys):
    info = fastbce.show_config()
    assert capsys.readouterr().out == ""  # prints only when asked
    assert fastbce.show_config(print_=True) is None  # as numpy.show_config: a REPL shows it once
    printed = capsys.readouterr().out
    for key in ("openmp", "num_threads", "kernels"):
        assert key in info and key in printed
    assert isinstance(info["openmp"], bool)


def test_concurrent_python_threads_get_correct_results():
    inputs = [
        (make((N // 3,), np.float32, seed=s, lo=0.01, hi=0.99), make((N // 3,), np.float32, seed=s + 100))
        for s in range(6)
    ]
    expected = [fastbce.binary_cross_entropy_and_grad(x, t, num_threads=1) for x, t in inputs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda xt: fastbce.binary_cross_entropy_and_grad(*xt), inputs * 3))
    for i, (loss, grad) in enumerate(got):
        exp_loss, exp_grad = expected[i % len(inputs)]
        assert loss == exp_loss
        np.testing.assert_array_equal(grad, exp_grad)



# ------------------------------------------------------------------ many callers at once


def _jobs():
    """(label, thunk) for every public function and the criterion objects, at three sizes
    (below the parallel threshold, just above it, several blocks) and several thread counts."""
    rng = np.random.default_rng(11)
    jobs = []
    for n in (100, 5000, 40_000):
        for dt in (np.float32, np.float64):
            x = rng.uniform(0.01, 0.99, n).astype(dt)
            z = rng.normal(0, 4, n).astype(dt)
            t = rng.uniform(0, 1, n).astype(dt)
            h = (t > 0.5).astype(dt)
            w = rng.uniform(0.5, 2, n).astype(dt)
            for nt in (None, 1, 2, 3):
                kw = {"num_threads": nt}
                jobs += [
                    ("loss", lambda x=x, t=t, kw=kw: fastbce.binary_cross_entropy(x, t, **kw)),
                    ("loss-hard", lambda x=x, h=h, kw=kw: fastbce.binary_cross_entropy(x, h, reduction="sum", **kw)),
                    ("grad", lambda x=x, t=t, w=w, kw=kw: fastbce.binary_cross_entropy_grad(x, t, w, "none", grad_output=2.0, **kw)),
                    ("both", lambda x=x, t=t, kw=kw: fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum", label_smoothing=0.1, **kw)),
                    ("lloss", lambda z=z, t=t, w=w, kw=kw: fastbce.binary_cross_entropy_with_logits(z, t, w, "none", **kw)),
                    ("lgrad", lambda z=z, h=h, kw=kw: fastbce.binary_cross_entropy_with_logits_grad(z, h, **kw)),
                    ("lboth", lambda z=z, t=t, w=w, kw=kw: fastbce.binary_cross_entropy_with_logits_and_grad(z, t, None, "sum", w, **kw)),
                    ("gh", lambda z=z, t=t, w=w, kw=kw: fastbce.binary_cross_entropy_with_logits_grad_hess(z, t, w, w, **kw)),
                    ("crit", lambda x=x, t=t, nt=nt: fastbce.BCELoss(reduction="sum", num_threads=nt).loss_and_grad(x, t)),
                    ("lcrit", lambda z=z, t=t, nt=nt: fastbce.BCEWithLogitsLoss(num_threads=nt).grad_hess(z, t)),
                ]
    jobs.append(("config", lambda: {k: v for k, v in fastbce.show_config().items()
                                    if k not in ("num_threads", "num_threads_setting")}))
    return jobs


def _bits(value):
    if isinstance(value, dict):
        return repr(sorted(value.items()))
    if isinstance(value, tuple):
        return tuple(_bits(v) for v in value)
    return (np.asarray(value).dtype.str, np.shape(value), np.asarray(value).tobytes())


def test_many_python_threads_get_the_serial_bits():
    """Eight Python threads call every function (and show_config) at once, in shuffled
    orders, with mixed sizes and thread counts, while another thread keeps changing the
    global thread setting: every result has the bits of the serial call."""
    jobs = _jobs()
    expected = [_bits(fn()) for _, fn in jobs]
    workers = 8
    start = threading.Barrier(workers + 1)
    stop = threading.Event()
    mismatches, errors = [], []

    def work(seed):
        order = list(range(len(jobs))) * 2
        random.Random(seed).shuffle(order)
        start.wait()
        for i in order:
            try:
                got = _bits(jobs[i][1]())
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(f"{jobs[i][0]}: {exc!r}")
                continue
            if got != expected[i]:
                mismatches.append(jobs[i][0])

    def toggle():
        start.wait()
        k = 0
        while not stop.is_set():
            fastbce.set_num_threads((None, 1, 3)[k % 3])
            k += 1
            stop.wait(0.001)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(workers)]
    threads.append(threading.Thread(target=toggle))
    for th in threads:
        th.start()
    for th in threads[:-1]:
        th.join()
    stop.set()
    threads[-1].join()
    assert not errors, errors[:5]
    assert not mismatches, f"{len(mismatches)} results differ from the serial ones: {mismatches[:10]}"


# ------------------------------------------------------------------ fastbce in a thread pool

POOL_PROBE = """
import json, os, sys, threading
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import fastbce
from threadpoolctl import threadpool_limits

mode, workers = sys.argv[1], 4
x = np.random.default_rng(0).uniform(0.01, 0.99, 100_000)

def tasks():
    return len(os.listdir("/proc/self/task"))

before = tasks()
done = threading.Barrier(workers + 1)
seen = []

def work(_):
    if mode == "limits-inside":
        with threadpool_limits(limits=1, user_api="openmp"):
            seen.append(fastbce.get_num_threads())
            fastbce.binary_cross_entropy_and_grad(x, x)
    else:
        seen.append(fastbce.get_num_threads())
        fastbce.binary_cross_entropy_and_grad(x, x, num_threads=1 if mode == "num_threads=1" else None)
    done.wait()   # every worker (and its OpenMP team, if any) is alive here
    done.wait()

if mode == "set_num_threads(1)":
    fastbce.set_num_threads(1)
with ThreadPoolExecutor(workers) as pool:
    if mode == "limits-outside":
        with threadpool_limits(limits=1, user_api="openmp"):
            futures = [pool.submit(work, i) for i in range(workers)]
            done.wait()
    else:
        futures = [pool.submit(work, i) for i in range(workers)]
        done.wait()
    during = tasks()
    done.wait()
    for f in futures:
        f.result()
print(json.dumps({"extra": during - before - workers, "seen": seen}))
"""


_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastbce.__file__)))
_LINUX = os.path.isdir("/proc/self/task")
_OPENMP = fastbce.show_config()["openmp"]
# each mode in a fresh process (OpenMP teams live as long as their threads); the first test
# that asks starts them all at once, side by side
_POOL_MODES = ["num_threads=1", "set_num_threads(1)", "limits-inside", "default", "limits-outside"]
_POOLS = {}


def _pool(mode):
    if not _POOLS:
        env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=_PACKAGE_ROOT)
        _POOLS.update({m: Child(POOL_PROBE, m, env=env) for m in _POOL_MODES})
    return _POOLS[mode].result(timeout=120)


@pytest.mark.skipif(not (_LINUX and _OPENMP), reason="counts threads in /proc (Linux), OpenMP build")
@pytest.mark.parametrize("mode", ["num_threads=1", "set_num_threads(1)", "limits-inside"])
def test_recommended_pool_settings_start_no_openmp_threads(mode):
    """With the recommended settings, four pool workers making large calls run on the four
    pool threads and no others."""
    got = _pool(mode)
    assert got["extra"] == 0, got
    if mode != "num_threads=1":
        assert got["seen"] == [1] * 4


@pytest.mark.skipif(not (_LINUX and _OPENMP), reason="counts threads in /proc (Linux), OpenMP build")
def test_the_default_in_a_pool_starts_a_team_per_worker():
    """Why the recommendation: by default every worker starts its own OpenMP team (here 2
    threads, OMP_NUM_THREADS=2), one extra thread per worker."""
    got = _pool("default")
    assert got["seen"] == [2] * 4
    assert got["extra"] == 4, got


@pytest.mark.skipif(not (_LINUX and _OPENMP), reason="counts threads in /proc (Linux), OpenMP build")
@pytest.mark.skipif(not fastbce.show_config()["compiler"].startswith("gcc"),
                    reason="libgomp's behaviour (GCC's OpenMP runtime)")
def test_threadpool_limits_in_the_main_thread_do_not_reach_pool_threads():
    """The pitfall the recommendation warns of: limits entered around the pool, in the main
    thread, leave the workers at OpenMP's default."""
    got = _pool("limits-outside")
    assert got["seen"] == [2] * 4
    assert got["extra"] == 4, got


def test_the_gil_is_released_while_a_large_call_runs():
    """Another Python thread runs while a large call is in the kernel. The worker starts a
    call of a few hundred milliseconds (the focal loss over 5e7 float32 elements on one
    thread); the main thread sleeps 10 ms and, once it wakes (which needs the GIL), finds the
    call still running. Were the GIL held, it would wake only after the call returned."""
    import threading

    x = np.full(50_000_000, 0.3, np.float32)
    t = np.full_like(x, 0.25)
    started, done = threading.Event(), threading.Event()

    def work():
        started.set()
        fastbce.sigmoid_focal_loss(x, t, reduction="sum", num_threads=1)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    time.sleep(0.01)
    still_running = not done.is_set()
    worker.join()
    assert still_running
