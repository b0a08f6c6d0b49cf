"""fastbce.dask on a dask.distributed LocalCluster, against plain dask.array expressions of
the same losses and against dask-ml's ``log_loss`` (when installed).

The data are float32 ``.npy`` files written to a temporary directory (removed at the end)
and read through memory maps, a chunk per task (``fastbce.dask.from_npy``): probabilities
``x`` uniform in [1e-6, 1 - 1e-6], soft targets ``t`` uniform in [0, 1], and 0/1 labels
``y``. Rows:

- ``bce mean, soft targets``: ``fastbce.dask.binary_cross_entropy(x, t)`` against the
  clamped expression ``-(t * max(log x, -100) + (1 - t) * max(log(1 - x), -100))`` in
  dask.array, mean accumulated in float64;
- ``log_loss, 0/1 labels``: ``fastbce.dask.log_loss(y, x)`` against scikit-learn's
  definition in dask.array (``-log(clip(q, eps, 1 - eps))``, ``q`` the probability of the
  true class, float64 mean) and against ``dask_ml.metrics.log_loss`` (which passes
  ``eps=`` to ``sklearn.metrics.log_loss``; scikit-learn removed that argument in 1.5, so
  the failure is recorded instead of a time);
- reference rows per op: fastbce.dask on dask's threaded scheduler in this process (no
  cluster; ``num_threads=1`` per task, as many tasks at a time as CPUs), and the in-memory
  fastbce call on the memory-mapped files in this process (all CPUs' threads; no dask);
- ``chunk size``: fastbce.dask's ``bce mean`` at other chunk sizes (``--chunk-sweep``).

Each implementation's result is checked against fastbce's before timing. Times are medians
of ``--repeats`` computations (after one warm-up that also brings the files into the page
cache), the implementations interleaved round by round; the fastest is shown beside the
median (on a shared machine it is the least disturbed). Throughput is from the median. Peak worker memory is sampled every
5 ms inside each worker process (``/proc/self/status``): ``RssAnon`` (private memory: what
the computation allocates) and ``VmRSS`` (which also counts the mapped file pages read).

    python benchmarks/dask_bench.py                        # 1e8 elements, 2 workers
    python benchmarks/dask_bench.py --quick                # smoke run: 1e6 elements
    python benchmarks/dask_bench.py --json benchmarks/reference/dask-xeon-avx512-2cores.json
    python benchmarks/dask_bench.py --table-from RESULTS.json   # the table of a saved run

Needs ``pip install ".[dask]"``. dask-ml is not a dependency of any extra; with it
installed (``pip install dask-ml``) its row is attempted.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback

import numpy as np


def write_data(folder, n, seed, piece=10_000_000):
    """x, t (soft) and y (0/1) as float32 .npy files, written piece by piece."""
    from numpy.lib.format import open_memmap

    rng = np.random.default_rng(seed)
    paths = {name: os.path.join(folder, f"{name}.npy") for name in ("x", "t", "y")}
    arrays = {name: open_memmap(path, mode="w+", dtype=np.float32, shape=(n,))
              for name, path in paths.items()}
    for start in range(0, n, piece):
        stop = min(n, start + piece)
        x = rng.uniform(1e-6, 1 - 1e-6, stop - start)
        arrays["x"][start:stop] = x
        arrays["t"][start:stop] = rng.uniform(0, 1, stop - start)
        arrays["y"][start:stop] = rng.uniform(0, 1, stop - start) < x
    for arr in arrays.values():
        arr.flush()
    del arrays
    return paths


# ---------------------------------------------------------------- memory sampling (workers)


def _status():
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def _start_sampler(dask_worker=None, interval=0.005):
    import threading

    state = {"stop": False, "peak": _status()}

    def loop():
        while not state["stop"]:
            for key, value in _status().items():
                state["peak"][key] = max(state["peak"].get(key, 0), value)
            time.sleep(interval)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    dask_worker._fastbce_sampler = (state, thread)
    return True


def _stop_sampler(dask_worker=None):
    state, thread = dask_worker._fastbce_sampler
    state["stop"] = True
    thread.join()
    return state["peak"]


def _idle_memory(dask_worker=None):
    return _status()


# ---------------------------------------------------------------- the implementations


def implementations(paths, chunk, sweep, have_dask_ml):
    import dask.array as da

    import fastbce
    import fastbce.dask as fd

    x = fd.from_npy(paths["x"], chunks=chunk)
    t = fd.from_npy(paths["t"], chunks=chunk)
    y = fd.from_npy(paths["y"], chunks=chunk)
    eps = float(np.finfo(np.float32).eps)

    def bce_expression():
        loss = -(t * da.maximum(da.log(x), -100) + (1 - t) * da.maximum(da.log1p(-x), -100))
        return loss.mean(dtype=np.float64)

    def log_loss_expression():
        q = da.clip(da.where(y == 1, x, 1 - x), eps, 1 - eps)
        return (-da.log(q)).mean(dtype=np.float64)

    def in_memory(fn, a, b):
        return lambda: fn(np.load(paths[a], mmap_mode="r"), np.load(paths[b], mmap_mode="r"))

    ops = {
        "bce mean, soft targets": {
            "fastbce.dask": ("lazy", lambda: fd.binary_cross_entropy(x, t)),
            "dask.array expression": ("lazy", bce_expression),
            "fastbce.dask, threaded scheduler (no cluster)": (
                "local", lambda: fd.binary_cross_entropy(x, t)),
            "fastbce in memory (mmap, 1 process)": (
                "eager", in_memory(fastbce.binary_cross_entropy, "x", "t")),
        },
        "log_loss, 0/1 labels": {
            "fastbce.dask": ("lazy", lambda: fd.log_loss(y, x, compute=False)),
            "dask.array expression": ("lazy", log_loss_expression),
            "fastbce.dask, threaded scheduler (no cluster)": (
                "local", lambda: fd.log_loss(y, x, compute=False)),
            "fastbce in memory (mmap, 1 process)": (
                "eager", lambda: fastbce.metrics.log_loss(np.load(paths["y"], mmap_mode="r"),
                                                          np.load(paths["x"], mmap_mode="r"))),
        },
    }
    for size in sweep:
        xs = fd.from_npy(paths["x"], chunks=size)
        ts = fd.from_npy(paths["t"], chunks=size)
        ops.setdefault("chunk size (bce mean, fastbce.dask)", {})[f"chunks of {size}"] = (
            "lazy", lambda xs=xs, ts=ts: fd.binary_cross_entropy(xs, ts))
    if have_dask_ml:
        import dask_ml.metrics

        ops["log_loss, 0/1 labels"]["dask_ml.metrics.log_loss"] = (
            "lazy", lambda: dask_ml.metrics.log_loss(y, x))
    return ops


class _Here:
    """Stands for a worker when this process samples its own memory."""


def run_once(kind, make, client):
    """(seconds, value, per-process peak memory: {worker: peaks}, or None)."""
    if kind == "eager":
        start = time.perf_counter()
        value = make()
        return time.perf_counter() - start, float(value), None
    if kind == "local":
        here = _Here()
        _start_sampler(here)
        try:
            start = time.perf_counter()
            value = make().compute(scheduler="threads")
            seconds = time.perf_counter() - start
        finally:
            peak = _stop_sampler(here)
        return seconds, float(value), {"this process": peak}
    client.run(_start_sampler)
    try:
        start = time.perf_counter()
        lazy = make()
        value = lazy if isinstance(lazy, float) else client.compute(lazy, sync=True)
        seconds = time.perf_counter() - start
    finally:
        peaks = client.run(_stop_sampler)
    return seconds, float(value), peaks


def count(text):
    """An element count written as 1e8, 100000000 or 2**23."""
    base, _, power = text.strip().partition("**")
    return int(base) ** int(power) if power else int(float(base))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=count, default=10**8, help="elements (default 1e8)")
    parser.add_argument("--chunk", type=count, default=2**23,
                        help="elements per chunk (default 2**23: 32 MiB of float32)")
    parser.add_argument("--chunk-sweep", default="2**20,2**22,2**24,2**26",
                        help="other chunk sizes for the fastbce.dask bce row ('' for none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write the data (a temp dir)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="", help="write the results there")
    parser.add_argument("--quick", action="store_true", help="1e6 elements, 2 repeats")
    parser.add_argument("--table-from", default="", metavar="JSON",
                        help="only print the table of an earlier run's results")
    args = parser.parse_args()
    if args.table_from:
        with open(args.table_from) as f:
            saved = json.load(f)
        print_table(saved["meta"], saved["results"])
        return
    if args.quick:
        args.n, args.chunk, args.repeats, args.chunk_sweep = 1e6, 2**17, 2, "2**15"
    n, chunk = int(args.n), int(args.chunk)
    sweep = [count(size) for size in args.chunk_sweep.split(",") if size.strip()]

    import dask
    import distributed
    from distributed import Client, LocalCluster

    import fastbce
    import fastbce.metrics

    try:
        import dask_ml
        import sklearn
        have_dask_ml = True
    except ImportError:
        have_dask_ml = False

    load_at_start = os.getloadavg()
    folder = tempfile.mkdtemp(prefix="fastbce-dask-bench-", dir=args.dir)
    try:
        t0 = time.perf_counter()
        paths = write_data(folder, n, args.seed)
        print(f"wrote 3 x {n * 4 / 2**20:.0f} MiB float32 .npy files to {folder} in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        # the workers import the fastbce this process imports
        root = os.path.dirname(os.path.dirname(os.path.abspath(fastbce.__file__)))
        os.environ["PYTHONPATH"] = root + (os.pathsep + os.environ["PYTHONPATH"]
                                           if os.environ.get("PYTHONPATH") else "")
        with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                          processes=True, host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            idle = client.run(_idle_memory)
            omp = client.run(lambda: os.environ.get("OMP_NUM_THREADS"))
            ops = implementations(paths, chunk, sweep, have_dask_ml)
            results = {}
            for op, impls in ops.items():
                results[op] = {}
                reference = None
                for name, (kind, make) in impls.items():  # warm-up and check
                    entry = results[op][name] = {"kind": kind}
                    try:
                        _, value, _ = run_once(kind, make, client)
                    except Exception as exc:  # noqa: BLE001 (dask-ml on scikit-learn >= 1.5)
                        entry["error"] = f"{type(exc).__name__}: {exc}"
                        entry["traceback_tail"] = traceback.format_exc().splitlines()[-6:]
                        print(f"{op} / {name}: FAILED: {entry['error']}", file=sys.stderr)
                        continue
                    entry["value"] = value
                    if reference is None:
                        reference = value  # the first row: fastbce.dask
                    entry["rel_diff_vs_fastbce_dask"] = abs(value - reference) / abs(reference)
                    if entry["rel_diff_vs_fastbce_dask"] > 1e-5:
                        raise SystemExit(f"{op} / {name}: {value} differs from {reference}")
                times = {name: [] for name, e in results[op].items() if "error" not in e}
                peaks = {name: [] for name in times}
                for _ in range(args.repeats):
                    for name, samples in times.items():
                        kind, make = impls[name]
                        seconds, _, peak = run_once(kind, make, client)
                        samples.append(seconds)
                        if peak is not None:
                            peaks[name].append(peak)
                for name, samples in times.items():
                    kind = impls[name][0]
                    entry = results[op][name]
                    entry["times_s"] = samples
                    entry["median_s"] = statistics.median(samples)
                    entry["min_s"] = min(samples)
                    entry["melem_per_s"] = n / entry["median_s"] / 1e6
                    if peaks[name]:  # the largest over the processes and the runs
                        entry["memory_of"] = ("this process" if kind == "local"
                                              else "each worker process")
                        entry["peak_rss_anon_bytes"] = max(
                            p["RssAnon"] for run in peaks[name] for p in run.values())
                        entry["peak_vmrss_bytes"] = max(
                            p["VmRSS"] for run in peaks[name] for p in run.values())
                    print(f"{op} / {name}: {entry['median_s'] * 1e3:.0f} ms", file=sys.stderr)
            warm = client.run(_idle_memory)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:  # the source tree's commit, when run from a git checkout
        import subprocess

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False, cwd=os.path.dirname(__file__),
                                ).stdout.strip() or None
    except OSError:
        commit = None
    meta = {
        "source_commit": commit,
        "n": n, "chunk": chunk, "chunks": -(-n // chunk), "dtype": "float32",
        "workers": args.workers, "threads_per_worker": args.threads_per_worker,
        "repeats": args.repeats, "cpu": cpu, "cpu_count": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(), "python": platform.python_version(),
        "numpy": np.__version__, "dask": dask.__version__,
        "distributed": distributed.__version__, "fastbce": fastbce.__version__,
        "fastbce_kernels": fastbce.show_config()["kernels"],
        "dask_ml": dask_ml.__version__ if have_dask_ml else None,
        "scikit_learn": sklearn.__version__ if have_dask_ml else None,
        "worker_omp_num_threads": sorted(set(map(str, omp.values()))),
        "idle_worker_rss_anon_bytes": max(v["RssAnon"] for v in idle.values()),
        "idle_worker_vmrss_bytes": max(v["VmRSS"] for v in idle.values()),
        "worker_rss_anon_after_runs_bytes": max(v["RssAnon"] for v in warm.values()),
    }
    print_table(meta, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)


def print_table(meta, results):
    mib = 2**20
    print(f"{meta['n']:.0e} float32 elements in {meta['chunks']} chunks of {meta['chunk']}, "
          f"LocalCluster {meta['workers']} workers x {meta['threads_per_worker']} thread; "
          f"{meta['cpu']}, {meta['cpu_count']} CPUs; worker RssAnon: at start "
          f"{meta['idle_worker_rss_anon_bytes'] / mib:.0f} MiB, idle after the runs "
          f"{meta['worker_rss_anon_after_runs_bytes'] / mib:.0f} MiB")
    print("| op | implementation | median (fastest) | M elements/s | vs first row | "
          "peak RssAnon | peak VmRSS |")
    print("|---|---|---|---|---|---|---|")
    for op, impls in results.items():
        ours = next(iter(impls.values())).get("median_s")
        for name, e in impls.items():
            if "error" in e:
                print(f"| {op} | {name} | fails: `{e['error'][:80]}` | – | – | – | – |")
                continue
            anon = e.get("peak_rss_anon_bytes")
            rss = e.get("peak_vmrss_bytes")
            where = " (this process)" if e.get("memory_of") == "this process" else ""
            print(f"| {op} | {name} | {e['median_s'] * 1e3:.0f} ms ({e['min_s'] * 1e3:.0f} ms) | "
                  f"{e['melem_per_s']:.0f} | "
                  f"{e['median_s'] / ours:.2f}x | "
                  f"{'–' if anon is None else f'{anon / mib:.0f} MiB{where}'} | "
                  f"{'–' if rss is None else f'{rss / mib:.0f} MiB'} |")


if __name__ == "__main__":
    main()
