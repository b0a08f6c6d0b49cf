"""Time the installed fastbce against another build of it (an older commit, say), in one
process, interleaved, on the rows of bench.py.

    git archive 57db57b | tar -x -C /tmp/old-src
    pip install --no-deps --no-build-isolation --target /tmp/old-site /tmp/old-src
    FASTBCE_ISA=avx2 python benchmarks/compare_builds.py --old /tmp/old-site \\
        --json benchmarks/reference/avx2-vs-c-kernels.json

The other build is imported from ``--old`` and kept as ``fastbce_old`` (see load_old: its
own modules, kernels included, whether it imports itself relatively or by absolute name).
Prints, per row, both median times and new / old (the median of each round's own ratio, with
its quartiles); writes them as JSON with the machine's CPU and the kernels in use.
"""

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import fastbce

OPS = ("forward, soft t", "fwd+grad, soft t", "forward", "fwd+grad", "logits fwd+grad", "logits grad_hess")


def _ours():
    return [k for k in sys.modules if k == "fastbce" or k.startswith("fastbce.")]


def load_old(site, name="fastbce_old"):
    """Import the other build's package as ``name``. While it imports, it is "fastbce" in
    sys.modules (and the installed fastbce is set aside), so that its absolute imports
    (``importlib.import_module("fastbce._kernels_avx2")``, as _config did up to this
    change) find its own modules, not the installed build's: else both would run the
    installed kernels and every ratio would be 1."""
    init = Path(site) / "fastbce" / "__init__.py"
    mine = {k: sys.modules.pop(k) for k in _ours()}
    try:
        spec = importlib.util.spec_from_file_location(
            "fastbce", init, submodule_search_locations=[str(init.parent)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["fastbce"] = module
        spec.loader.exec_module(module)
    finally:
        theirs = {k: sys.modules.pop(k) for k in _ours()}
        sys.modules.update(mine)
        for k, v in theirs.items():
            sys.modules[name + k[len("fastbce"):]] = v
    config = sys.modules.get(name + "._config")
    if config is not None and hasattr(config, "kernels"):
        # the other build must run its own compiled kernels
        assert Path(config.kernels.__file__).parent == init.parent, config.kernels.__file__
    return module


def inputs(op, dtype, n):
    rng = np.random.default_rng([n, len(op)])
    if op.startswith("logits"):
        return rng.normal(0, 3, n).astype(dtype), rng.integers(0, 2, n).astype(dtype)
    x = rng.uniform(1e-6, 1 - 1e-6, n).astype(dtype)
    t = rng.uniform(0, 1, n) if "soft" in op else rng.integers(0, 2, n)
    return x, t.astype(dtype)


def call_for(mod, op, x, t, threads):
    if op.startswith("forward"):
        return lambda: mod.binary_cross_entropy(x, t, num_threads=threads)
    if op.startswith("fwd+grad"):
        return lambda: mod.binary_cross_entropy_and_grad(x, t, num_threads=threads)
    if op == "logits fwd+grad":
        return lambda: mod.binary_cross_entropy_with_logits_and_grad(x, t, num_threads=threads)
    g, h = np.empty_like(x), np.empty_like(x)
    return lambda: mod.binary_cross_entropy_with_logits_grad_hess(
        x, t, num_threads=threads, grad_out=g, hess_out=h
    )


def per_call(call, min_time):
    call()
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            call()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time / 5:
            return elapsed / number
        number *= 4


def _paired(new, old, rounds, min_time):
    """Both calls timed in each round, in alternating order; the ratio is the median of the
    rounds' own ratios (a slow spell of the machine hits both sides of a round alike), with
    its quartiles."""
    times, ratios = {"new": [], "old": []}, []
    for r in range(rounds):
        order = (("new", new), ("old", old)) if r % 2 else (("old", old), ("new", new))
        now = {name: per_call(call, min_time) for name, call in order}
        for name, value in now.items():
            times[name].append(value)
        ratios.append(now["new"] / now["old"])
    q1, _, q3 = statistics.quantiles(ratios, n=4) if rounds > 1 else (ratios * 3)
    return {"new_s": statistics.median(times["new"]), "old_s": statistics.median(times["old"]),
            "ratio": statistics.median(ratios), "ratio_q1": q1, "ratio_q3": q3}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", required=True, help="site directory holding the other build's fastbce/")
    p.add_argument("--sizes", default="1e2,1e4,1e6,1e7")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=5,
                   help="interleaved rounds (the median of their new/old ratios is reported)")
    p.add_argument("--min-time", type=float, default=0.05)
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args()
    old = load_old(args.old)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    threads = [int(s) for s in args.threads.split(",")]
    rows = []
    print(f"new: {fastbce.__file__} ({fastbce.show_config()['kernels']}); old: {old.__file__}")
    print(f"{'dtype':8s} {'op':18s} {'N':>6s} {'thr':>3s} {'new':>10s} {'old':>10s} {'new/old':>8s} quartiles")
    for dtype in ("float32", "float64"):
        for op in OPS:
            for n in sizes:
                x, t = inputs(op, dtype, n)
                for th in threads:
                    row = _paired(call_for(fastbce, op, x, t, th), call_for(old, op, x, t, th),
                                  args.rounds, args.min_time)
                    rows.append({"dtype": dtype, "op": op, "n": n, "threads": th, **row})
                    print(f"{dtype:8s} {op:18s} {n:6.0e} {th:3d} {row['new_s'] * 1e6:8.1f}us "
                          f"{row['old_s'] * 1e6:8.1f}us {row['ratio']:8.2f} "
                          f"{row['ratio_q1']:5.2f}-{row['ratio_q3']:.2f}", flush=True)
    worst = max(rows, key=lambda r: r["ratio"])
    print(f"worst new/old: {worst['ratio']:.2f} ({worst['dtype']} {worst['op']} N={worst['n']:.0e} "
          f"threads={worst['threads']})")
    if args.json:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
        meta = {"cpu": cpu, "python": platform.python_version(), "numpy": np.__version__,
                "new": fastbce.show_config(), "old": args.old}
        Path(args.json).write_text(json.dumps({"machine": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
