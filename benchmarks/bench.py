"""Benchmark fastbce against NumPy, PyTorch and, when installed, Numba, numexpr and scikit-learn.

Run it with fastbce installed (or built in place and on ``PYTHONPATH``)::

    python benchmarks/bench.py              # full run
    python benchmarks/bench.py --quick      # smoke run, under a minute
    python benchmarks/bench.py --sizes 1e2,1e8 --dtypes float32 --threads 1
    python benchmarks/bench.py --plot-from RESULTS.json --plot OUT.png   # redraw, no timing

Every configuration (dtype x N x op x threads) times all implementations interleaved, on
the same arrays, and reports the median per-call time. The ops (``benchlib/cases.py``):
"forward" is the mean loss, "fwd+grad" the mean loss and its gradient, on probabilities with
soft targets uniform in [0, 1] ("soft t": the torch tutorial fastbce grew from draws its
targets with torch.rand) or with 0/1 labels ("0/1 t"); "logits fwd+grad" and "logits
grad_hess" (per-element gradient and hessian) take logits x ~ N(0, 3) and 0/1 labels. The
row "np.dot floor" is ``np.dot(x, t)``: one read of both inputs, about the least any
implementation has to do.

The parts: ``benchlib/cases.py`` (what is timed), ``peers.py`` (the implementations),
``timing.py``, ``report.py`` (table, JSON), ``plot.py``; this file is the command line.
"""

from __future__ import annotations

import os
import sys

# Idle OpenBLAS threads busy-wait about 0.1 s after each call; in the interleaved schedule
# that steals a core from whatever follows the np.dot floor. Let them sleep at once unless
# the user chose otherwise. It has to be set before NumPy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from benchlib import cases, options, peers, plot, report, timing


def load_peers(p, args, notes):
    """Load the peers asked for. One named in --impls that is not installed, or that runs
    on none of the chosen ops, is an error; by default a missing one is a note."""
    chosen = [cases.CASE_BY_OP[op] for op in args.ops]
    idle = {n for n in args.impls if not any(n in cases.peers_of(case) for case in chosen)}
    for name in sorted(idle) if args.impls_explicit else ():
        runs_on = [case.op for case in cases.CASES if name in cases.peers_of(case)]
        p.error(
            f"--impls names {name}, which runs on none of the chosen --ops "
            f"(it runs on: {'; '.join(runs_on)})"
        )
    loaded, missing = peers.load([name for name in args.impls if name not in idle])
    if "fastbce" in missing:
        sys.exit(
            f"fastbce is not importable ({missing['fastbce']}); install it or put it on PYTHONPATH"
        )
    for name, why in missing.items():
        if args.impls_explicit:
            p.error(
                f"--impls names {name}, which cannot be loaded here ({why}); install it "
                "or leave it out"
            )
        notes.append(f"{name}: not available, skipped ({why})")
    notes.extend(peers.PEERS[name].note for name in loaded if peers.PEERS[name].note)
    return loaded


# --------------------------------------------------------------------------- main


def redraw(args):
    try:
        doc = report.read_json(args.plot_from)
    except ValueError as exc:
        sys.exit(f"--plot-from: {exc}")
    print(f"wrote {plot.write_plot(args.plot, doc['results'], doc['machine'])}")


def estimate(args, chosen, loaded, total):
    """What the run will take, said before it starts: each row of each configuration is
    timed for about --min-time seconds (the largest sizes take longer: at least 3 calls)."""
    rows = sum(len(cases.peers_of(case) & set(loaded)) for case in chosen)
    per_config = rows / len(chosen) * args.min_time * 1.1  # the first calls and checks
    seconds = total * per_config
    text = f"{total} configurations, about {seconds / 60:.0f} min" if seconds >= 90 else (
        f"{total} configurations, about {seconds:.0f} s")
    text += " (longer at the largest sizes)"
    if not args.quick:
        text += "; --quick runs a smoke version in under a minute"
    return text


def run(args, loaded, notes):
    def warn(message):
        notes.append(message)
        print(f"warning: {message}", file=sys.stderr)

    limit, note = timing.blas_limiter()
    if note and "floor" in loaded:
        notes.append(note)
    chosen = [cases.CASE_BY_OP[op] for op in args.ops]
    total = len(args.dtypes) * len(args.sizes) * len(chosen) * len(args.threads)
    print(estimate(args, chosen, loaded, total), file=sys.stderr)
    rows = []
    measured = timing.run(
        chosen, args.dtypes, args.sizes, args.threads, loaded,
        seed=args.seed, min_time=args.min_time, bounds=args.samples, warn=warn, blas_limit=limit,
    )  # fmt: skip
    for i, (cfg, timings) in enumerate(measured, 1):
        cfg_rows = report.make_rows(cfg, timings)
        rows.extend(cfg_rows)
        parts = " | ".join(f"{r['impl']} {report.fmt_time(r['time_s'])}" for r in cfg_rows)
        print(f"[{i}/{total}] {cfg.describe()}: {parts}", file=sys.stderr)
    return rows, warn


def save(args, machine, rows, notes, warn):
    """Write the JSON and the plot; a failure here is reported, not raised."""
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
    if args.plot and not args.has_matplotlib:  # the default --plot; an explicit one needs it
        notes.append("matplotlib is not installed: no plot")
    elif args.plot:
        try:
            print(f"wrote {plot.write_plot(args.plot, rows, machine)}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - a plot is never worth a failed run
            warn(f"could not plot to {args.plot}: {type(exc).__name__}: {exc}")
    if args.json:
        try:
            path = report.write_json(args.json, machine, settings, notes, rows)
            print(f"wrote {path}", file=sys.stderr)
        except (OSError, TypeError, ValueError) as exc:
            warn(f"could not write {args.json}: {exc}")


def main(argv=None):
    p, args = options.parse_args(argv)
    if args.plot_from is not None:
        return redraw(args)
    notes = []
    loaded = load_peers(p, args, notes)
    machine = report.machine_info(loaded["fastbce"], loaded)
    print(f"fastbce benchmark\n{report.format_machine(machine)}\n", file=sys.stderr)
    rows, warn = run(args, loaded, notes)
    if not rows:
        sys.exit("no implementation produced a result (see the warnings above)")
    save(args, machine, rows, notes, warn)
    print("## Machine\n")
    print(report.format_machine(machine))
    print("\n## Results\n")
    print(report.format_table(rows))
    print("\n" + "\n".join(report.table_notes(rows)))
    if notes:
        print("\nNotes:\n" + "\n".join(f"- {note}" for note in notes))
    return None


if __name__ == "__main__":
    main()
