"""The README's performance table, from a ``bench.py`` JSON file.

    python benchmarks/readme_table.py benchmarks/reference/bench-zen1-2cores.json
    python benchmarks/readme_table.py RESULTS.json --update README.md

Prints the Markdown table, or with ``--update`` rewrites the table between the
``<!-- perf-table -->`` markers of that file. Rows: each dtype and op at N = 100 (1 thread)
and at the largest N run (1 thread and all threads).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MARK_BEGIN = "<!-- perf-table begin -->"
MARK_END = "<!-- perf-table end -->"
OPS = ("forward, soft t", "fwd+grad, soft t", "forward, 0/1 t", "fwd+grad, 0/1 t",
       "logits fwd+grad", "logits grad_hess")
TORCH_OPS = "torch (ops)"  # torch has no grad/hess call: plain tensor ops, footnote 1


def fmt_time(seconds):
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.1f} ms"


def table(results):
    index = {(r["dtype"], r["n"], r["op"], r["threads"], r["impl"]): r for r in results}
    big = max(r["n"] for r in results)
    header = ("dtype", "op", "N", "threads", "fastbce", "torch", "numpy", "scikit-learn",
              "vs torch", "vs scikit-learn", "fastbce / np.dot")
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dtype in ("float32", "float64"):
        for op in OPS:
            for n, threads in ((100, "1"), (big, "1"), (big, "all")):
                key = (dtype, n, op, threads)

                def get(impl, key=key):
                    return index.get(key + (impl,))

                fast = get("fastbce")
                if fast is None:
                    continue
                torch = get("torch") or get(TORCH_OPS)
                numpy, floor, sk = get("numpy"), get("np.dot floor"), get("sklearn")
                cells = [
                    dtype, op, f"{n:.0e}", str(fast["num_threads"]), fmt_time(fast["time_s"]),
                    "–" if torch is None else
                    fmt_time(torch["time_s"]) + ("¹" if torch["impl"] == TORCH_OPS else ""),
                    "–" if numpy is None else fmt_time(numpy["time_s"]),
                    "–" if sk is None else fmt_time(sk["time_s"]),
                    "–" if torch is None else f"{torch['time_s'] / fast['time_s']:.1f}x",
                    # sklearn's own speedup field is against the row it is comparable with
                    "–" if sk is None else f"{sk['speedup']:.1f}x",
                    "–" if floor is None else f"{fast['time_s'] / floor['time_s']:.1f}x",
                ]
                rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="results written by bench.py")
    parser.add_argument("--update", type=Path, metavar="README", help="rewrite its table")
    args = parser.parse_args()
    text = table(json.loads(args.json.read_text())["results"])
    if args.update is None:
        print(text)
        return
    readme = args.update.read_text()
    begin, end = readme.index(MARK_BEGIN), readme.index(MARK_END)
    args.update.write_text(readme[: begin + len(MARK_BEGIN)] + "\n" + text + "\n" + readme[end:])


if __name__ == "__main__":
    main()
