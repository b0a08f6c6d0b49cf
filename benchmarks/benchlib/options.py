"""The command line of ``bench.py``: its options, each checked with a message naming it,
and their defaults. ``parse_args`` returns (parser, args) with every default filled in."""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
from pathlib import Path

from . import cases, peers, plot, timing

HERE = Path(__file__).resolve().parent.parent
DEFAULT_JSON = HERE / "results" / "bench.json"
DEFAULT_PLOT = HERE / "results" / "bench.png"
DEFAULT_SIZES = "1e2,1e4,1e6,1e7"
QUICK_SIZES = "1e2,1e4,1e5"
DEFAULT_THREADS = "1,all"
MIN_TIME = 0.2  # seconds of calls per implementation and configuration
QUICK_MIN_TIME = 0.02
SAMPLES = (3, 15)  # least and most samples per implementation; the median is reported
QUICK_SAMPLES = (3, 5)
SEED = 0
ARRAYS_PER_N = 16  # a generous count of N-element arrays alive at once, for the memory check
RUN_OPTIONS = ("sizes", "dtypes", "ops", "threads", "impls", "quick", "min_time", "seed", "json")


# --------------------------------------------------------------------------- argument types


def parse_list(text, what):
    """Comma-separated items, stripped, duplicates dropped; an empty list is an error."""
    items = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not items:
        raise argparse.ArgumentTypeError(f"no {what} given")
    return items


def parse_sizes(text):
    sizes = []
    for s in parse_list(text, "size"):
        try:
            value = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{s!r} is not a number (sizes look like 1e6)"
            ) from None
        if not math.isfinite(value) or value != int(value) or value < 1:
            raise argparse.ArgumentTypeError(f"{s!r} is not a whole number of elements >= 1")
        sizes.append(int(value))
    return list(dict.fromkeys(sizes))


def parse_choices(choices, what):
    def parse(text):
        items = parse_list(text, what)
        bad = [s for s in items if s not in choices]
        if bad:
            listed = ", ".join(repr(s) for s in bad)
            raise argparse.ArgumentTypeError(
                f"unknown {what} {listed}; choose from {', '.join(choices)}"
            )
        return items

    return parse


def parse_ops(text):
    """Comma-separated op names, which hold commas themselves ("forward, soft t"): the
    pieces are joined back greedily into the longest known name; spaces do not matter."""

    def key(s):
        return "".join(s.split())

    known = {key(op): op for op in cases.OPS}
    pieces, ops, i = text.split(","), [], 0
    while i < len(pieces):
        if not pieces[i].strip():
            i += 1
            continue
        for j in range(len(pieces), i, -1):
            op = known.get(key(",".join(pieces[i:j])))
            if op:
                ops.append(op)
                i = j
                break
        else:
            raise argparse.ArgumentTypeError(
                f"unknown op {pieces[i].strip()!r} in {text!r}; the ops are "
                + "; ".join(repr(op) for op in cases.OPS)
            )
    if not ops:
        raise argparse.ArgumentTypeError("no op given")
    return list(dict.fromkeys(ops))


def parse_threads(text):
    """'1,all' -> [(1, '1'), (cpu_count, 'all')], duplicates by count dropped."""
    cores = os.cpu_count() or 1
    out = {}
    for s in parse_list(text, "thread count"):
        if s == "all":
            count = cores
        elif s.isdigit() and int(s) >= 1:
            count = int(s)
        else:
            raise argparse.ArgumentTypeError(
                f"{s!r} is not a thread count: use whole numbers >= 1 or 'all'"
            )
        out.setdefault(count, s)
    return list(out.items())


def parse_min_time(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def parse_seed(text):
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


# --------------------------------------------------------------------------- the parser


def build_parser():
    p = argparse.ArgumentParser(
        description="Benchmark fastbce against NumPy, PyTorch, Numba, numexpr and scikit-learn "
        "(the optional ones when installed) and a memory-bandwidth floor (np.dot).",
    )
    p.add_argument("--sizes", type=parse_sizes, help=f"comma-separated N (default {DEFAULT_SIZES})")
    p.add_argument(
        "--dtypes",
        type=parse_choices(cases.DTYPES, "dtype"),
        help=f"default {','.join(cases.DTYPES)}",
    )
    p.add_argument(
        "--ops",
        type=parse_ops,
        help="comma-separated, quoted: the names hold spaces and commas (default: all of "
        + "; ".join(cases.OPS)
        + ")",
    )
    p.add_argument(
        "--threads",
        type=parse_threads,
        help=f"comma-separated thread counts, 'all' = every logical core (default {DEFAULT_THREADS})",
    )
    p.add_argument(
        "--impls",
        type=parse_choices(tuple(peers.PEERS), "implementation"),
        help=f"implementations to run (default: those of {', '.join(peers.PEERS)} that are "
        "installed); fastbce always runs, and naming one that is not installed is an error",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: sizes {QUICK_SIZES}, {QUICK_MIN_TIME} s per measurement, few samples",
    )
    p.add_argument(
        "--min-time", type=parse_min_time, help=f"seconds per measurement (default {MIN_TIME})"
    )
    p.add_argument("--seed", type=parse_seed, help=f"seed of the inputs (default {SEED})")
    p.add_argument("--json", help=f"results file; '' to skip (default {DEFAULT_JSON})")
    p.add_argument(
        "--plot", help=f"plot ({', '.join(plot.SUPPORTED)}); '' to skip (default {DEFAULT_PLOT})"
    )
    p.add_argument(
        "--plot-from",
        metavar="JSON",
        type=Path,
        help="no timing: redraw the plot of an earlier run's JSON into --plot",
    )
    return p


def check_output(p, option, path, suffixes=None):
    """Fail now, not after the run, if ``path`` cannot be written."""
    path = Path(path)
    if path.is_dir():
        p.error(f"{option} {str(path)!r} is a directory; give a file name")
    if suffixes and path.suffix.lstrip(".").lower() not in suffixes:
        p.error(f"{option} {str(path)!r}: the name must end in .{', .'.join(suffixes)}")
    parent = path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        p.error(f"{option} {str(path)!r}: cannot make its folder ({exc.strerror})")
    if not os.access(parent, os.W_OK):
        p.error(f"{option} {str(path)!r}: {str(parent)!r} is not writable")


def check_memory(p, sizes, dtypes):
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf, or not these names
        return
    need = max(sizes) * max(8 if d == "float64" else 4 for d in dtypes) * ARRAYS_PER_N
    if pages > 0 and need > pages * page_size:
        p.error(
            f"--sizes {timing.fmt_n(max(sizes))} needs about {need / 2**30:.0f} GiB "
            f"({ARRAYS_PER_N} arrays of N elements), more than this machine's "
            f"{pages * page_size / 2**30:.0f} GiB"
        )


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    args.has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    if args.plot_from is not None:
        given = [
            f"--{name.replace('_', '-')}"
            for name in RUN_OPTIONS
            if getattr(args, name) not in (None, False)
        ]
        if given:
            p.error(f"--plot-from redraws an earlier run: {', '.join(given)} do not apply")
        if not args.plot_from.is_file():
            p.error(f"--plot-from {str(args.plot_from)!r} is not a file")
        if args.plot == "":
            p.error("--plot-from needs a --plot file to write")
        if not args.has_matplotlib:
            p.error("--plot-from needs matplotlib, which is not installed")
    args.plot_explicit = args.plot is not None
    args.plot = str(DEFAULT_PLOT) if args.plot is None else args.plot
    if args.plot:
        check_output(p, "--plot", args.plot, plot.SUPPORTED)
        if args.plot_explicit and not args.has_matplotlib:
            p.error("--plot needs matplotlib, which is not installed (--plot '' skips the plot)")
    if args.plot_from is not None:
        return p, args
    args.json = str(DEFAULT_JSON) if args.json is None else args.json
    if args.json:
        check_output(p, "--json", args.json)
    args.sizes = args.sizes or parse_sizes(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.dtypes = args.dtypes or list(cases.DTYPES)
    args.ops = args.ops or list(cases.OPS)
    args.threads = args.threads or parse_threads(DEFAULT_THREADS)
    args.impls_explicit = args.impls is not None
    args.impls = list(dict.fromkeys(["fastbce", *(args.impls or peers.PEERS)]))
    args.min_time = args.min_time or (QUICK_MIN_TIME if args.quick else MIN_TIME)
    args.samples = QUICK_SAMPLES if args.quick else SAMPLES
    args.seed = SEED if args.seed is None else args.seed
    check_memory(p, args.sizes, args.dtypes)
    return p, args
