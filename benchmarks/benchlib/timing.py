"""Timing: for each configuration (dtype x N x case x threads), every implementation on the
same arrays, samples interleaved, the median per-call time kept.

A sample is the mean of ``number`` back-to-back calls with garbage collection off; the
number of calls per sample and of samples follows from one implementation's first calls and
``min_time``. Before timing, each implementation's result is compared with fastbce's.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import peers
from .cases import Case

LOSS_RTOL = {"float32": 1e-3, "float64": 1e-9}  # agreement asked of every result with fastbce's


@dataclass(frozen=True)
class Config:
    dtype: str
    n: int
    case: Case
    threads: int  # the thread count given to torch, numba, numexpr, sklearn and BLAS
    label: str  # as asked on the command line: "1", "all", ...

    @property
    def op(self):
        return self.case.op

    @property
    def fastbce_threads(self):
        """``num_threads=`` for fastbce: its own default for "all", else the count."""
        return None if self.label == "all" else self.threads

    @property
    def threads_text(self):
        return f"all ({self.threads})" if self.label == "all" else self.label

    def describe(self):
        return f"{self.dtype} N={fmt_n(self.n)} {self.op} threads={self.threads_text}"


@dataclass
class Timing:
    compare: str  # the label of the fastbce row this one is compared with
    number: int  # calls per sample
    samples: int  # samples to take
    per_call: list = field(default_factory=list)  # seconds per call, one entry per sample


def fmt_n(n):
    """100 -> "1e2", 250 -> "250"."""
    exp = round(math.log10(n)) if n > 0 else 0
    return f"1e{exp}" if n == 10**exp else str(n)


def checked_value(result, index):
    """The number compared with fastbce's: the mean of part ``index`` of a tuple result (or
    of the result itself). Per-element results (sklearn, "fastbce (none)") average to the
    mean loss."""
    value = result[index] if isinstance(result, tuple) else result
    if hasattr(value, "detach"):  # a torch tensor, maybe one that requires grad
        value = value.detach().numpy()
    return float(np.mean(value, dtype=np.float64))


def time_calls(call, number):
    """Seconds per call over ``number`` back-to-back calls, garbage collection off."""
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            call()
        return (time.perf_counter() - start) / number
    finally:
        if gc_was_on:
            gc.enable()


def plan(impl, min_time, bounds):
    """Estimate one call's time (this also warms up) and size the samples from it."""
    impl.prepare()
    calls, start, elapsed = 0, time.perf_counter(), 0.0
    while elapsed < min_time / 20:  # at least one call
        impl.call()
        calls += 1
        elapsed = time.perf_counter() - start
    once = max(elapsed / calls, 1e-9)  # a clock that did not tick still gives a bound
    number = max(1, math.ceil(min_time / 10 / once))
    samples = min(max(math.ceil(min_time / (number * once)), bounds[0]), bounds[1])
    return Timing(impl.compare, number, samples)


def warm_up(impls, cfg, warn):
    """First call of each implementation, untimed: drops any that fails, warns on a result
    that differs from fastbce's."""
    index, what = cfg.case.checked
    values, kept = {}, []
    for impl in impls:
        try:
            impl.prepare()
            values[impl.label] = checked_value(impl.call(), index)
            kept.append(impl)
        except Exception as exc:  # noqa: BLE001 - MemoryError at huge N, a failing kernel, ...
            warn(f"{impl.label} failed at {cfg.describe()}: {type(exc).__name__}: {exc}")
    ref = values.get(peers.FASTBCE)
    for impl in kept:
        value = values[impl.label]
        if ref is None or not impl.check:
            continue
        if not math.isclose(value, ref, rel_tol=LOSS_RTOL[cfg.dtype]):
            warn(f"{impl.label} {what} {value!r} != fastbce {ref!r} at {cfg.describe()}")
    return kept


def measure(impls, min_time, bounds):
    """Interleave the samples: each round takes one of every implementation, in rotation."""
    timings = {impl.label: plan(impl, min_time, bounds) for impl in impls}
    for r in range(max((tm.samples for tm in timings.values()), default=0)):
        shift = r % len(impls)
        for impl in impls[shift:] + impls[:shift]:
            tm = timings[impl.label]
            if len(tm.per_call) < tm.samples:
                impl.prepare()
                tm.per_call.append(time_calls(impl.call, tm.number))
    return timings


def blas_limiter():
    """(threads -> context limiting BLAS (np.dot) to that many threads, a note or None).
    OpenMP pools (fastbce, torch) are left alone."""
    try:
        import threadpoolctl
    except ImportError:
        note = "np.dot floor runs with BLAS's default thread count (no threadpoolctl)"
        return (lambda threads: contextlib.nullcontext()), note
    return (lambda threads: threadpoolctl.threadpool_limits(limits=threads, user_api="blas")), None


def run(cases, dtypes, sizes, threads, loaded, *, seed, min_time, bounds, warn, blas_limit):
    """Time every configuration; yields (config, {row label: Timing}) as each ends.

    ``threads`` is [(count, label)], ``loaded`` {peer name: backend}. Inputs are drawn once
    per dtype, N and kind of inputs, and dropped before the next N.
    """
    for dtype in dtypes:
        for n in sizes:
            inputs = {}  # Inputs -> arrays, drawn when a case first needs them
            for count, label in threads:
                for case in cases:
                    cfg = Config(dtype, n, case, count, label)
                    if case.inputs not in inputs:
                        inputs[case.inputs] = case.inputs.make(dtype, n, seed)
                    arrays = inputs[case.inputs]
                    with blas_limit(count):
                        impls = peers.build(case.all_rows, loaded, arrays, cfg)
                        impls = warm_up(impls, cfg, warn)
                        timings = measure(impls, min_time, bounds)
                    del impls, arrays
                    yield cfg, timings
            del inputs
