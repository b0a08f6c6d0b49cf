"""Threads: bit-identical results for any thread count, thread control, concurrent callers."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from helpers import make
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
        for n in (1, 2, 3, 4, 7, 16)
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
    assert fastbce.show_config(print_=True) == info
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

