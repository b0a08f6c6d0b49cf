"""Results: one record per row and configuration, the printed table, the machine record and
the JSON file.

A record (one entry of the JSON's "results") holds: dtype, n, op, threads (as asked: "1",
"all"), num_threads (the count), impl (the row label), time_s (median seconds per call),
min_time_s, samples, calls_per_sample, spread (the interquartile range of the samples over
their median; above SPREAD_LIMIT the row is marked as not to be trusted), mel_per_s
(N / time_s / 1e6: higher is better),
speedup (time_s over the time of the fastbce row named by speedup_reference: above 1, fastbce
is faster; on fastbce's own variant rows it is the variant's time over plain fastbce's) and,
on the np.dot floor row only, fastbce_over_floor (fastbce's time over np.dot's).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import statistics
from pathlib import Path

from .peers import FASTBCE, FASTBCE_FULL, FASTBCE_NONE, FASTBCE_OUT, FLOOR, PEERS, SKLEARN
from .timing import fmt_n

SPREAD_LIMIT = 0.10  # a row whose samples' interquartile range exceeds 10% of their median
THREADS_SLOWER = 1.05  # fastbce on more threads taking 5% longer than on fewer is flagged


def spread(samples):
    """(q3 - q1) / median of the samples: 0 when they agree, about 0.01 on a quiet machine."""
    if len(samples) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return (q3 - q1) / statistics.median(samples)


THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_THREAD_TIMEOUT",
    "NUMBA_NUM_THREADS",
)


def make_rows(cfg, timings):
    """The records of one configuration from its {row label: Timing}."""
    medians = {label: statistics.median(tm.per_call) for label, tm in timings.items()}
    fb = medians.get(FASTBCE)
    rows = []
    for label, tm in timings.items():
        med = medians[label]
        row = {
            "dtype": cfg.dtype,
            "n": cfg.n,
            "op": cfg.op,
            "threads": cfg.label,
            "num_threads": cfg.threads,
            "impl": label,
            "time_s": med,
            "min_time_s": min(tm.per_call),
            "samples": len(tm.per_call),
            "calls_per_sample": tm.number,
            "spread": spread(tm.per_call),
            "mel_per_s": cfg.n / med / 1e6,
            "speedup": None,
            "speedup_reference": None,
            "fastbce_over_floor": None,
        }
        if label == FLOOR:
            if fb is not None:
                row["fastbce_over_floor"] = fb / med
        elif tm.compare in medians:
            row["speedup"] = med / medians[tm.compare]
            row["speedup_reference"] = tm.compare
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- the table


def fmt_time(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def versus(row):
    """The "vs fastbce" cell: this row's time against the fastbce row it is compared with."""
    if row["impl"] == FASTBCE:
        return "(reference)"
    if row["fastbce_over_floor"] is not None:
        ratio, ref = 1 / row["fastbce_over_floor"], FASTBCE
    elif row["speedup"] is not None:
        ratio, ref = row["speedup"], row["speedup_reference"]
    else:
        return "–"
    if abs(ratio - 1) < 0.005:
        text = "same time"
    elif ratio > 1:
        text = f"{ratio:.2f}x slower"
    else:
        text = f"{1 / ratio:.2f}x faster"
    return text if ref == FASTBCE else f"{text} than {ref}"


def fmt_spread(row):
    """The spread cell: "3%", or "31% !" where the row is not to be trusted."""
    value = row.get("spread")
    if value is None:  # a JSON from before the column existed
        return "–"
    return f"{value:.0%}" + (" !" if value > SPREAD_LIMIT else "")


def slower_with_more_threads(rows):
    """fastbce rows that took longer on more threads than on fewer, same dtype, N and op:
    [(row with more threads, row with fewer)]."""
    groups = {}
    for r in rows:
        if r["impl"] == FASTBCE:
            groups.setdefault((r["dtype"], r["n"], r["op"]), []).append(r)
    found = []
    for group in groups.values():
        group.sort(key=lambda r: r["num_threads"])
        for few, more in zip(group, group[1:]):
            if more["num_threads"] > few["num_threads"] and (
                    more["time_s"] > THREADS_SLOWER * few["time_s"]):
                found.append((more, few))
    return found


def format_table(rows):
    header = ["dtype", "N", "op", "threads", "impl", "time/call", "spread", "M el/s",
              "vs fastbce"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        threads = f"all ({r['num_threads']})" if r["threads"] == "all" else r["threads"]
        cells = [
            r["dtype"],
            fmt_n(r["n"]),
            r["op"],
            threads,
            r["impl"],
            fmt_time(r["time_s"]),
            fmt_spread(r),
            f"{r['mel_per_s']:.1f}",
            versus(r),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_notes(rows):
    """What the columns mean, and the rows that need a word."""
    labels = {r["impl"] for r in rows}
    notes = [
        (
            "time/call: median over samples, each sample averaging back-to-back calls. "
            "M el/s: N / time, in millions of elements per second (higher is better)."
        ),
        (
            "vs fastbce: this row's time against fastbce's in the same configuration: "
            '"3.00x slower" takes three times fastbce\'s time.'
        ),
        (
            "spread: the interquartile range of the samples over their median (about 1-3% "
            "on a quiet machine)."
        ),
    ]
    noisy = [r for r in rows if (r.get("spread") or 0) > SPREAD_LIMIT]
    if noisy:
        notes.append(
            f"! {len(noisy)} of {len(rows)} rows have a spread above {SPREAD_LIMIT:.0%}: "
            "their samples disagree (another program was running, or the CPU changed speed), "
            "so their times and ratios are not to be trusted. Rerun those configurations "
            "on a quiet machine (--sizes, --ops, --threads select them)."
        )
    for more, few in slower_with_more_threads(rows):
        notes.append(
            f"! fastbce took longer on {more['num_threads']} threads than on "
            f"{few['num_threads']} at {more['dtype']} N={fmt_n(more['n'])} {more['op']} "
            f"({fmt_time(more['time_s'])} vs {fmt_time(few['time_s'])}): the cores were "
            "likely busy with other work; rerun on a quiet machine."
        )
    if labels & {FASTBCE_OUT, FASTBCE_NONE}:
        notes.append(
            f"{FASTBCE_OUT!r} and {FASTBCE_NONE!r} are fastbce itself, writing into "
            "preallocated arrays (the gradient; per-element losses and gradients with "
            "reduction='none'): their ratio is against the plain fastbce call, which "
            "allocates its gradient on every call."
        )
    if FASTBCE_FULL in labels:
        notes.append(
            f"{FASTBCE_FULL!r} is fastbce's mean over every axis of the same 2-D data: "
            "'1.10x faster' there means the mean over the op's axis takes 1.10x the time "
            "of the full mean."
        )
    if SKLEARN in labels:
        notes.append(
            f"{SKLEARN}: HalfBinomialLoss writes per-element values into preallocated "
            f"arrays, so on 'logits fwd+grad' it is compared with {FASTBCE_NONE!r}, "
            "which does the same."
        )
    if FLOOR in labels:
        notes.append(
            f"{FLOOR}: np.dot(x, t), one read of both inputs, about the least any "
            'implementation has to do; "faster" there is the distance to that floor.'
        )
    return notes


# --------------------------------------------------------------------------- the machine


def cpu_model():
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def dist_version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(fastbce, peers_run):
    """The machine and the versions installed (whether or not they ran: ``peers_run`` says
    which did)."""
    info = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "fastbce": fastbce.__version__,
    }
    for name, peer in PEERS.items():
        if peer.dist:
            info[name] = dist_version(peer.dist)
    info["threadpoolctl"] = dist_version("threadpoolctl")
    info["matplotlib"] = dist_version("matplotlib")
    info["peers_run"] = list(peers_run)
    info["thread_env"] = {k: os.environ[k] for k in THREAD_ENV if k in os.environ}
    info["fastbce_config"] = fastbce.show_config()
    return info


def format_machine(info):
    return "\n".join(f"- {key}: {value}" for key, value in info.items())


# --------------------------------------------------------------------------- JSON


def write_json(path, machine, settings, notes, rows):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": machine, "settings": settings, "notes": notes, "results": rows}
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def read_json(path):
    """An earlier run's JSON: {"machine": ..., "results": [...], ...}. Raises ValueError
    with the reason if it is not one."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    needed = {"dtype", "n", "op", "threads", "num_threads", "impl", "time_s", "mel_per_s"}
    results = doc.get("results") if isinstance(doc, dict) else None
    if not results or not isinstance(results, list):
        raise ValueError(f"{path} holds no bench.py results (no 'results' list)")
    for row in results:
        if not isinstance(row, dict) or not needed <= row.keys():
            raise ValueError(f"{path}: a result lacks {sorted(needed - set(row or ()))}")
    doc.setdefault("machine", {})
    return doc
