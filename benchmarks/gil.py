"""Does fastbce release the GIL? Throughput of two Python threads, each calling with
num_threads=1, against one thread doing the same calls.

    python benchmarks/gil.py [--n 10000000] [--calls 20]

A ratio near 2 on a machine with two free cores means the calls ran in parallel; near 1
means they were serialised.
"""

import argparse
import statistics
import threading
import time

import numpy as np

import fastbce


def run_threads(nthreads, x, t, calls):
    def work():
        # each thread reuses its own output buffers: fresh input-sized allocations would
        # measure the kernel's page-fault handling (serialised per process), not the GIL
        grad, loss = np.empty_like(x), np.empty((), x.dtype)
        for _ in range(calls):
            fastbce.binary_cross_entropy_and_grad(x, t, num_threads=1, loss_out=loss, grad_out=grad)

    threads = [threading.Thread(target=work) for _ in range(nthreads)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return nthreads * calls * x.size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e7, help="elements per call")
    parser.add_argument("--calls", type=int, default=10, help="calls per thread")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = int(args.n)
    x = rng.uniform(1e-6, 1 - 1e-6, n).astype(np.float32)
    t = rng.uniform(0, 1, n).astype(np.float32)
    run_threads(1, x, t, 1)  # warm up
    ratios = []
    for _ in range(args.repeats):
        one = run_threads(1, x, t, args.calls)
        two = run_threads(2, x, t, args.calls)
        ratios.append(two / one)
        print(
            f"1 thread {one / 1e6:7.0f} M el/s   2 threads {two / 1e6:7.0f} M el/s   ratio {two / one:.2f}"
        )
    print(
        f"median ratio (2 Python threads / 1, num_threads=1 each): {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
