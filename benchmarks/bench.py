"""Benchmark fastbce against NumPy, PyTorch and, when installed, Numba, numexpr and scikit-learn.

Run it with fastbce installed (or built in place and on ``PYTHONPATH``)::

    python benchmarks/bench.py              # full run
    python benchmarks/bench.py --quick      # smoke run, under a minute
    python benchmarks/bench.py --sizes 1e2,1e8 --dtypes float32 --threads 1

Every configuration (dtype x N x op x threads) times all implementations interleaved, on
the same two arrays, and reports the median per-call time. "forward" is the mean loss,
"fwd+grad" is the mean loss and its gradient with respect to the input, on probabilities
with soft targets uniform in [0, 1] ("soft t": the torch tutorial fastbce grew from draws
its targets with torch.rand, the case that comes first) or with binary labels ("0/1 t",
where fastbce sums logs as a product). The logits ops take
logits x ~ N(0, 3) and binary labels t: "logits fwd+grad" is the mean loss and its gradient,
"logits grad_hess" the per-element gradient and hessian.
scikit-learn's HalfBinomialLoss runs on the logits ops only; it returns per-element losses,
so its rows compare with "fastbce (none)", fastbce writing per-element losses and gradients
into preallocated arrays. The row "np.dot floor" is ``np.dot(x, t)``: one read of both
inputs, about the least any implementation has to do.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# Idle OpenBLAS threads busy-wait about 0.1 s after each call; in the interleaved schedule
# that steals a core from whatever follows the np.dot floor. Let them sleep at once unless
# the user chose otherwise. It has to be set before NumPy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "bench.json"
DEFAULT_PLOT = HERE / "results" / "bench.png"

DTYPES = ("float32", "float64")
SOFT_FORWARD = "forward, soft t"
SOFT_FWD_GRAD = "fwd+grad, soft t"
HARD_FORWARD = "forward, 0/1 t"
HARD_FWD_GRAD = "fwd+grad, 0/1 t"
LOGITS_FWD_GRAD = "logits fwd+grad"
GRAD_HESS = "logits grad_hess"
OP_FAMILIES = {  # the input each op takes -> its ops; one plot row per dtype and family
    # the tutorial's case first: soft targets (torch.rand, softmax rows), then 0/1 labels
    "soft targets": (SOFT_FORWARD, SOFT_FWD_GRAD),
    "probabilities": (HARD_FORWARD, HARD_FWD_GRAD),
    "logits": (LOGITS_FWD_GRAD, GRAD_HESS),
}
FORWARD_OPS = (HARD_FORWARD, SOFT_FORWARD)
FWD_GRAD_OPS = (HARD_FWD_GRAD, SOFT_FWD_GRAD)
OPS = tuple(op for ops in OP_FAMILIES.values() for op in ops)
DEFAULT_SIZES = "1e2,1e4,1e6,1e7"
QUICK_SIZES = "1e2,1e4,1e5"
DEFAULT_THREADS = "1,all"

FASTBCE = "fastbce"
FASTBCE_NONE = "fastbce (none)"  # reduction="none" into preallocated arrays, like sklearn
FASTBCE_OUT = "fastbce (grad_out)"  # fwd+grad into a preallocated gradient
TORCH_OPS = "torch (ops)"
SKLEARN = "sklearn"
FLOOR = "np.dot floor"
IMPLS = ("fastbce", "torch", "numpy", "numba", "numexpr", "sklearn", "floor")
IMPL_COLORS = {
    FASTBCE: "tab:red",
    FASTBCE_NONE: "salmon",
    FASTBCE_OUT: "salmon",
    "torch": "tab:orange",
    TORCH_OPS: "tab:orange",
    "numpy": "tab:blue",
    "numba": "tab:green",
    "numexpr": "tab:purple",
    SKLEARN: "tab:brown",
    FLOOR: "black",
}

MIN_TIME = 0.2  # seconds of calls per implementation and configuration
QUICK_MIN_TIME = 0.02
SAMPLES = (3, 15)  # least and most samples per implementation; the median is reported
QUICK_SAMPLES = (3, 5)
SEED = 0

X_EPS = 1e-6  # probabilities x are uniform in [X_EPS, 1 - X_EPS]
LOGIT_SCALE = 3.0  # logits x are normal with mean 0 and this standard deviation
LOG_CLAMP = -100.0  # torch clamps log(x) and log(1 - x) at -100
GRAD_EPS = 1e-12  # torch's floor for x * (1 - x) in the gradient
LOSS_RTOL = {"float32": 1e-3, "float64": 1e-9}  # sanity check of every loss against fastbce
CHECKED = {GRAD_HESS: (1, "mean hessian")}  # op -> (part of the result, its name); else loss


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class Config:
    dtype: str
    n: int
    op: str
    threads: int  # thread count given to torch, numba, numexpr, sklearn and BLAS
    label: str  # "1", "all", ... as asked on the command line

    @property
    def fastbce_threads(self):
        return None if self.label == "all" else self.threads

    @property
    def kind(self):
        """The inputs the op takes: "probabilities" or "logits"."""
        return op_family(self.op)

    def describe(self):
        return f"{self.dtype} N={fmt_n(self.n)} {self.op} threads={self.threads_text}"

    @property
    def threads_text(self):
        return f"all ({self.threads})" if self.label == "all" else self.label


@dataclass
class Impl:
    name: str
    call: Callable[[], object]  # one timed call; returns the loss, (loss, grad) or (grad, hess)
    prepare: Callable[[], None] = lambda: None  # untimed, before every sample
    check: bool = True  # compare its loss (or mean hessian) with fastbce's


@dataclass
class Timing:
    number: int  # calls per sample
    samples: int  # samples to take
    per_call: list = field(default_factory=list)  # seconds per call, one entry per sample


@dataclass
class Backends:
    fastbce: object
    torch: object = None
    numba_kernels: tuple = None
    numexpr: object = None
    sklearn_loss: object = None  # a sklearn._loss.loss.HalfBinomialLoss
    threadpoolctl: object = None
    notes: list = field(default_factory=list)


# --------------------------------------------------------------------------- optional imports


def import_optional(name, notes):
    """Import module ``name`` or return None and note why."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install raising anything
        notes.append(f"{name}: not available, skipped ({type(exc).__name__}: {exc})")
        return None


def compile_numba(numba):
    """Parallel Numba kernels; compiled for each dtype by their first (untimed) call."""
    njit, prange = numba.njit, numba.prange

    @njit(parallel=True, fastmath=False)
    def loss(x, t):
        total = 0.0
        for i in prange(x.size):
            xi, ti = x[i], t[i]
            total += ti * max(math.log(xi), LOG_CLAMP) + (1 - ti) * max(math.log1p(-xi), LOG_CLAMP)
        return -total / x.size

    @njit(parallel=True, fastmath=False)
    def loss_and_grad(x, t):
        n = x.size
        grad = np.empty_like(x)
        total = 0.0
        for i in prange(n):
            xi, ti = x[i], t[i]
            total += ti * max(math.log(xi), LOG_CLAMP) + (1 - ti) * max(math.log1p(-xi), LOG_CLAMP)
            grad[i] = (xi - ti) / max(xi * (1 - xi), GRAD_EPS) / n
        return -total / n, grad

    return loss, loss_and_grad


def load_sklearn_loss(notes):
    """sklearn's HalfBinomialLoss (private API, hence the broad guard), or None."""
    module = import_optional("sklearn._loss.loss", notes)
    if module is None:
        return None
    try:
        loss = module.HalfBinomialLoss()
    except Exception as exc:  # noqa: BLE001 - the private API moved or changed
        notes.append(f"sklearn: HalfBinomialLoss unusable, skipped ({type(exc).__name__}: {exc})")
        return None
    notes.append(
        "sklearn: HalfBinomialLoss takes logits, so it runs on the logits ops only; "
        "it writes per-element values into preallocated arrays"
    )
    return loss


def load_backends(wanted):
    import fastbce

    b = Backends(fastbce=fastbce)
    if "torch" in wanted:
        b.torch = import_optional("torch", b.notes)
    if "numba" in wanted:
        numba = import_optional("numba", b.notes)
        b.numba_kernels = compile_numba(numba) if numba else None
    if "numexpr" in wanted:
        b.numexpr = import_optional("numexpr", b.notes)
    if "sklearn" in wanted:
        b.sklearn_loss = load_sklearn_loss(b.notes)
    b.threadpoolctl = import_optional("threadpoolctl", b.notes)
    if b.threadpoolctl is None:
        b.notes.append("np.dot floor runs with BLAS's default thread count (no threadpoolctl)")
    if "numpy" in wanted:
        b.notes.append("numpy is single-threaded: its rows run the same code at every thread count")
    return b


# --------------------------------------------------------------------------- implementations


def numpy_loss(x, t):
    log_x = np.maximum(np.log(x), LOG_CLAMP)
    log_1mx = np.maximum(np.log1p(-x), LOG_CLAMP)
    return -(t * log_x + (1 - t) * log_1mx).mean()


def numpy_loss_and_grad(x, t):
    grad = (x - t) / np.maximum(x * (1 - x), GRAD_EPS) / x.size
    return numpy_loss(x, t), grad


def numpy_sigmoid(x, e):
    """sigmoid(x) from e = exp(-|x|), without overflow."""
    return np.where(x >= 0, 1, e) / (1 + e)


def numpy_logits_loss_and_grad(x, t):
    e = np.exp(-np.abs(x))
    loss = (np.maximum(x, 0) - x * t + np.log1p(e)).mean()
    return loss, (numpy_sigmoid(x, e) - t) / x.size


def numpy_logits_grad_hess(x, t):
    s = numpy_sigmoid(x, np.exp(-np.abs(x)))
    return s - t, s * (1 - s)


def fastbce_impls(fastbce, x, t, cfg):
    """fastbce's row, plus "fastbce (none)" (sklearn's reference) on logits fwd+grad and
    "fastbce (grad_out)" (the gradient into a preallocated array) on fwd+grad."""
    threads = {"num_threads": cfg.fastbce_threads}
    if cfg.op == GRAD_HESS:
        fn = fastbce.binary_cross_entropy_with_logits_grad_hess
        out = {"grad_out": np.empty_like(x), "hess_out": np.empty_like(x)}
        return [Impl(FASTBCE, functools.partial(fn, x, t, **threads, **out))]
    fn = {
        HARD_FORWARD: fastbce.binary_cross_entropy,
        SOFT_FORWARD: fastbce.binary_cross_entropy,
        HARD_FWD_GRAD: fastbce.binary_cross_entropy_and_grad,
        SOFT_FWD_GRAD: fastbce.binary_cross_entropy_and_grad,
        LOGITS_FWD_GRAD: fastbce.binary_cross_entropy_with_logits_and_grad,
    }[cfg.op]
    impls = [Impl(FASTBCE, functools.partial(fn, x, t, **threads))]
    if cfg.op == LOGITS_FWD_GRAD:
        out = {"loss_out": np.empty_like(x), "grad_out": np.empty_like(x)}
        none = functools.partial(fn, x, t, reduction="none", **threads, **out)
        impls.append(Impl(FASTBCE_NONE, none))
    if cfg.op in FWD_GRAD_OPS:  # the same call, without a fresh output array each time
        out = functools.partial(fn, x, t, **threads, grad_out=np.empty_like(x))
        impls.append(Impl(FASTBCE_OUT, out))
    return impls


def numpy_impl(x, t, cfg):
    fn = {
        HARD_FORWARD: numpy_loss,
        SOFT_FORWARD: numpy_loss,
        HARD_FWD_GRAD: numpy_loss_and_grad,
        SOFT_FWD_GRAD: numpy_loss_and_grad,
        LOGITS_FWD_GRAD: numpy_logits_loss_and_grad,
        GRAD_HESS: numpy_logits_grad_hess,
    }[cfg.op]
    return Impl("numpy", functools.partial(fn, x, t))


def torch_grad_hess(torch, x, t):
    s = torch.sigmoid(x)
    return s - t, s * (1 - s)


def torch_impl(torch, x, t, cfg):
    functional = torch.nn.functional
    target = torch.from_numpy(t)
    prepare = functools.partial(torch.set_num_threads, cfg.threads)
    if cfg.op == GRAD_HESS:  # torch has no fused gradient and hessian: plain tensor ops
        return Impl(
            TORCH_OPS,
            functools.partial(torch_grad_hess, torch, torch.from_numpy(x), target),
            prepare,
        )
    if cfg.op in FORWARD_OPS:
        bce = functional.binary_cross_entropy
        return Impl("torch", functools.partial(bce, torch.from_numpy(x), target), prepare)
    bce = (
        functional.binary_cross_entropy_with_logits
        if cfg.op == LOGITS_FWD_GRAD
        else functional.binary_cross_entropy
    )
    leaf = torch.from_numpy(x).requires_grad_()

    def loss_and_grad():
        leaf.grad = None
        loss = bce(leaf, target)
        loss.backward()
        return loss, leaf.grad

    return Impl("torch", loss_and_grad, prepare)


def numba_impl(numba_kernels, x, t, cfg):
    import numba

    if cfg.kind == "logits":
        return None  # numba is benchmarked on the probability ops only
    loss, loss_and_grad = numba_kernels
    kernel = loss if cfg.op in FORWARD_OPS else loss_and_grad
    threads = min(cfg.threads, numba.config.NUMBA_NUM_THREADS)
    return Impl(
        "numba", functools.partial(kernel, x, t), functools.partial(numba.set_num_threads, threads)
    )


NUMEXPR_TERM = (
    "t * where(log(x) < -100, -100, log(x)) + (1 - t) * where(log1p(-x) < -100, -100, log1p(-x))"
)


def numexpr_impl(numexpr, x, t, cfg):
    if cfg.op not in FORWARD_OPS:
        return None  # numexpr is benchmarked on the forward loss only

    def loss():
        return -numexpr.evaluate(NUMEXPR_TERM, local_dict={"x": x, "t": t}).mean()

    return Impl("numexpr", loss, functools.partial(numexpr.set_num_threads, cfg.threads))


def sklearn_impl(loss, x, t, cfg):
    """HalfBinomialLoss on its own OpenMP threads, into arrays allocated here, untimed."""
    if cfg.kind != "logits":
        return None  # it takes logits, so it is not comparable on the probability ops
    args = {"y_true": t, "raw_prediction": x, "n_threads": cfg.threads}
    if cfg.op == GRAD_HESS:
        out = {"gradient_out": np.empty_like(x), "hessian_out": np.empty_like(x)}
        return Impl(SKLEARN, functools.partial(loss.gradient_hessian, **args, **out))
    out = {"loss_out": np.empty_like(x), "gradient_out": np.empty_like(x)}
    return Impl(SKLEARN, functools.partial(loss.loss_gradient, **args, **out))


def floor_impl(x, t, cfg):
    return Impl(FLOOR, functools.partial(np.dot, x, t), check=False)


def build_impls(b, wanted, x, t, cfg):
    makers = {
        "fastbce": lambda: fastbce_impls(b.fastbce, x, t, cfg),
        "torch": lambda: b.torch and torch_impl(b.torch, x, t, cfg),
        "numpy": lambda: numpy_impl(x, t, cfg),
        "numba": lambda: b.numba_kernels and numba_impl(b.numba_kernels, x, t, cfg),
        "numexpr": lambda: b.numexpr and numexpr_impl(b.numexpr, x, t, cfg),
        "sklearn": lambda: b.sklearn_loss and sklearn_impl(b.sklearn_loss, x, t, cfg),
        "floor": lambda: floor_impl(x, t, cfg),
    }
    impls = []
    for name in IMPLS:
        made = makers[name]() if name in wanted else None
        if isinstance(made, list):
            impls.extend(made)
        elif made:
            impls.append(made)
    return impls


def blas_limit(threadpoolctl, threads):
    """Limit BLAS (np.dot) to ``threads``; OpenMP pools (fastbce, torch) are left alone."""
    if threadpoolctl is None:
        return contextlib.nullcontext()
    return threadpoolctl.threadpool_limits(limits=threads, user_api="blas")


def op_family(op):
    return next(kind for kind, ops in OP_FAMILIES.items() if op in ops)


def make_inputs(dtype, n, seed, kind="probabilities"):
    """Probabilities x with binary labels or soft targets t, or logits x with binary labels
    t, seeded."""
    if kind in ("probabilities", "soft targets"):
        rng = np.random.default_rng([seed, n, DTYPES.index(dtype)])
        x = rng.uniform(X_EPS, 1 - X_EPS, n).astype(dtype)
        if kind == "probabilities":
            t = rng.integers(0, 2, n).astype(dtype)
        else:
            t = rng.uniform(0.0, 1.0, n).astype(dtype)
    else:
        rng = np.random.default_rng([seed, n, DTYPES.index(dtype), 1])
        x = rng.normal(0.0, LOGIT_SCALE, n).astype(dtype)
        t = rng.integers(0, 2, n).astype(dtype)
    return x, t


# --------------------------------------------------------------------------- timing


def checked_value(result, op):
    """The number compared with fastbce's: the loss, or for grad_hess the mean hessian.

    Per-element results (sklearn, "fastbce (none)") are averaged, which gives the mean loss.
    """
    part = CHECKED.get(op, (0, "loss"))[0]
    value = result[part] if isinstance(result, tuple) else result
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
    once = elapsed / calls
    number = max(1, math.ceil(min_time / 10 / once))
    samples = min(max(math.ceil(min_time / (number * once)), bounds[0]), bounds[1])
    return Timing(number, samples)


def warm_up(impls, cfg, warn):
    """First call of each implementation, untimed: drops any that fails, warns on a wrong loss."""
    values, kept = {}, []
    for impl in impls:
        try:
            impl.prepare()
            values[impl.name] = checked_value(impl.call(), cfg.op)
            kept.append(impl)
        except Exception as exc:  # noqa: BLE001 - MemoryError at huge N, a failing kernel, ...
            warn(f"{impl.name} failed at {cfg.describe()}: {type(exc).__name__}: {exc}")
    ref = values.get(FASTBCE)
    what = CHECKED.get(cfg.op, (0, "loss"))[1]
    for impl in kept:
        value = values[impl.name]
        if (
            ref is not None
            and impl.check
            and not math.isclose(value, ref, rel_tol=LOSS_RTOL[cfg.dtype])
        ):
            warn(f"{impl.name} {what} {value!r} != fastbce {ref!r} at {cfg.describe()}")
    return kept


def measure(impls, min_time, bounds):
    """Interleave the samples: each round takes one of every implementation, in rotation."""
    timings = {impl.name: plan(impl, min_time, bounds) for impl in impls}
    for r in range(max((tm.samples for tm in timings.values()), default=0)):
        shift = r % len(impls)
        for impl in impls[shift:] + impls[:shift]:
            tm = timings[impl.name]
            if len(tm.per_call) < tm.samples:
                impl.prepare()
                tm.per_call.append(time_calls(impl.call, tm.number))
    return timings


def reference_for(name, medians):
    """The fastbce row an implementation is compared with: "fastbce (none)" for sklearn
    where there is one (per-element outputs on both sides), else "fastbce"."""
    if name.startswith(SKLEARN) and FASTBCE_NONE in medians:
        return FASTBCE_NONE
    return FASTBCE


def make_rows(cfg, timings):
    medians = {name: statistics.median(tm.per_call) for name, tm in timings.items()}
    fb = medians.get(FASTBCE)
    rows = []
    for name, tm in timings.items():
        med = medians[name]
        ref = reference_for(name, medians)
        row = {
            "dtype": cfg.dtype,
            "n": cfg.n,
            "op": cfg.op,
            "threads": cfg.label,
            "num_threads": cfg.threads,
            "impl": name,
            "time_s": med,
            "min_time_s": min(tm.per_call),
            "samples": len(tm.per_call),
            "calls_per_sample": tm.number,
            "mel_per_s": cfg.n / med / 1e6,
            "speedup": None,  # t_impl / t_ref: "fastbce is speedup x faster than impl"
            "speedup_reference": None,  # the fastbce row ref: "fastbce" or "fastbce (none)"
            "fastbce_over_floor": None,  # t_fastbce / t_floor
        }
        if fb is not None and name == FLOOR:
            row["fastbce_over_floor"] = fb / med
        elif ref in medians:
            row["speedup"] = med / medians[ref]
            row["speedup_reference"] = ref
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- formatting


def fmt_n(n):
    exp = round(math.log10(n)) if n > 0 else 0
    return f"1e{exp}" if n == 10**exp else str(n)


def fmt_time(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_ratio(row):
    if row["fastbce_over_floor"] is not None:
        return f"{row['fastbce_over_floor']:.2f}x floor"
    if row["speedup"] is not None:
        return f"{row['speedup']:.2f}x"
    return "-"


def progress_line(i, total, cfg, rows, elapsed):
    parts = [f"{r['impl']} {fmt_time(r['time_s'])}" for r in rows]
    return f"[{i}/{total}] {cfg.describe()}: " + " | ".join(parts) + f"  ({elapsed:.1f} s)"


def format_table(rows):
    header = ["dtype", "N", "op", "threads", "impl", "time/call", "M el/s", "fastbce speedup"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        threads = f"all ({r['num_threads']})" if r["threads"] == "all" else r["threads"]
        cells = [
            r["dtype"],
            fmt_n(r["n"]),
            r["op"],
            threads,
            r["impl"],
            fmt_time(r["time_s"]),
            f"{r['mel_per_s']:.1f}",
            fmt_ratio(r),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- machine


def cpu_model():
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info(b):
    def version(mod):
        return getattr(mod, "__version__", None) if mod else None

    thread_env = (
        "OMP_NUM_THREADS",
        "OMP_WAIT_POLICY",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "OPENBLAS_THREAD_TIMEOUT",
        "NUMBA_NUM_THREADS",
    )
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": version(b.torch),
        "fastbce": b.fastbce.__version__,
        "numba": version(sys.modules.get("numba")) if b.numba_kernels else None,
        "numexpr": version(b.numexpr),
        "sklearn": version(sys.modules.get("sklearn")) if b.sklearn_loss else None,
        "thread_env": {k: os.environ[k] for k in thread_env if k in os.environ},
        "fastbce_config": b.fastbce.show_config(),
    }


def format_machine(info):
    return "\n".join(f"- {key}: {value}" for key, value in info.items())


# --------------------------------------------------------------------------- outputs


def write_json(path, machine, settings, notes, rows):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": machine, "settings": settings, "notes": notes, "results": rows}
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def plot_series(ax, rows):
    """One line per (impl, threads): solid for every core, dashed for fewer threads."""
    for impl, threads in dict.fromkeys((r["impl"], r["threads"]) for r in rows):
        pts = sorted(
            (r["n"], r["mel_per_s"]) for r in rows if r["impl"] == impl and r["threads"] == threads
        )
        ax.loglog(
            [n for n, _ in pts],
            [v for _, v in pts],
            marker="o",
            markersize=3,
            linewidth=2.5 if impl.startswith(FASTBCE) else 1.3,
            linestyle="-" if threads == "all" else "--",
            color=IMPL_COLORS.get(impl),
            label=f"{impl}, threads={threads}",
        )


def panel_grid(rows):
    """Panels as a grid: one row per dtype x op family (probabilities, logits) that was run,
    one column per op of the family. Returns [[(dtype, op) or None, ...], ...]."""
    dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
    ops = {r["op"] for r in rows}
    families = [[op for op in fam if op in ops] for fam in OP_FAMILIES.values()]
    families = [fam for fam in families if fam]
    width = max(len(fam) for fam in families)
    return [
        [(dtype, op) for op in fam] + [None] * (width - len(fam))
        for dtype in dtypes
        for fam in families
    ]


def write_plot(path, rows, machine):
    """Throughput against N, one panel per dtype x op. Returns the path, None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    grid = panel_grid(rows)
    n_rows, n_cols = len(grid), len(grid[0])
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(5.5 * n_cols + 2.5, 4.2 * n_rows), squeeze=False
    )
    legend = {}
    for i, panels in enumerate(grid):
        for j, panel in enumerate(panels):
            ax = axes[i][j]
            if panel is None:
                ax.set_axis_off()
                continue
            dtype, op = panel
            plot_series(ax, [r for r in rows if r["dtype"] == dtype and r["op"] == op])
            ax.set(title=f"{dtype}, {op}", xlabel="N (elements)", ylabel="M elements / s")
            ax.grid(True, which="both", alpha=0.3)
            handles, labels = ax.get_legend_handles_labels()
            legend.update(zip(labels, handles))
    fig.legend(legend.values(), legend.keys(), loc="center right", fontsize="small")
    title = f"fastbce benchmark: {machine['cpu']}, {machine['logical_cores']} logical cores"
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1 - 2.4 / fig.get_figwidth(), 1 - 0.3 / fig.get_figheight()))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_outputs(args, machine, settings, rows, notes, warn):
    """Write the JSON and the plot; a failure here is reported, never raised."""
    if args.json:
        try:
            print(f"wrote {write_json(args.json, machine, settings, notes, rows)}", file=sys.stderr)
        except (OSError, TypeError, ValueError) as exc:
            warn(f"could not write {args.json}: {exc}")
    if args.plot:
        try:
            path = write_plot(args.plot, rows, machine)
        except Exception as exc:  # noqa: BLE001 - a plot is never worth a failed run
            warn(f"could not plot to {args.plot}: {type(exc).__name__}: {exc}")
        else:
            if path is None:
                notes.append("matplotlib is not installed: no plot")
            print(f"wrote {path}" if path else f"note: {notes[-1]}", file=sys.stderr)


# --------------------------------------------------------------------------- command line


def parse_list(text, kind):
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"empty {kind} list")
    return items


def parse_sizes(text):
    sizes = []
    for s in parse_list(text, "size"):
        try:
            n = int(float(s))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad size {s!r}") from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"size must be at least 1, got {s!r}")
        sizes.append(n)
    return sizes


def parse_choices(choices):
    def parse(text):
        items = parse_list(text, "choice")
        bad = [s for s in items if s not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}, choose from {', '.join(choices)}")
        return items

    return parse


def parse_threads(text):
    """'1,all' -> [(1, '1'), (cpu_count, 'all')], duplicates by count dropped."""
    cores = os.cpu_count() or 1
    out = {}
    for s in parse_list(text, "threads"):
        if s == "all":
            count = cores
        elif s.isdigit() and int(s) >= 1:
            count = int(s)
        else:
            raise argparse.ArgumentTypeError(
                f"bad thread count {s!r}: use positive integers or 'all'"
            )
        out.setdefault(count, s)
    return list(out.items())


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Benchmark fastbce against NumPy, PyTorch, Numba, numexpr and scikit-learn "
        "(the optional ones when installed) and a memory-bandwidth floor (np.dot).",
    )
    p.add_argument("--sizes", type=parse_sizes, help=f"comma-separated N (default {DEFAULT_SIZES})")
    p.add_argument(
        "--dtypes", type=parse_choices(DTYPES), default=list(DTYPES), help="default float32,float64"
    )
    p.add_argument(
        "--ops",
        type=parse_choices(OPS),
        default=list(OPS),
        help=f"comma-separated, quoted: they hold spaces (default {','.join(OPS)!r})",
    )
    p.add_argument(
        "--threads",
        type=parse_threads,
        default=parse_threads(DEFAULT_THREADS),
        help="comma-separated thread counts, 'all' = every logical core (default 1,all)",
    )
    p.add_argument(
        "--impls",
        type=parse_choices(IMPLS),
        default=list(IMPLS),
        help=f"implementations to run (default {','.join(IMPLS)})",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: sizes {QUICK_SIZES}, {QUICK_MIN_TIME} s per measurement, few samples",
    )
    p.add_argument("--min-time", type=float, help=f"seconds per measurement (default {MIN_TIME})")
    p.add_argument("--seed", type=int, default=SEED, help=f"seed of the inputs (default {SEED})")
    p.add_argument(
        "--json", default=str(DEFAULT_JSON), help="results file; '' to skip (default %(default)s)"
    )
    p.add_argument(
        "--plot", default=str(DEFAULT_PLOT), help="PNG plot; '' to skip (default %(default)s)"
    )
    args = p.parse_args(argv)
    args.sizes = args.sizes or parse_sizes(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.min_time = args.min_time or (QUICK_MIN_TIME if args.quick else MIN_TIME)
    args.samples = QUICK_SAMPLES if args.quick else SAMPLES
    return args


# --------------------------------------------------------------------------- main

SKLEARN_FOOTNOTE = (
    f"\n{SKLEARN} rows in {LOGITS_FWD_GRAD!r}: speedup is t_{SKLEARN} / t_fastbce_none against "
    f"the {FASTBCE_NONE!r} row, since both write per-element losses and gradients (unreduced, "
    "unscaled) into preallocated arrays; the 'fastbce' row returns the mean loss and its "
    "gradient."
)


def configs_for(args, dtype, n):
    for threads, label in args.threads:
        for op in args.ops:
            yield Config(dtype, n, op, threads, label)


def run(args, b, warn):
    total = len(args.dtypes) * len(args.sizes) * len(args.ops) * len(args.threads)
    rows, i = [], 0
    for dtype in args.dtypes:
        for n in args.sizes:
            inputs = {}  # kind -> (x, t), made when a config first needs them
            for cfg in configs_for(args, dtype, n):
                i += 1
                if cfg.kind not in inputs:
                    inputs[cfg.kind] = make_inputs(dtype, n, args.seed, cfg.kind)
                x, t = inputs[cfg.kind]
                start = time.perf_counter()
                with blas_limit(b.threadpoolctl, cfg.threads):
                    impls = warm_up(build_impls(b, args.impls, x, t, cfg), cfg, warn)
                    cfg_rows = make_rows(cfg, measure(impls, args.min_time, args.samples))
                rows.extend(cfg_rows)
                elapsed = time.perf_counter() - start
                print(progress_line(i, total, cfg, cfg_rows, elapsed), file=sys.stderr)
            del inputs, x, t
    return rows


def main(argv=None):
    args = parse_args(argv)
    try:
        b = load_backends(args.impls)
    except ImportError as exc:
        sys.exit(f"fastbce is not importable ({exc}); install it or put it on PYTHONPATH")
    machine = machine_info(b)
    print(f"fastbce benchmark\n{format_machine(machine)}\n", file=sys.stderr)

    def warn(message):
        b.notes.append(message)
        print(f"warning: {message}", file=sys.stderr)

    rows = run(args, b, warn)
    settings = {
        "sizes": args.sizes,
        "dtypes": args.dtypes,
        "ops": args.ops,
        "threads": [label for _, label in args.threads],
        "impls": args.impls,
        "min_time_s": args.min_time,
        "samples": list(args.samples),
        "statistic": "median of samples; each sample is the mean of back-to-back calls",
        "seed": args.seed,
    }
    save_outputs(args, machine, settings, rows, b.notes, warn)

    print("## Machine\n")
    print(format_machine(machine))
    print("\n## Results\n")
    print(format_table(rows))
    print(
        "\ntime/call: median over samples, each sample averaging back-to-back calls. "
        "fastbce speedup: t_impl / t_fastbce (>1: fastbce is faster); "
        "on the np.dot floor row: t_fastbce / t_dot (1 = at the memory-bandwidth floor)."
    )
    if any(r["speedup_reference"] == FASTBCE_NONE for r in rows):
        print(SKLEARN_FOOTNOTE)
    if b.notes:
        print("\nNotes:\n" + "\n".join(f"- {note}" for note in b.notes))


if __name__ == "__main__":
    main()
