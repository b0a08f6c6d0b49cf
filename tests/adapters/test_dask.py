"""fastbce.dask against the in-memory functions, on the threaded scheduler and on a real
dask.distributed LocalCluster (two worker processes on 127.0.0.1, started by a fixture).

What is claimed and checked here:
- per-element results (reduction="none", gradients, hessians) equal the in-memory ones bit
  for bit, for any chunking;
- a reduced loss is the correctly rounded sum of the chunks' float64 sums (checked against
  math.fsum of the in-memory per-chunk sums), so it is bit-identical across schedulers and
  reduction trees for one chunking, and within 1e-12 relative of the in-memory result for
  any chunking (float64); float32 results are that float64 value rounded once.
"""

import math
import os
import pathlib
import subprocess
import sys
import tempfile
import warnings

import cloudpickle
import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import fastbce
import fastbce.dask as fd
import fastbce.metrics

N = 1000
CHUNKINGS = {
    "one": ((N,),),
    "equal": ((250,) * 4,),
    "unequal": ((1, 0, 7, 300, 0, 692),),
}
REDUCTIONS = ["mean", "sum", "none", "weighted_mean"]
IN_MEMORY = {
    "bce": fastbce.binary_cross_entropy,
    "bce_grad": fastbce.binary_cross_entropy_grad,
    "bce_and_grad": fastbce.binary_cross_entropy_and_grad,
    "logits": fastbce.binary_cross_entropy_with_logits,
    "logits_grad": fastbce.binary_cross_entropy_with_logits_grad,
    "logits_and_grad": fastbce.binary_cross_entropy_with_logits_and_grad,
}
ON_DASK = {
    "bce": fd.binary_cross_entropy,
    "bce_grad": fd.binary_cross_entropy_grad,
    "bce_and_grad": fd.binary_cross_entropy_and_grad,
    "logits": fd.binary_cross_entropy_with_logits,
    "logits_grad": fd.binary_cross_entropy_with_logits_grad,
    "logits_and_grad": fd.binary_cross_entropy_with_logits_and_grad,
}


def _fastbce_file():
    import fastbce as imported

    return str(pathlib.Path(imported.__file__).resolve())


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of two single-threaded worker processes, closed after this module.

    The workers must import the fastbce under test: the directory holding it goes first
    on PYTHONPATH for the worker processes (an in-place build in a source tree, or the
    installed package), and the fixture checks that they import that very file."""
    root = str(pathlib.Path(fastbce.__file__).resolve().parent.parent)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = root + (os.pathsep + saved if saved else "")
    try:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    c = Client(cluster, set_as_default=False)
    # the workers cannot import this test module (under pytest's importlib mode it is
    # "tests.test_dask", not importable from a worker), so its function travels by value
    cloudpickle.register_pickle_by_value(sys.modules[_fastbce_file.__module__])
    try:
        files = c.run(_fastbce_file)
        assert len(files) == 2
        assert set(files.values()) == {_fastbce_file()}, files
        yield c
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[_fastbce_file.__module__])
        c.close()
        cluster.close()


@pytest.fixture(params=["threads", "distributed"])
def compute(request):
    """dask.compute on the threaded scheduler or on the LocalCluster."""
    scheduler = request.getfixturevalue("client") if request.param == "distributed" \
        else "threads"

    def run(*objs):
        return dask.compute(*objs, scheduler=scheduler)

    run.where = request.param
    return run


def threads(*objs):
    return dask.compute(*objs, scheduler="threads")


def probabilities(n, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(1e-6, 1 - 1e-6, n)
    t = rng.uniform(0, 1, n)
    t[: n // 2] = rng.uniform(0, 1, n // 2) < 0.5  # half 0/1 targets (the product path)
    return x.astype(dtype), t.astype(dtype)


def logits(n, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3, n)
    t = (rng.uniform(0, 1, n) < 0.5).astype(np.float64)
    t[: n // 3] = rng.uniform(0, 1, n // 3)
    return x.astype(dtype), t.astype(dtype)


def data(name, n, dtype=np.float64):
    return logits(n, dtype) if name.startswith("logits") else probabilities(n, dtype)


def as_list(result):
    return list(result) if isinstance(result, tuple) else [result]


def check_equal_to_in_memory(got, ref, reduction, rel=1e-12):
    """Per-element arrays bit for bit; reduced losses within ``rel`` (dtype and type as in
    memory)."""
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        if np.ndim(r) == 0:
            assert type(g) is type(r)
            if math.isnan(r):
                assert math.isnan(g)
            else:
                assert g == pytest.approx(r, rel=rel, abs=0)
        else:
            assert g.dtype == r.dtype
            np.testing.assert_array_equal(g, r)


# ---------------------------------------------------------------- import behaviour


def _python(code):
    # from outside the source tree; PYTHONPATH points at the fastbce under test
    env = dict(os.environ)
    root = str(pathlib.Path(fastbce.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, cwd=tempfile.gettempdir(), timeout=120, env=env)


def test_import_fastbce_does_not_import_dask():
    r = _python("import sys, fastbce, fastbce.metrics\n"
                "assert not any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules)")
    assert r.returncode == 0, r.stderr


def test_import_without_dask_says_how_to_install():
    # sys.modules[name] = None makes `import name` raise ImportError, as if not installed
    r = _python("import sys; sys.modules['dask'] = None\n"
                "try:\n    import fastbce.dask\nexcept ImportError as e:\n    print(e)\n"
                "else:\n    raise SystemExit('no ImportError')")
    assert r.returncode == 0, r.stderr
    assert 'pip install "fastbce[dask]"' in r.stdout


# ---------------------------------------------------------------- every function, reduction


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(IN_MEMORY))
def test_equals_in_memory(name, reduction, chunking):
    x, t = data(name, N)
    dx = da.from_array(x, chunks=CHUNKINGS[chunking])
    got = threads(*as_list(ON_DASK[name](dx, t, reduction=reduction)))
    ref = as_list(IN_MEMORY[name](x, t, reduction=reduction))
    check_equal_to_in_memory(got, ref, reduction)


def grad_hess_case(chunking):
    x, t = logits(N)
    pw = np.linspace(0.5, 2.0, N)
    dx = da.from_array(x, chunks=CHUNKINGS[chunking])
    lazy = fd.binary_cross_entropy_with_logits_grad_hess(dx, t, pos_weight=pw)
    ref = fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, pos_weight=pw)
    return list(lazy), list(ref)


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
def test_grad_hess_equals_in_memory(chunking):
    lazy, ref = grad_hess_case(chunking)
    check_equal_to_in_memory(list(threads(*lazy)), ref, "none")


def test_on_the_cluster_every_function_reduction_and_chunking(client):
    # the tests above, on the LocalCluster, computed together (one round trip)
    lazies, refs, reductions = [], [], []
    for name, in_memory in IN_MEMORY.items():
        for reduction in REDUCTIONS:
            for chunks in CHUNKINGS.values():
                x, t = data(name, N)
                dx = da.from_array(x, chunks=chunks)
                lazies.append(as_list(ON_DASK[name](dx, t, reduction=reduction)))
                refs.append(as_list(in_memory(x, t, reduction=reduction)))
                reductions.append(reduction)
    for chunking in CHUNKINGS:
        lazy, ref = grad_hess_case(chunking)
        lazies.append(lazy)
        refs.append(ref)
        reductions.append("none")
    results = dask.compute(lazies, scheduler=client)[0]
    assert len(results) == len(refs) == len(IN_MEMORY) * len(REDUCTIONS) * len(CHUNKINGS) + 3
    for got, ref, reduction in zip(results, refs, reductions):
        check_equal_to_in_memory(list(got), ref, reduction)


def test_results_are_lazy_and_chunked_like_input():
    x, t = probabilities(N)
    dx = da.from_array(x, chunks=CHUNKINGS["unequal"])
    loss, grad = fd.binary_cross_entropy_and_grad(dx, t)
    assert isinstance(loss, da.Array) and loss.shape == () and loss.dtype == np.float64
    assert isinstance(grad, da.Array) and grad.chunks == dx.chunks
    none = fd.binary_cross_entropy(dx, t, reduction="none")
    assert none.chunks == dx.chunks
    g, h = fd.binary_cross_entropy_with_logits_grad_hess(dx, t)
    assert g.chunks == h.chunks == dx.chunks


def test_mean_gradient_divides_by_the_total_count(compute):
    # every chunk's gradient is scaled by 1/N, N the whole input's size (not the chunk's)
    x, t = probabilities(N)
    dx = da.from_array(x, chunks=CHUNKINGS["unequal"])
    (got,) = compute(fd.binary_cross_entropy_grad(dx, t, reduction="mean"))
    per_element = fastbce.binary_cross_entropy_grad(x, t, reduction="sum")
    np.testing.assert_allclose(got, per_element / N, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(got, fastbce.binary_cross_entropy_grad(x, t))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_grad_output(compute, reduction):
    x, t = logits(N)
    dx = da.from_array(x, chunks=CHUNKINGS["unequal"])
    g = 0.3
    got = compute(fd.binary_cross_entropy_with_logits_grad(dx, t, reduction=reduction,
                                                            grad_output=g))
    ref = fastbce.binary_cross_entropy_with_logits_grad(x, t, reduction=reduction,
                                                        grad_output=g)
    np.testing.assert_array_equal(got[0], ref)
    if reduction == "none":  # an upstream gradient per element, a dask array chunked otherwise
        gv = np.linspace(-1, 2, N)
        got = compute(fd.binary_cross_entropy_with_logits_grad(
            dx, t, reduction="none", grad_output=da.from_array(gv, chunks=300)))
        ref = fastbce.binary_cross_entropy_with_logits_grad(x, t, reduction="none",
                                                            grad_output=gv)
        np.testing.assert_array_equal(got[0], ref)


def test_label_smoothing(compute):
    x, t = probabilities(N)
    dx = da.from_array(x, chunks=CHUNKINGS["unequal"])
    got = compute(*fd.binary_cross_entropy_and_grad(dx, t, label_smoothing=0.1))
    ref = fastbce.binary_cross_entropy_and_grad(x, t, label_smoothing=0.1)
    check_equal_to_in_memory(list(got), list(ref), "mean")


def test_single_element_and_empty_chunks(compute):
    n = 40
    x, t = probabilities(n)
    chunks = ((0,) + (1,) * 30 + (0, 0, 10, 0),)
    dx = da.from_array(x, chunks=chunks)
    reductions = ["mean", "sum", "none"]
    got = compute(*[fd.binary_cross_entropy_and_grad(dx, t, reduction=r) for r in reductions])
    for g, reduction in zip(got, reductions):
        ref = fastbce.binary_cross_entropy_and_grad(x, t, reduction=reduction)
        check_equal_to_in_memory(list(g), list(ref), reduction)


def test_empty_input(compute):
    x = da.zeros((0,), chunks=((0,),))
    mean, s = compute(fd.binary_cross_entropy(x, x), fd.binary_cross_entropy(x, x, reduction="sum"))
    assert math.isnan(mean) and s == 0.0
    (grad,) = compute(fd.binary_cross_entropy_grad(x, x))
    assert grad.shape == (0,)


@pytest.mark.parametrize("shape,chunks", [((60, 7), ((10, 0, 50), (3, 4))),
                                          ((4, 5, 6), ((1, 3), (5,), (2, 2, 2)))])
def test_multidimensional(compute, shape, chunks):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, shape)
    t = rng.uniform(0, 1, shape)
    dx = da.from_array(x, chunks=chunks)
    reductions = ["mean", "sum", "none"]
    got = compute(*[fd.binary_cross_entropy_and_grad(dx, t, reduction=r) for r in reductions])
    for g, reduction in zip(got, reductions):
        ref = fastbce.binary_cross_entropy_and_grad(x, t, reduction=reduction)
        check_equal_to_in_memory(list(g), list(ref), reduction)


# ---------------------------------------------------------------- how the partials add up


def chunk_sums(x, t, chunks):
    """The in-memory float64 sum of each chunk (public API), in chunk order."""
    edges = np.cumsum((0,) + chunks[0])
    return [float(fastbce.binary_cross_entropy(x[a:b], t[a:b], reduction="sum"))
            for a, b in zip(edges[:-1], edges[1:])]


@pytest.mark.parametrize("chunking", ["equal", "unequal", "ragged"])
def test_reduction_is_the_rounded_exact_sum_of_chunk_sums(client, chunking):
    n = 30011
    x, t = probabilities(n)
    rng = np.random.default_rng(7)
    chunks = ((10003, 10004, 10004),) if chunking == "equal" else (
        ((1, 0, 9000, 3, 0, 21007),) if chunking == "unequal" else
        (tuple(np.diff(np.r_[0, np.sort(rng.integers(0, n, 40)), n]).tolist()),))
    dx = da.from_array(x, chunks=chunks)
    expected = math.fsum(chunk_sums(x, t, chunks))
    results = set()
    for scheduler, trees in [("threads", [None, 2, 3, 64]), ("synchronous", [None, 2]),
                             (client, [None, 3])]:
        for split_every in trees:
            s, m = dask.compute(fd.binary_cross_entropy(dx, t, reduction="sum",
                                                        split_every=split_every),
                                fd.binary_cross_entropy(dx, t, split_every=split_every),
                                scheduler=scheduler)
            results.add((s.tobytes(), m.tobytes()))
            assert s == expected
            assert m == expected / n
    assert len(results) == 1  # bit-identical on every scheduler and tree
    ref = fastbce.binary_cross_entropy(x, t, reduction="sum")
    assert float(s) == pytest.approx(float(ref), rel=1e-12, abs=0)


def test_float64_any_chunking_within_1e12_of_in_memory():
    n = 50000
    rng = np.random.default_rng(11)
    for family in ["bce", "logits"]:
        x, t = data(family, n)
        ref = IN_MEMORY[family](x, t, reduction="sum")
        for _ in range(8):
            cuts = np.sort(rng.integers(0, n, rng.integers(1, 30)))
            chunks = (tuple(np.diff(np.r_[0, cuts, n]).tolist()),)
            got = ON_DASK[family](da.from_array(x, chunks=chunks), t,
                                  reduction="sum").compute(scheduler="threads")
            assert float(got) == pytest.approx(float(ref), rel=1e-12, abs=0)


def test_signed_weights_within_1e12_of_the_absolute_sum():
    # with weights of both signs the sum can cancel: the bound is relative to sum |w * loss|
    n = 20000
    x, t = probabilities(n)
    w = np.random.default_rng(2).uniform(-1, 1, n)
    dx = da.from_array(x, chunks=((5, 7000, 0, 12995),))
    got = fd.binary_cross_entropy(dx, t, w, reduction="sum").compute(scheduler="threads")
    ref = fastbce.binary_cross_entropy(x, t, w, reduction="sum")
    scale = float(np.abs(fastbce.binary_cross_entropy(x, t, w, reduction="none")).sum())
    assert abs(float(got) - float(ref)) <= 1e-12 * scale


def float32_cases(family, chunking):
    x, t = data(family, N, np.float32)
    dx = da.from_array(x, chunks=CHUNKINGS[chunking])
    lazy = [ON_DASK[family](dx, t, reduction="mean"), ON_DASK[family](dx, t, reduction="sum"),
            *ON_DASK[family + "_and_grad"](dx, t)]
    ref = [IN_MEMORY[family](x, t, reduction="mean"), IN_MEMORY[family](x, t, reduction="sum"),
           *IN_MEMORY[family + "_and_grad"](x, t)]
    return lazy, ref


def check_float32(got, ref):
    for g, r in zip(got, ref):
        assert type(g) is type(r) and g.dtype == np.float32
        # scalars: both are a float64 total (equal within 1e-12) rounded once to float32
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("family", ["bce", "logits"])
@pytest.mark.parametrize("chunking", list(CHUNKINGS))
def test_float32_result_is_the_float64_sum_rounded_once(family, chunking):
    lazy, ref = float32_cases(family, chunking)
    check_float32(threads(*lazy), ref)


def test_on_the_cluster_float32(client):
    cases = [float32_cases(f, c) for f in ["bce", "logits"] for c in CHUNKINGS]
    results = dask.compute([lazy for lazy, _ in cases], scheduler=client)[0]
    for got, (_, ref) in zip(results, cases):
        check_float32(got, ref)


def test_float32_partials_are_not_rounded_to_float32():
    # data (seed 4, three chunks) whose float32-rounded chunk sums add up to another float32
    # than the float64 chunk sums do: fastbce.dask keeps the chunks' float64 sums
    n = 3000
    x, t = probabilities(n, np.float32, seed=4)
    dx = da.from_array(x, chunks=1000)
    got = fd.binary_cross_entropy(dx, t, reduction="sum").compute(scheduler="threads")
    ref = fastbce.binary_cross_entropy(x, t, reduction="sum")
    rounded_partials = math.fsum(
        float(fastbce.binary_cross_entropy(x[i:i + 1000], t[i:i + 1000], reduction="sum"))
        for i in range(0, n, 1000))
    assert got == ref
    assert np.float32(rounded_partials) != ref  # the data makes the difference visible


# ---------------------------------------------------------------- weights, pos_weight


WEIGHTS = {
    "scalar": lambda shape, rng: 1.7,
    "per-column": lambda shape, rng: rng.uniform(0, 2, shape[-1:]),
    "per-row": lambda shape, rng: rng.uniform(0, 2, (shape[0], 1)),
    "full": lambda shape, rng: rng.uniform(0, 2, shape),
    "leading-1": lambda shape, rng: rng.uniform(0, 2, (1,) + shape[1:]),
}


def weight_cases(kind, as_dask, wchunks=3):
    shape, chunks = (50, 6), ((7, 0, 40, 3), (4, 2))
    rng = np.random.default_rng(4)
    x = rng.normal(0, 2, shape)
    t = rng.uniform(0, 1, shape)
    w = WEIGHTS[kind](shape, rng)
    pw = WEIGHTS[kind](shape, rng)
    dw, dpw = w, pw
    if as_dask and np.ndim(w):
        dw = da.from_array(w, chunks=wchunks)  # chunked otherwise than input: rechunked
        dpw = da.from_array(pw, chunks=wchunks + 2)
    dx = da.from_array(x, chunks=chunks)
    lazies, refs, reductions = [], [], []
    for reduction in ["mean", "sum", "none"]:
        lazies.append(fd.binary_cross_entropy_with_logits_and_grad(
            dx, t, dw, reduction=reduction, pos_weight=dpw))
        refs.append(fastbce.binary_cross_entropy_with_logits_and_grad(
            x, t, w, reduction=reduction, pos_weight=pw))
        reductions.append(reduction)
    lazies.append(fd.binary_cross_entropy_with_logits_grad_hess(dx, t, dw, dpw))
    refs.append(fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, w, pw))
    reductions.append("none")
    xp = 1 / (1 + np.exp(-x))
    lazies.append(fd.binary_cross_entropy_and_grad(da.from_array(xp, chunks=chunks), t, dw))
    refs.append(fastbce.binary_cross_entropy_and_grad(xp, t, w))
    reductions.append("mean")
    return lazies, refs, reductions


def check_cases(results, refs, reductions):
    assert len(results) == len(refs) == len(reductions)
    for got, ref, reduction in zip(results, refs, reductions):
        check_equal_to_in_memory(list(got), list(ref), reduction)


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy", "dask"])
@pytest.mark.parametrize("kind", list(WEIGHTS))
def test_weight_and_pos_weight_broadcast(kind, as_dask):
    lazies, refs, reductions = weight_cases(kind, as_dask)
    check_cases(threads(*lazies), refs, reductions)


def test_on_the_cluster_weight_and_pos_weight(client):
    # each kind once, NumPy and dask weights in turn (the threaded test runs every pair)
    lazies, refs, reductions = [], [], []
    for i, kind in enumerate(WEIGHTS):
        case = weight_cases(kind, as_dask=i % 2 == 1, wchunks=20)
        lazies += case[0]
        refs += case[1]
        reductions += case[2]
    check_cases(dask.compute(lazies, scheduler=client)[0], refs, reductions)


def weighted_mean_case(kind):
    shape, chunks = (50, 6), ((7, 0, 40, 3), (4, 2))
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, shape)
    t = rng.uniform(0, 1, shape)
    w = None if kind is None else WEIGHTS[kind](shape, rng)
    dx = da.from_array(x, chunks=chunks)
    lazy = [*fd.binary_cross_entropy_and_grad(dx, t, w, reduction="weighted_mean"),
            fd.binary_cross_entropy(dx, t, w, reduction="weighted_mean"),
            fd.binary_cross_entropy_grad(dx, t, w, reduction="weighted_mean", grad_output=2.0)]
    return lazy, (x, t, w)


def check_weighted_mean(got, inputs):
    x, t, w = inputs
    loss, grad, alone, g_alone = got
    wsum = float(np.broadcast_to(1.0 if w is None else w, x.shape).sum())
    ref_sum, ref_grad = fastbce.binary_cross_entropy_and_grad(x, t, w, reduction="sum")
    assert type(loss) is np.float64
    # the definition: sum(w * loss) / sum(w), gradient w * g / sum(w)
    assert loss == pytest.approx(float(ref_sum) / wsum, rel=1e-13, abs=0)
    np.testing.assert_allclose(grad, ref_grad / wsum, rtol=1e-14, atol=0)
    # and the in-memory reduction="weighted_mean" (its weight sum is rounded otherwise)
    mem_loss, mem_grad = fastbce.binary_cross_entropy_and_grad(x, t, w, reduction="weighted_mean")
    assert loss == pytest.approx(float(mem_loss), rel=1e-13, abs=0)
    np.testing.assert_allclose(grad, mem_grad, rtol=1e-14, atol=0)
    assert alone == loss
    np.testing.assert_allclose(g_alone, 2 * ref_grad / wsum, rtol=1e-14, atol=0)
    if w is None:  # without a weight it is the mean
        assert loss == pytest.approx(float(fastbce.binary_cross_entropy(x, t)), rel=1e-15)


@pytest.mark.parametrize("kind", [None, *WEIGHTS])
def test_weighted_mean(kind):
    lazy, inputs = weighted_mean_case(kind)
    check_weighted_mean(threads(*lazy), inputs)


def test_on_the_cluster_weighted_mean(client):
    cases = [weighted_mean_case(kind) for kind in [None, *WEIGHTS]]
    results = dask.compute([lazy for lazy, _ in cases], scheduler=client)[0]
    for got, (_, inputs) in zip(results, cases):
        check_weighted_mean(got, inputs)


def test_weighted_mean_of_zero_weights_is_nan(compute):
    x, t = probabilities(N)
    dx = da.from_array(x, chunks=CHUNKINGS["unequal"])
    w = np.zeros(N)
    w[:10] = [1, -1] * 5
    loss, grad = compute(*fd.binary_cross_entropy_and_grad(dx, t, w, reduction="weighted_mean"))
    assert math.isnan(loss)
    assert np.isnan(grad).all()
    mem_loss, mem_grad = fastbce.binary_cross_entropy_and_grad(x, t, w, reduction="weighted_mean")
    assert math.isnan(mem_loss) and np.isnan(mem_grad).all()  # as in memory


def test_weighted_mean_float32(compute):
    x, t = probabilities(N, np.float32)
    w = np.random.default_rng(1).uniform(0, 2, N).astype(np.float32)
    dx = da.from_array(x, chunks=CHUNKINGS["unequal"])
    loss, grad = compute(*fd.binary_cross_entropy_and_grad(dx, t, w, reduction="weighted_mean"))
    assert type(loss) is np.float32 and grad.dtype == np.float32
    exact = float(fastbce.binary_cross_entropy(x.astype(np.float64), t.astype(np.float64),
                                               w.astype(np.float64), reduction="sum"))
    assert float(loss) == pytest.approx(exact / w.sum(dtype=np.float64), rel=2e-7)


# ---------------------------------------------------------------- dtypes, chunks, errors


@pytest.mark.parametrize("dtype,expected", [(np.float16, np.float16), (np.float32, np.float32),
                                            (np.float64, np.float64), (np.int8, np.float64),
                                            (np.bool_, np.float64)])
def test_dtypes_follow_the_in_memory_rules(dtype, expected):
    x = (np.arange(12) % 2).astype(dtype)
    t = np.linspace(0, 1, 12).astype(np.float64)
    dx = da.from_array(x, chunks=5)
    for reduction in ["mean", "none"]:
        lazy = fd.binary_cross_entropy(dx, t, reduction=reduction)
        got = lazy.compute(scheduler="threads")
        ref = fastbce.binary_cross_entropy(x, t, reduction=reduction)
        assert lazy.dtype == expected and got.dtype == expected == ref.dtype
        np.testing.assert_allclose(got, ref, rtol=1e-3 if dtype == np.float16 else 1e-12)


def test_target_chunked_otherwise_is_rechunked(compute):
    x, t = probabilities(N)
    dx = da.from_array(x, chunks=CHUNKINGS["unequal"])
    dt = da.from_array(t, chunks=333)
    none = fd.binary_cross_entropy(dx, dt, reduction="none")
    assert none.chunks == dx.chunks  # input's chunks decide
    got = compute(none, fd.binary_cross_entropy(dx, dt))
    ref = [fastbce.binary_cross_entropy(x, t, reduction="none"), fastbce.binary_cross_entropy(x, t)]
    check_equal_to_in_memory(list(got), ref, "mean")


def message(fn, *args, **kwargs):
    with pytest.raises(Exception) as info:
        fn(*args, **kwargs)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("case", ["input above 1", "input NaN", "target below 0",
                                  "logits NaN", "logits target"])
def test_range_errors_reach_the_caller_as_in_memory(compute, case):
    x, t = probabilities(N)
    if case.startswith("logits"):
        x, t = logits(N)
    x, t = x.copy(), t.copy()
    where = 700  # in the last chunk but one
    if case == "input above 1":
        x[where] = 1.5
    elif case in ("input NaN", "logits NaN"):
        x[where] = np.nan
    else:
        t[where] = -0.25
    fam = "logits" if case.startswith("logits") else "bce"
    dx = da.from_array(x, chunks=CHUNKINGS["unequal"])
    for reduction in ["mean", "none"]:
        expected = message(IN_MEMORY[fam], x, t, reduction=reduction)
        assert expected[0] is ValueError
        got = message(compute, ON_DASK[fam](dx, t, reduction=reduction))
        assert got == expected
    got = message(compute, *ON_DASK[fam + "_and_grad"](dx, t))
    assert got == expected


def test_argument_errors_are_raised_when_the_graph_is_built():
    x, t = probabilities(12)
    dx = da.from_array(x, chunks=5)
    for args, kwargs in [
        ((x, t[:11]), {}),                       # target shape
        ((x, t), {"weight": np.ones(5)}),        # weight does not broadcast
        ((x, t), {"reduction": "average"}),
        ((x, t), {"num_threads": 0}),
        ((x, t), {"label_smoothing": 1.0}),
        ((x, t.astype(np.complex128)), {}),
        ((x, np.array(["a"] * 12)), {}),
    ]:
        kind, text = message(fastbce.binary_cross_entropy, *args, **kwargs)
        d_args = (dx,) + args[1:]
        d_kind, d_text = message(fd.binary_cross_entropy, *d_args, **kwargs)
        assert (d_kind, d_text) == (kind, text)
    kind, text = message(fd.binary_cross_entropy_grad, dx, t, grad_output=np.ones(12))
    assert (kind, text) == message(fastbce.binary_cross_entropy_grad, x, t,
                                   grad_output=np.ones(12))
    unknown = dx[dx > 0.5]  # NaN chunk sizes
    kind, text = message(fd.binary_cross_entropy, unknown, unknown)
    assert kind is ValueError and "compute_chunk_sizes()" in text


def test_numpy_input_and_num_threads_none():
    x, t = probabilities(N)
    got = fd.binary_cross_entropy(x, t, num_threads=None).compute(scheduler="threads")
    assert got == fastbce.binary_cross_entropy(x, t)


def test_each_task_runs_the_kernel_with_num_threads(monkeypatch):
    # the thread count each chunk's call of the route gets: 1 by default
    from fastbce import _bce

    seen = []
    real = _bce.compute

    def recording(*args, **kwargs):
        seen.append(kwargs["num_threads"])
        return real(*args, **kwargs)

    monkeypatch.setattr(_bce, "compute", recording)
    x, t = probabilities(40_000)
    dx = da.from_array(x, chunks=20_000)
    for kwargs, expected in [({}, 1), ({"num_threads": 2}, 2), ({"num_threads": None}, None)]:
        seen.clear()
        fd.binary_cross_entropy_and_grad(dx, t, **kwargs)[0].compute(scheduler="threads")
        assert seen == [expected, expected]


# ---------------------------------------------------------------- memmapped .npy on disk


def test_memmapped_npy_files_larger_than_a_chunk(client, tmp_path):
    n = 200_003
    x, t = probabilities(n, np.float32, seed=8)
    w = np.random.default_rng(8).uniform(0, 1, n).astype(np.float32)
    for name, arr in [("x", x), ("t", t), ("w", w)]:
        np.save(tmp_path / f"{name}.npy", arr)
    dx = fd.from_npy(tmp_path / "x.npy", chunks=30_000)
    dt = fd.from_npy(tmp_path / "t.npy", chunks=30_000)
    dw = fd.from_npy(tmp_path / "w.npy", chunks=50_000)
    assert dx.numblocks == (7,)
    mean, (loss, grad), wmean = dask.compute(
        fd.binary_cross_entropy(dx, dt),
        fd.binary_cross_entropy_and_grad(dx, dt, dw, reduction="sum"),
        fd.binary_cross_entropy(dx, dt, dw, reduction="weighted_mean"),
        scheduler=client)
    assert mean == fastbce.binary_cross_entropy(x, t)
    ref_loss, ref_grad = fastbce.binary_cross_entropy_and_grad(x, t, w, reduction="sum")
    assert loss == ref_loss
    np.testing.assert_array_equal(grad, ref_grad)
    assert float(wmean) == pytest.approx(float(ref_loss) / w.sum(dtype=np.float64), rel=1e-6)


def test_from_npy_sends_the_path_not_the_data(tmp_path):
    import pickle

    x = np.zeros(100_000)
    np.save(tmp_path / "x.npy", x)
    dx = fd.from_npy(tmp_path / "x.npy", chunks=10_000)
    graph = dict(dx.__dask_graph__())
    assert len(pickle.dumps(graph)) < 50_000  # 800 kB of data would not fit
    np.testing.assert_array_equal(dx.compute(scheduler="threads"), x)


# ---------------------------------------------------------------- log_loss


def log_loss_case(n, seed, two_columns=False, dtype=np.float64, classes=(0, 1), sort=False):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, n)
    p[:5] = [0.0, 1.0, 1e-17, 1 - 1e-17, 0.5]
    y01 = rng.uniform(0, 1, n) < p
    if sort:  # single-label chunks: the labels are found across chunks
        order = np.argsort(y01, kind="stable")
        y01, p = y01[order], p[order]
    y = np.where(y01, classes[1], classes[0])
    p = p.astype(dtype)
    if two_columns:
        p = np.stack([1 - p, p], axis=1)
    return y, p


def log_loss_cases(two_columns, weighted, sort):
    n = 997
    y, p = log_loss_case(n, 3, two_columns, sort=sort)
    w = np.random.default_rng(5).uniform(0, 2, n) if weighted else None
    chunks = ((100, 0, 1, 500, 396),) + (((2,),) if two_columns else ())
    dp = da.from_array(p, chunks=chunks)
    dw = None if w is None else da.from_array(w, chunks=300)
    lazy = [fd.log_loss(y, dp, normalize=nz, sample_weight=dw, compute=False)
            for nz in [True, False]]
    ref = [fastbce.metrics.log_loss(y, p, normalize=nz, sample_weight=w) for nz in [True, False]]
    return lazy, ref


LOG_LOSS_CASES = [(c, w, s) for c in [False, True] for w in [False, True] for s in [False, True]]


@pytest.mark.parametrize("two_columns,weighted,sort", LOG_LOSS_CASES)
def test_log_loss_equals_fastbce_metrics(two_columns, weighted, sort):
    lazy, ref = log_loss_cases(two_columns, weighted, sort)
    for got, r in zip(threads(*lazy), ref):
        assert float(got) == pytest.approx(r, rel=1e-12, abs=0)
    y, p = log_loss_case(997, 3, two_columns, sort=sort)
    assert type(fd.log_loss(y, da.from_array(p, chunks=100))) is float


def test_on_the_cluster_log_loss(client):
    cases = [log_loss_cases(*case) for case in LOG_LOSS_CASES]
    results = dask.compute([lazy for lazy, _ in cases], scheduler=client)[0]
    for got, (_, ref) in zip(results, cases):
        for g, r in zip(got, ref):
            assert float(g) == pytest.approx(r, rel=1e-12, abs=0)


@pytest.mark.parametrize("classes", [(False, True), (0.0, 1.0), (2, 7), ("ham", "spam")])
def test_log_loss_labels(classes):
    y, p = log_loss_case(500, 4, classes=classes, sort=True)
    dp = da.from_array(p, chunks=64)
    assert fd.log_loss(y, dp) == pytest.approx(fastbce.metrics.log_loss(y, p), rel=1e-12)
    one = y[:50] if classes[0] != y[-1] else y[-50:]
    assert len(set(one.tolist())) == 1
    got = fd.log_loss(one, dp[:50], labels=list(classes))
    assert got == pytest.approx(fastbce.metrics.log_loss(one, p[:50], labels=list(classes)),
                                rel=1e-12)


def test_log_loss_float32():
    y, p = log_loss_case(2000, 6)
    p32 = p.astype(np.float32)
    got = fd.log_loss(y, da.from_array(p32, chunks=(7, 993, 1000)))
    # both in float64, never rounded to float32; the chunks' float32 logs (and 0/1-target
    # products) group differently from one pass over the whole array
    assert got == pytest.approx(fastbce.metrics.log_loss(y, p32), rel=1e-7)


def test_log_loss_errors(compute):
    y, p = log_loss_case(100, 7)
    dp = da.from_array(p, chunks=30)
    bad = p.copy()
    bad[40] = 1.5
    with pytest.raises(ValueError, match="y_prob contains values greater than 1: 1.5"):
        compute(fd.log_loss(y, da.from_array(bad, chunks=30), compute=False))
    with pytest.raises(ValueError, match="y_true contains only one label"):
        compute(fd.log_loss(np.ones(100), dp, compute=False))
    with pytest.raises(ValueError, match="binary only"):
        compute(fd.log_loss(np.arange(100) % 3, dp, compute=False))
    with pytest.raises(ValueError, match="binary only"):  # three labels, in different chunks
        compute(fd.log_loss(np.repeat([0, 1, 2], [30, 30, 40]), dp, compute=False))
    with pytest.raises(ValueError, match="not belonging to the passed labels"):
        compute(fd.log_loss(np.arange(100) % 3, dp, labels=[0, 1], compute=False))
    with pytest.raises(ValueError, match="continuous"):
        compute(fd.log_loss(np.where(y == 1, 0.5, 0.0), dp, compute=False))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        fd.log_loss(y[:99], dp)
    with pytest.raises(ValueError, match="at least one non-zero"):
        compute(fd.log_loss(y, dp, sample_weight=np.zeros(100), compute=False))
    w = np.zeros(100)
    w[:2] = [1, -1]
    with pytest.raises(ZeroDivisionError):
        compute(fd.log_loss(y, dp, sample_weight=w, compute=False))


def test_log_loss_warns_on_rows_that_do_not_sum_to_one():
    y, p = log_loss_case(100, 8, two_columns=True)
    p[50] = [0.5, 0.8]
    with pytest.warns(UserWarning, match="do not sum to one"):
        fd.log_loss(y, da.from_array(p, chunks=(30, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fd.log_loss(y[:50], da.from_array(p[:50], chunks=(30, 2)))


# ---------------------------------------------------------------- the annotations


TYPING_USAGE = '''
import dask.array as da
import numpy as np

import fastbce.dask as fd

x = da.random.random((100, 3), chunks=(25, 3))
t = da.random.random((100, 3), chunks=(25, 3))
w = np.ones(3)
loss: da.Array = fd.binary_cross_entropy(x, t, w, reduction="weighted_mean")
loss = fd.binary_cross_entropy_with_logits(x, t, pos_weight=w, label_smoothing=0.1,
                                           num_threads=None, split_every=4)
pair: tuple[da.Array, da.Array] = fd.binary_cross_entropy_and_grad(x, t)
pair = fd.binary_cross_entropy_with_logits_and_grad(x, t, reduction="sum")
pair = fd.binary_cross_entropy_with_logits_grad_hess(x, t, w, w)
grad: da.Array = fd.binary_cross_entropy_grad(x, t, reduction="none", grad_output=t)
grad = fd.binary_cross_entropy_with_logits_grad(x, t, grad_output=0.5)
score: float = fd.log_loss(t[:, 0] > 0.5, x[:, 0], sample_weight=[1.0] * 100)
lazy: da.Array = fd.log_loss([0, 1], [0.2, 0.7], compute=False)
arr: da.Array = fd.from_npy("x.npy", chunks=1000)
fd.binary_cross_entropy(x, t, reduction="average")  # type: ignore[arg-type]
bad: float = fd.log_loss([0, 1], [0.2, 0.7], compute=False)  # type: ignore[assignment]
'''


def test_annotations_type_check_a_usage_file(tmp_path):
    pytest.importorskip("mypy")
    (tmp_path / "usage_dask.py").write_text(TYPING_USAGE)
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    root = str(pathlib.Path(fastbce.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root  # mypy resolves fastbce to the one under test
    cache = pathlib.Path(__file__).parent / ".mypy_cache"
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--warn-unused-ignores", "--cache-dir",
         str(cache), "usage_dask.py"],
        check=False, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------- axis


AXIS_CASES = [((60, 7), ((10, 0, 50), (3, 4)), 0), ((60, 7), ((25, 35), (7,)), -1),
              ((4, 5, 6), ((1, 3), (5,), (2, 2, 2)), (0, 2)), ((4, 5, 6), ((2, 2), (2, 3), (6,)), 1),
              ((4, 5, 6), ((4,), (5,), (3, 3)), ())]


def close_or_nan(got, ref, rel):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=rel, atol=0, equal_nan=True)


@pytest.mark.parametrize("shape,chunks,axis", AXIS_CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "weighted_mean"])
@pytest.mark.parametrize("family", ["probabilities", "logits"])
def test_axis_equals_in_memory_within_1e12(compute, shape, chunks, axis, reduction, family):
    """Loss, gradient (with a grad_output of the reduced shape) and both at once, with a
    per-class weight (and pos_weight for logits), keepdims both ways."""
    n = int(np.prod(shape))
    x, t = (a.reshape(shape) for a in data(family, n))
    w = np.linspace(0.5, 2.0, shape[-1])
    kw = {"weight": w, "reduction": reduction}
    if family == "logits":
        kw["pos_weight"] = np.linspace(3.0, 1.0, shape[-1])
        mem = (fastbce.binary_cross_entropy_with_logits, fastbce.binary_cross_entropy_with_logits_grad,
               fastbce.binary_cross_entropy_with_logits_and_grad)
        lazy = (fd.binary_cross_entropy_with_logits, fd.binary_cross_entropy_with_logits_grad,
                fd.binary_cross_entropy_with_logits_and_grad)
    else:
        mem = (fastbce.binary_cross_entropy, fastbce.binary_cross_entropy_grad,
               fastbce.binary_cross_entropy_and_grad)
        lazy = (fd.binary_cross_entropy, fd.binary_cross_entropy_grad,
                fd.binary_cross_entropy_and_grad)
    dx, dt = da.from_array(x, chunks=chunks), da.from_array(t, chunks=chunks)
    for keepdims in (False, True):
        ref = mem[0](x, t, axis=axis, keepdims=keepdims, **kw)
        go = np.random.default_rng(7).normal(size=np.shape(ref))
        gref = mem[1](x, t, axis=axis, keepdims=keepdims, grad_output=go, **kw)
        lref, g1ref = mem[2](x, t, axis=axis, keepdims=keepdims, **kw)
        loss, grad, (loss2, grad2) = compute(
            lazy[0](dx, dt, axis=axis, keepdims=keepdims, **kw),
            lazy[1](dx, dt, axis=axis, keepdims=keepdims, grad_output=go, **kw),
            lazy[2](dx, dt, axis=axis, keepdims=keepdims, **kw))
        close_or_nan(loss, ref, 1e-12)
        close_or_nan(loss2, lref, 1e-12)
        close_or_nan(grad, gref, 1e-13)
        close_or_nan(grad2, g1ref, 1e-13)


def test_axis_float32_and_lazy_shapes():
    x, t = probabilities(4000, np.float32)
    x, t = x.reshape(500, 8), t.reshape(500, 8)
    dx = da.from_array(x, chunks=(128, 3))
    per_class = fd.binary_cross_entropy(dx, t, axis=0, keepdims=True)
    assert per_class.shape == (1, 8) and per_class.dtype == np.float32  # before computing
    close_or_nan(per_class.compute(), fastbce.binary_cross_entropy(x, t, axis=0, keepdims=True),
                 1e-6)
    grad = fd.binary_cross_entropy_grad(dx, t, axis=-1)
    assert grad.chunks == dx.chunks and grad.dtype == np.float32
    np.testing.assert_allclose(grad.compute(), fastbce.binary_cross_entropy_grad(x, t, axis=-1),
                               rtol=1e-6)


def test_axis_errors_when_the_graph_is_built():
    dx = da.from_array(np.full((6, 4), 0.5), chunks=3)
    with pytest.raises(ValueError, match="axis"):
        fd.binary_cross_entropy(dx, dx, reduction="none", axis=0)
    with pytest.raises(np.exceptions.AxisError, match="axis 2"):
        fd.binary_cross_entropy(dx, dx, axis=2)
    with pytest.raises(ValueError, match="axis"):
        fd.binary_cross_entropy(dx, dx, axis=(1, -1))
    with pytest.raises(ValueError, match="grad_output"):
        fd.binary_cross_entropy_grad(dx, dx, axis=0, grad_output=np.ones(6))
