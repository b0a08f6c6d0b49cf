"""The READMEs' performance tables, from ``bench.py`` and ``floors.py`` JSON files.

    python benchmarks/readme_table.py benchmarks/reference/bench-xeon-avx512-2cores.json
    python benchmarks/readme_table.py RESULTS.json --floors FLOORS.json \
        --update README.md --update benchmarks/README.md

Prints the Markdown tables, or with ``--update`` rewrites each table whose markers that
file holds (every file named; a file must hold at least one pair):
- ``<!-- headline -->``: one row per op, soft targets first: float32 and float64 at the
  largest N run on all threads, and float32 at N = 100 on one thread, each beside torch;
- ``<!-- perf-table -->``: each dtype and op at N = 100 (1 thread) and at the largest N
  (1 thread and all threads), with every peer and the ``np.dot`` floor;
- ``<!-- floors -->``: every row of floors.py (needs ``--floors``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MARK_BEGIN = "<!-- perf-table begin -->"
MARK_END = "<!-- perf-table end -->"
FLOORS_BEGIN = "<!-- floors begin -->"
FLOORS_END = "<!-- floors end -->"
HEADLINE_BEGIN = "<!-- headline begin -->"
HEADLINE_END = "<!-- headline end -->"
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


def headline(results):
    """The short table: per op, float32 and float64 at the largest N on all threads and
    float32 at N = 100 on one thread, each with its speed-up over torch."""
    index = {(r["dtype"], r["n"], r["op"], r["threads"], r["impl"]): r for r in results}
    big = max(r["n"] for r in results)
    cols = (("float32", big, "all"), ("float64", big, "all"), ("float32", 100, "1"))

    def cell(key):
        fast = index.get(key + ("fastbce",))
        if fast is None:
            return ["–", "–"]
        torch = index.get(key + ("torch",)) or index.get(key + (TORCH_OPS,))
        mark = "" if torch is None or torch["impl"] != TORCH_OPS else "¹"
        return [fmt_time(fast["time_s"]),
                "–" if torch is None else f"{torch['time_s'] / fast['time_s']:.1f}x{mark}"]

    header = ["op"]
    for dtype, n, threads in cols:
        some = next((r for r in results if (r["dtype"], r["n"], r["threads"], r["impl"])
                     == (dtype, n, threads, "fastbce")), None)
        count = "?" if some is None else some["num_threads"]
        size = "100" if n == 100 else f"{n:.0e}".replace("e+0", "e").replace("e+", "e")
        where = f"{dtype}, N = {size}, {count} thread{'s' if count != 1 else ''}"
        header += [where, "vs torch"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for op in OPS:
        cells = [op]
        for dtype, n, threads in cols:
            cells += cell((dtype, n, op, threads))
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
    parser.add_argument("--update", type=Path, metavar="MARKDOWN", action="append",
                        help="rewrite the tables whose markers this file holds (repeatable)")
    args = parser.parse_args()
    results = json.loads(args.json.read_text())["results"]
    tables = [(HEADLINE_BEGIN, HEADLINE_END, headline(results)),
              (MARK_BEGIN, MARK_END, table(results))]
    if args.floors is not None:
        tables.append((FLOORS_BEGIN, FLOORS_END,
                       floors_table(json.loads(args.floors.read_text()))))
    if not args.update:
        print("\n\n".join(body for _, _, body in tables))
        return
    for path in args.update:
        text = path.read_text()
        found = [(b, e, body) for b, e, body in tables if b in text and e in text]
        if not found:
            parser.error(f"{path} holds none of the markers of the tables made here")
        for begin, end, body in found:
            text = replace_between(text, begin, end, body)
        path.write_text(text)


if __name__ == "__main__":
    main()
