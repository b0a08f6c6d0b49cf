"""Memory floors of the fused calls: how long the same bytes take to move with no math.

    python benchmarks/floors.py [--n 10000000] [--repeats 21]

On float32 arrays of n elements, with the machine's cores split between Python threads over
equal slices (NumPy releases the GIL in these calls): ``np.dot(x, t)`` reads two arrays;
``np.subtract(x, t, out=g)`` reads two and writes one (the traffic of fwd+grad and logits
fwd+grad); two ``np.copyto`` read two and write two (the traffic of grad_hess and of
per-element loss and gradient). Then the same read-two-write-one into a fresh array each
call, as a call without ``out=`` does, and fastbce's fused loss and gradient both ways.
Prints the median of ``--repeats`` calls of each.
"""

import argparse
import os
import threading

import numpy as np
from targets import median_time  # this folder is on sys.path when run as a script

import fastbce


def split(n, parts, work):
    """work(slice) for parts equal slices of range(n), one Python thread each."""
    edges = np.linspace(0, n, parts + 1).astype(int)
    threads = [threading.Thread(target=work, args=(slice(a, b),)) for a, b in zip(edges, edges[1:])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    n, cores = args.n, os.cpu_count() or 1
    rng = np.random.default_rng(0)
    x = rng.uniform(1e-6, 1 - 1e-6, n).astype(np.float32)
    t = rng.integers(0, 2, n).astype(np.float32)
    g, h = np.empty_like(x), np.empty_like(x)

    def read2_write1(s):
        np.subtract(x[s], t[s], out=g[s])

    def read2_write2(s):
        np.copyto(g[s], x[s])
        np.copyto(h[s], t[s])

    def read2_write1_fresh():
        out = np.empty_like(x)
        split(n, cores, lambda s: np.subtract(x[s], t[s], out=out[s]))

    rows = [
        ("np.dot: read 2", lambda: np.dot(x, t)),
        ("read 2, write 1 (into out)", lambda: split(n, cores, read2_write1)),
        ("read 2, write 1 (fresh array)", read2_write1_fresh),
        ("read 2, write 2 (into outs)", lambda: split(n, cores, read2_write2)),
        ("fastbce fwd+grad (grad_out=)",
         lambda: fastbce.binary_cross_entropy_and_grad(x, t, grad_out=g)),
        ("fastbce fwd+grad (fresh array)", lambda: fastbce.binary_cross_entropy_and_grad(x, t)),
    ]
    print(f"float32, n = {n:,}, {cores} threads, median of {args.repeats} calls")
    for name, call in rows:
        print(f"{name:32s} {median_time(call, args.repeats) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
