"""The plot: throughput (M elements / s, higher is better) against N, log-log.

One row of panels per op, one column per dtype (so every panel holds data), and beside each
row a legend of the implementations in it: one colour and marker per implementation, one
line style per thread count (solid: every core).
"""

from __future__ import annotations

from pathlib import Path

from .cases import OPS
from .peers import (
    FASTBCE,
    FASTBCE_FULL,
    FASTBCE_NONE,
    FASTBCE_OUT,
    FLOOR,
    SKLEARN,
    TORCH,
    TORCH_OPS,
)

STYLE = {  # row label -> (colour, marker); fastbce's rows in reds and purples, peers apart
    FASTBCE: ("#d62728", "o"),
    FASTBCE_OUT: ("#e377c2", "s"),
    FASTBCE_NONE: ("#9467bd", "D"),
    FASTBCE_FULL: ("#8b0000", "d"),
    TORCH: ("#ff7f0e", "^"),
    TORCH_OPS: ("#b8860b", "v"),
    "numpy": ("#1f77b4", "P"),
    "numba": ("#2ca02c", "X"),
    "numexpr": ("#17becf", "*"),
    SKLEARN: ("#8c564b", "h"),
    FLOOR: ("#707070", "."),  # a reference line, drawn thin
}
SPARE_COLOURS = ("#7f7f7f", "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173")
DASHES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))  # fewer threads than the most
SUPPORTED = ("png", "pdf", "svg")  # suffixes --plot accepts


def _styles(labels):
    """A (colour, marker) per row label: fixed for the known rows, spare ones for others."""
    spare = iter(SPARE_COLOURS * (1 + len(labels) // len(SPARE_COLOURS)))
    return {label: STYLE.get(label) or (next(spare), "o") for label in labels}


def _thread_styles(rows):
    """Thread label -> (line style, legend text): the most threads solid, fewer dashed."""
    counts = sorted({(r["num_threads"], r["threads"]) for r in rows}, reverse=True)
    styles = {}
    for i, (count, label) in enumerate(counts):
        text = f"{count} thread{'s' if count > 1 else ''}" + (" (all)" if label == "all" else "")
        styles[label] = ("-" if i == 0 else DASHES[(i - 1) % len(DASHES)], text)
    return styles


def _panel(ax, rows, styles, threads):
    from matplotlib import ticker

    for label in dict.fromkeys(r["impl"] for r in rows):
        colour, marker = styles[label]
        for thread_label, (dash, _) in threads.items():
            pts = sorted(
                (r["n"], r["mel_per_s"])
                for r in rows
                if r["impl"] == label and r["threads"] == thread_label
            )
            if pts:
                ax.plot(
                    [n for n, _ in pts],
                    [v for _, v in pts],
                    color=colour,
                    marker=marker,
                    markersize=5,
                    linestyle=dash,
                    linewidth={FASTBCE: 2.4, FLOOR: 1.0}.get(label, 1.4),
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    # decades of N; 2 and 5 between decades of throughput (all minor ticks make it slow)
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)


def _legend(ax, labels, styles, threads):
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=styles[label][0], marker=styles[label][1], linewidth=2)
        for label in labels
    ]
    handles += [Line2D([], [], color="black", linestyle=dash) for dash, _ in threads.values()]
    texts = list(labels) + [text for _, text in threads.values()]
    ax.legend(handles, texts, loc="center left", frameon=False, fontsize="small", handlelength=3)
    ax.set_axis_off()


def title(machine):
    cpu = machine.get("cpu", "unknown CPU")
    cores = machine.get("logical_cores")
    kernels = (machine.get("fastbce_config") or {}).get("kernels")
    parts = [cpu] + ([f"{cores} logical cores"] if cores else [])
    parts += [f"fastbce kernels {kernels}"] if kernels else []
    return "fastbce benchmark: throughput, higher is better\n" + ", ".join(parts)


def write_plot(path, rows, machine):
    """Draw ``rows`` (records of report.make_rows or a JSON file) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops_run = {r["op"] for r in rows}
    ops = [op for op in OPS if op in ops_run] + sorted(ops_run - set(OPS))
    dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
    labels = list(dict.fromkeys(r["impl"] for r in rows))
    styles, threads = _styles(labels), _thread_styles(rows)
    n_cols = len(dtypes)
    fig, axes = plt.subplots(
        len(ops),
        n_cols + 1,
        figsize=(4.6 * n_cols + 2.3, 3.3 * len(ops) + 0.9),
        squeeze=False,
        gridspec_kw={"width_ratios": [1] * n_cols + [0.5]},
        layout="constrained",
    )
    for i, op in enumerate(ops):
        op_rows = [r for r in rows if r["op"] == op]
        for j, dtype in enumerate(dtypes):
            ax = axes[i][j]
            _panel(ax, [r for r in op_rows if r["dtype"] == dtype], styles, threads)
            ax.set_title(f"{op}, {dtype}", fontsize="medium")
            if j > 0:
                ax.sharey(axes[i][0])
            if j == 0:
                ax.set_ylabel("M elements / s\n(higher is better)")
            if i == len(ops) - 1:
                ax.set_xlabel("N (elements)")
        _legend(axes[i][n_cols], list(dict.fromkeys(r["impl"] for r in op_rows)), styles, threads)
    fig.suptitle(title(machine))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text in an SVG
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
