"""Soft against hard (0/1) targets. With 0/1 targets the summed loss is the log of a
product, with no log per element (docs/design.md); soft targets take a log per element of
min(x, 1 - x) and a polynomial for the other term.

    python benchmarks/targets.py [--n 10000000] [--repeats 9] [--dtype float32]

Prints the median time of binary_cross_entropy and binary_cross_entropy_and_grad on the
same inputs with uniform targets and with targets rounded to 0/1, interleaved in one process,
and on confident predictions of 0/1 targets (x within 1e-4 of its target: losses below
1e-4, most outside the product path's window, which then sums them one by one or sends
their chunks to the one-log path).
"""

import argparse
import functools
import statistics
import time

import numpy as np

import fastbce


def median_time(call, repeats):
    call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e7)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = int(args.n)
    x = rng.uniform(1e-6, 1 - 1e-6, n).astype(args.dtype)
    soft = rng.uniform(0, 1, n).astype(args.dtype)
    hard = np.round(soft)
    u = rng.uniform(0, 1e-4, n)
    confident = np.where(hard == 1, 1 - u, u).astype(args.dtype)
    for name, fn in (
        ("loss", fastbce.binary_cross_entropy),
        ("loss+grad", fastbce.binary_cross_entropy_and_grad),
    ):
        t_soft, t_hard, t_conf = [], [], []
        for _ in range(3):  # interleaved rounds
            t_soft.append(median_time(functools.partial(fn, x, soft), args.repeats))
            t_hard.append(median_time(functools.partial(fn, x, hard), args.repeats))
            t_conf.append(median_time(functools.partial(fn, confident, hard), args.repeats))
        s, h, c = min(t_soft), min(t_hard), min(t_conf)
        print(
            f"{name:10s} N={n:.0e} {args.dtype}: soft targets {s * 1e3:7.1f} ms, 0/1 targets "
            f"{h * 1e3:7.1f} ms ({s / h:.2f}x), 0/1 confident {c * 1e3:7.1f} ms ({s / c:.2f}x)"
        )


if __name__ == "__main__":
    main()
