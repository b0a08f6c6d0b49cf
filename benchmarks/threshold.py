"""Where do threads start to pay? fastbce with num_threads=1 against 2 around the parallel
threshold (show_config()["parallel_threshold"]), float32 forward, best of 7 repeats.

    python benchmarks/threshold.py
"""

import functools
import timeit

import numpy as np

import fastbce


def main():
    block = fastbce.show_config()["block_size"]
    rng = np.random.default_rng(0)
    for blocks in (1, 2, 3, 4, 8):
        n = blocks * block
        x = rng.uniform(1e-6, 1 - 1e-6, n).astype(np.float32)
        t = rng.uniform(0, 1, n).astype(np.float32)
        times = [
            min(
                timeit.repeat(
                    functools.partial(fastbce.binary_cross_entropy, x, t, num_threads=k),
                    number=50,
                    repeat=7,
                )
            )
            / 50
            for k in (1, 2)
        ]
        print(
            f"N={n:7d}: 1 thread {times[0] * 1e6:7.1f} us, 2 threads {times[1] * 1e6:7.1f} us, "
            f"speedup {times[0] / times[1]:.2f}"
        )


if __name__ == "__main__":
    main()
