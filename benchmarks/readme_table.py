"""The README's performance tables, from ``bench.py`` and ``floors.py`` JSON files.

    python benchmarks/readme_table.py benchmarks/reference/bench-xeon-avx512-2cores.json
    python benchmarks/readme_table.py RESULTS.json --floors FLOORS.json --update README.md

Prints the Markdown tables, or with ``--update`` rewrites them between the
``<!-- perf-table -->`` (and ``<!-- floors -->``) markers of that file. Rows of the first:
each dtype and op at N = 100 (1 thread) and at the largest N run (1 thread and all
threads), soft targets first; of the second: every row of floors.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MARK_BEGIN = "<!-- perf-table begin -->"
MARK_END = "<!-- perf-table end -->"
FLOORS_BEGIN = "<!-- floors begin -->"
FLOORS_END = "<!-- floors end -->"
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


def floors_table(data):
    rows = ["| row | floor | fastbce | floor's time | ratio | target |", "|---|---|---|---|---|---|"]
    for r in data["rows"]:
        target = f"{r['target']} ({r['result']})" if r["target"] else ""
        rows.append(f"| {r['row']} | {r['floor']} | {fmt_time(r['fastbce_s'])} | "
                    f"{fmt_time(r['floor_s'])} | {r['ratio']:.3f} | {target} |" if r["ratio"] < 0.1 else
                    f"| {r['row']} | {r['floor']} | {fmt_time(r['fastbce_s'])} | "
                    f"{fmt_time(r['floor_s'])} | {r['ratio']:.2f} | {target} |")
    return "\n".join(rows)


def replace_between(text, begin, end, body):
    i, j = text.index(begin), text.index(end)
    return text[: i + len(begin)] + "\n" + body + "\n" + text[j:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="results written by bench.py")
    parser.add_argument("--floors", type=Path, help="results written by floors.py --json")
    parser.add_argument("--update", type=Path, metavar="README", help="rewrite its tables")
    args = parser.parse_args()
    text = table(json.loads(args.json.read_text())["results"])
    floors = None if args.floors is None else floors_table(json.loads(args.floors.read_text()))
    if args.update is None:
        print(text)
        if floors:
            print()
            print(floors)
        return
    readme = replace_between(args.update.read_text(), MARK_BEGIN, MARK_END, text)
    if floors:
        readme = replace_between(readme, FLOORS_BEGIN, FLOORS_END, floors)
    args.update.write_text(readme)


if __name__ == "__main__":
    main()
