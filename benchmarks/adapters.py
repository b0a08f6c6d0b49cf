"""Adapters benchmark: fastbce.torch against torch.nn, fastbce.metrics against scikit-learn.

Rows (median time per call, float32 for torch). The implementations of a row alternate in
rounds (``--rounds``, each the median of ``--repeats`` calls), so a busy machine slows both
alike; a row shows the median over rounds and the spread of the per-round speed-ups.

- ``train step``: one CPU training step (forward, backward, SGD step) of a small MLP
  (features -> 64 -> 64 -> outputs) with each criterion: ``BCELoss`` on sigmoid outputs and
  ``BCEWithLogitsLoss`` on logits, torch's against fastbce's;
- ``criterion``: the criterion alone, forward + backward (``x.grad = None``, then
  ``crit(x, t).backward()``) on soft targets (uniform in [0, 1]), for each size in
  ``--criterion-sizes`` (elements, as ``(n / 8, 8)``; default: a batch of 256 x 8 and 1e6);
- ``log_loss``: ``fastbce.metrics.log_loss`` against ``sklearn.metrics.log_loss`` (float64
  probabilities, 0/1 labels) for each size in ``--log-loss-sizes`` (default 1e6 and 1e7).

    python benchmarks/adapters.py            # the default sizes
    python benchmarks/adapters.py --quick    # a smoke run: small sizes, few repeats
"""

import argparse
import functools
import os
import platform
import statistics

import numpy as np
from targets import median_time  # this folder is on sys.path when run as a script


def interleaved(calls, repeats, rounds):
    """Per-round median seconds per call of each of calls (a dict), the rounds alternating
    between them."""
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(median_time(call, repeats))
    return times


def fmt(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def row(op, size, times, ref, ours):
    """The medians over rounds, and the speed-up's median and range over the rounds."""
    ups = [a / b for a, b in zip(times[ref], times[ours])]
    print(f"| {op} | {size} | {fmt(statistics.median(times[ref]))} | "
          f"{fmt(statistics.median(times[ours]))} | {statistics.median(ups):.2f}x "
          f"({min(ups):.2f}-{max(ups):.2f}) |", flush=True)


def train_step(model, opt, X, y, probs, crit):
    import torch

    opt.zero_grad()
    out = model(X)
    crit(torch.sigmoid(out) if probs else out, y).backward()
    opt.step()


def fwd_bwd(x, t, crit):
    x.grad = None
    crit(x, t).backward()


def torch_rows(args):
    import torch
    from torch import nn

    from fastbce import torch as ft

    if args.logits_min_elements is not None:
        ft.LOGITS_MIN_ELEMENTS = args.logits_min_elements
    torch.manual_seed(0)
    crits = {
        "BCELoss": (nn.BCELoss(), ft.BCELoss(), True),
        "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss(), ft.BCEWithLogitsLoss(), False),
    }
    for name, (ref, ours, probs) in crits.items():
        d_in, d_out, batch = 32, 8, args.batch
        model = nn.Sequential(nn.Linear(d_in, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                              nn.Linear(64, d_out))
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        X = torch.randn(batch, d_in)
        y = (torch.rand(batch, d_out) > 0.5).float()
        step = functools.partial(train_step, model, opt, X, y, probs)
        times = interleaved({"torch": functools.partial(step, ref),
                             "fastbce": functools.partial(step, ours)}, args.repeats, args.rounds)
        row(f"train step, {name}", f"batch {batch} x {d_out}", times, "torch", "fastbce")

    for n in args.criterion_sizes:
        n = int(n)
        shape = (n // 8, 8) if n % 8 == 0 else (n,)
        repeats = max(5, min(args.repeats, int(args.repeats * 1e4 / n)))
        for name, (ref, ours, probs) in crits.items():
            x = torch.rand(shape) * 0.98 + 0.01 if probs else torch.randn(shape) * 3
            x.requires_grad_(True)
            t = torch.rand(shape)
            times = interleaved({"torch": functools.partial(fwd_bwd, x, t, ref),
                                 "fastbce": functools.partial(fwd_bwd, x, t, ours)},
                                repeats, args.rounds)
            size = f"{n:.0e}" if n >= 1e5 else " x ".join(map(str, shape))
            row(f"criterion fwd+bwd, {name}", size, times, "torch", "fastbce")


def log_loss_rows(args):
    from sklearn.metrics import log_loss as sk_log_loss

    from fastbce.metrics import log_loss

    rng = np.random.default_rng(0)
    for n in args.log_loss_sizes:
        n = int(n)
        p = rng.uniform(0, 1, n)
        y = (rng.uniform(0, 1, n) < p).astype(np.int64)
        a, b = log_loss(y, p), sk_log_loss(y, p)
        assert abs(a - b) <= 1e-12 * abs(b), (a, b)
        times = interleaved({"sklearn": functools.partial(sk_log_loss, y, p),
                             "fastbce": functools.partial(log_loss, y, p)},
                            max(3, args.repeats // 40), args.rounds)
        row("log_loss", f"{n:.0e}", times, "sklearn", "fastbce")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="train-step batch size")
    parser.add_argument("--criterion-sizes", type=float, nargs="+", default=[2048, 1e6])
    parser.add_argument("--log-loss-sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeats", type=int, default=200,
                        help="calls per round (fewer for the large sizes)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-log-loss", action="store_true", help="the torch rows only")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (fastbce follows it); default: torch's")
    parser.add_argument("--logits-min-elements", type=int, default=None,
                        help="set fastbce.torch.LOGITS_MIN_ELEMENTS (0: fastbce's kernel at "
                             "every size, to measure the crossover)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: sizes 2048 and 1e4, log_loss at 1e4, 3 repeats, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.criterion_sizes, args.log_loss_sizes = [2048, 1e4], [1e4]
        args.repeats, args.rounds = 3, 2

    import torch

    import fastbce
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}, "
          f"torch threads {torch.get_num_threads()}, fastbce kernels "
          f"{fastbce.show_config()['kernels']}, fastbce.torch.LOGITS_MIN_ELEMENTS "
          f"{args.logits_min_elements if args.logits_min_elements is not None else 'default'}")
    print()
    print("| op | size | reference | fastbce | speed-up (range over rounds) |")
    print("|---|---|---|---|---|")
    torch_rows(args)
    if not args.no_log_loss:
        log_loss_rows(args)


if __name__ == "__main__":
    main()
