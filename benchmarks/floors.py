"""fastbce's speed targets, each beside its floor, measured in one process.

    python benchmarks/floors.py [--n 1e7] [--repeats 21] [--threads 2] [--json PATH]

Every row times a fastbce call and the memory-traffic floor it is held to, interleaved
(median of ``--repeats`` rounds), on float32 inputs of n elements with soft targets (uniform
in [0, 1], as in the torch tutorial) unless the row says otherwise, with ``--threads``
threads. Floors: ``np.dot(x, t)`` reads both inputs (the faster of
BLAS's threads, timed back to back, and a single-threaded dot per core on slices,
interleaved; the forward rows held to it are timed both ways too, and take the faster); ``np.subtract(x, t, out=g)`` reads two
and writes one, and ``np.subtract(x, t)`` the same into a fresh array (NumPy runs these on
one thread: the targets are stated against them); the "split" floors run the same NumPy calls
on equal slices in one Python thread per core (NumPy releases the GIL), the least the
machine's threads need to move those bytes; "2 np.log per element" is the arithmetic of two
of NumPy's SIMD logs per element (timed on one thread in cache, for n elements over the
threads). The N = 100 rows hold fastbce against torch
(per-call overhead); the "1 thread / threads" row is the thread scaling of the soft-target
forward.
Prints the table (ratio = fastbce / floor, or as the row says) with the target and whether
it is met.
"""

import argparse
import json
import os
import platform
import statistics
import threading
import time

# Idle OpenBLAS threads busy-wait for a while after each call; interleaved after np.dot
# they would steal a core from the next measurement. Let them sleep at once (set before
# NumPy loads OpenBLAS; a value the user set wins).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np

import fastbce


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def split(n, parts, work):
    """work(slice) for equal slices of range(n), one Python thread each."""
    edges = np.linspace(0, n, parts + 1).astype(int)
    threads = [threading.Thread(target=work, args=(slice(a, b),)) for a, b in zip(edges, edges[1:])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def timed(calls, repeats):
    """Median seconds per call of each callable, the calls interleaved round by round."""
    for call in calls.values():
        call()
    samples = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            number = 1 if name.startswith("big:") else 2000
            start = time.perf_counter()
            for _ in range(number):
                call()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(v) for name, v in samples.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=float, default=1e7)
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args()
    if args.repeats < 1 or args.n < 1 or args.threads < 1:
        p.error("--n, --repeats and --threads must be positive")
    n, nt = int(args.n), args.threads
    rng = np.random.default_rng(0)
    x = rng.uniform(1e-6, 1 - 1e-6, n).astype(np.float32)
    t = rng.uniform(0, 1, n).astype(np.float32)
    hard = rng.integers(0, 2, n).astype(np.float32)
    z = rng.normal(0, 3, n).astype(np.float32)
    x64, t64 = x.astype(np.float64), t.astype(np.float64)
    g, h = np.empty_like(x), np.empty_like(x)

    def fresh_split():
        out = np.empty_like(x)
        split(n, nt, lambda s: np.subtract(x[s], t[s], out=out[s]))

    def r2w2_split(s):
        np.copyto(g[s], x[s])
        np.copyto(h[s], t[s])

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None

    def dot_split(a, b):
        # one single-threaded BLAS dot per core, on equal slices
        if threadpool_limits is None:
            return np.dot(a, b)
        with threadpool_limits(limits=1, user_api="blas"):
            split(len(a), nt, lambda s: np.dot(a[s], b[s]))

    # BLAS's own threaded dot, at its best: back to back (its threads spinning), measured
    # apart, then a pause so that its idle threads leave the cores before the rest
    hot = {}
    for name, (a, b) in {"dot_blas": (x, t), "dot64_blas": (x64, t64)}.items():
        hot[name] = min(timed({"big:1": lambda a=a, b=b: np.dot(a, b)}, 4)["big:1"]
                        for _ in range(args.repeats))
    time.sleep(1.0)
    # fastbce's forward rows measured the same two ways as the dot they are held to: back
    # to back here, interleaved below (where the call before may leave 80 MB of dirty
    # lines for its reads to write back); each row takes the faster
    fwd_calls = {
        "fwd": lambda: fastbce.binary_cross_entropy(x, t, num_threads=nt),
        "fwd_hard": lambda: fastbce.binary_cross_entropy(x, hard, num_threads=nt),
        "fwd64": lambda: fastbce.binary_cross_entropy(x64, t64, num_threads=nt),
    }
    for name, call in fwd_calls.items():
        hot[name + "_hot"] = min(timed({"big:1": call}, 4)["big:1"] for _ in range(args.repeats))
    big = {
        "dot_split": lambda: dot_split(x, t),
        "dot64_split": lambda: dot_split(x64, t64),
        "sub_out": lambda: np.subtract(x, t, out=g),
        "sub_out_split": lambda: split(n, nt, lambda s: np.subtract(x[s], t[s], out=g[s])),
        "sub_fresh": lambda: np.subtract(x, t),
        "sub_fresh_split": fresh_split,
        "r2w2_split": lambda: split(n, nt, r2w2_split),
        "fwd": lambda: fastbce.binary_cross_entropy(x, t, num_threads=nt),
        "fwd_1thread": lambda: fastbce.binary_cross_entropy(x, t, num_threads=1),
        "fg_out": lambda: fastbce.binary_cross_entropy_and_grad(x, t, num_threads=nt, grad_out=g),
        "fg_fresh": lambda: fastbce.binary_cross_entropy_and_grad(x, t, num_threads=nt),
        "fwd_hard": lambda: fastbce.binary_cross_entropy(x, hard, num_threads=nt),
        "fwd64": lambda: fastbce.binary_cross_entropy(x64, t64, num_threads=nt),
        "logit_fg_out": lambda: fastbce.binary_cross_entropy_with_logits_and_grad(
            z, t, num_threads=nt, grad_out=g),
        "grad_hess": lambda: fastbce.binary_cross_entropy_with_logits_grad_hess(
            z, t, num_threads=nt, grad_out=g, hess_out=h),
    }
    m = timed({f"big:{k}": v for k, v in big.items()}, args.repeats)
    m = {k[4:]: v for k, v in m.items()}
    # The arithmetic of a soft-target forward, for reference: two logs per element at
    # NumPy's own speed (its SIMD log, on one thread, on 65,536 elements that stay in
    # cache), for n elements shared by the threads. NumPy's log writes its result where
    # fastbce validates and sums instead: a yardstick, not a bound.
    for name, arr in {"log32": x, "log64": x64}.items():
        part = arr[:65536].copy()
        res = np.empty_like(part)
        per = timed({"log": lambda part=part, res=res: np.log(part, out=res)}, args.repeats)["log"]
        m[name] = 2 * per / len(part) * n / nt
    m.update(hot)
    # the read floor: the faster of BLAS's own threads and one single-threaded dot per core
    m["dot"] = min(m["dot_blas"], m["dot_split"])
    m["dot64"] = min(m["dot64_blas"], m["dot64_split"])
    m["fwd_interleaved"] = m["fwd"]
    for name in fwd_calls:
        m[name] = min(m[name], m[name + "_hot"])

    small = {}
    try:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(nt)
        xs, ts = x[:100].copy(), t[:100].copy()
        xt, tt = torch.from_numpy(xs), torch.from_numpy(ts)
        leaf = xt.clone().requires_grad_()

        def torch_fwd_bwd():
            leaf.grad = None
            F.binary_cross_entropy(leaf, tt).backward()

        small = timed({
            "fast_fwd": lambda: fastbce.binary_cross_entropy(xs, ts),
            "torch_fwd": lambda: F.binary_cross_entropy(xt, tt),
            "fast_fg": lambda: fastbce.binary_cross_entropy_and_grad(xs, ts),
            "torch_fg": torch_fwd_bwd,
        }, args.repeats)
    except ImportError:
        print("torch is not installed: the N = 100 rows are skipped")

    rows = [
        ("forward", "np.dot", m["fwd"], m["dot"], "<= 1.5"),
        ("forward", "2 np.log per element", m["fwd"], m["log32"], ""),
        ("forward, interleaved only", "np.dot", m["fwd_interleaved"], m["dot"], ""),
        ("fwd+grad, grad_out=", "np.subtract(out=)", m["fg_out"], m["sub_out"], "<= 1.5"),
        ("fwd+grad, grad_out=", "split subtract(out=)", m["fg_out"], m["sub_out_split"], ""),
        ("fwd+grad, fresh grad", "np.subtract fresh", m["fg_fresh"], m["sub_fresh"], "<= 1.3"),
        ("fwd+grad, fresh grad", "split subtract fresh", m["fg_fresh"], m["sub_fresh_split"], ""),
        ("forward, 0/1 labels", "np.dot", m["fwd_hard"], m["dot"], "<= 1.3"),
        ("float64 forward", "np.dot float64", m["fwd64"], m["dot64"], "<= 2"),
        ("float64 forward", "2 np.log per element", m["fwd64"], m["log64"], ""),
        ("logits fwd+grad, grad_out=", "np.subtract(out=)", m["logit_fg_out"], m["sub_out"], "<= 2"),
        ("logits fwd+grad, grad_out=", "split subtract(out=)", m["logit_fg_out"], m["sub_out_split"], ""),
        ("grad_hess into 2 buffers", "4/3 np.subtract(out=)", m["grad_hess"], m["sub_out"] * 4 / 3, "<= 1.5"),
        ("grad_hess into 2 buffers", "split read 2, write 2", m["grad_hess"], m["r2w2_split"], ""),
        ("forward, 1 thread / threads", "(speed-up)", m["fwd_1thread"], m["fwd_interleaved"],
         ">= 1.6"),
    ]
    if small:
        rows += [
            ("N=100 forward", "torch forward", small["fast_fwd"], small["torch_fwd"], "<= 0.25"),
            ("N=100 fwd+grad", "torch fwd+backward", small["fast_fg"], small["torch_fg"], "<= 0.05"),
        ]
    cfg = fastbce.show_config()
    print(f"{cpu_model()}, {os.cpu_count()} CPUs; fastbce kernels {cfg['kernels']} "
          f"({cfg['compiler']}); n = {n:,} float32 unless said, {nt} threads, "
          f"median of {args.repeats}")
    print(f"{'row':30s} {'floor':24s} {'fastbce':>10s} {'floor':>10s} {'ratio':>6s}  target")
    out = []
    for name, floor, fast, ref, target in rows:
        ratio = fast / ref
        ok = ""
        if target:
            op, bound = target.split()
            ok = "met" if (ratio <= float(bound) if op == "<=" else ratio >= float(bound)) else "MISSED"
        unit = 1e6 if fast < 1e-3 else 1e3
        u = "us" if unit == 1e6 else "ms"
        print(f"{name:30s} {floor:24s} {fast * unit:8.2f}{u} {ref * unit:8.2f}{u} {ratio:6.2f}  "
              f"{target} {ok}")
        out.append({"row": name, "floor": floor, "fastbce_s": fast, "floor_s": ref,
                    "ratio": ratio, "target": target, "result": ok})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_model(), "config": cfg, "n": n, "threads": nt, "rows": out}, f, indent=1)


if __name__ == "__main__":
    main()
