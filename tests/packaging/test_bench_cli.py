"""benchmarks/bench.py's command line, run as a subprocess: bad options fail before any
timing with a message naming the option; a tiny run prints the table and writes a JSON
file that parses (and that readme_table.py reads) and a plot. Nothing here asserts a time."""

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fastbce

ROOT = Path(__file__).resolve().parents[2]  # tests/packaging/ -> the checkout
BENCH = ROOT / "benchmarks" / "bench.py"
REFERENCE = ROOT / "benchmarks" / "reference" / "bench-xeon-avx512-2cores.json"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
if not BENCH.exists():  # the sdist ships the tests, not the benchmarks
    pytest.skip("benchmarks/ is not beside these tests", allow_module_level=True)
TINY_OPS = "forward, soft t,logits grad_hess"  # op names hold commas and spaces
TINY = [
    "--sizes", "100,300", "--dtypes", "float32", "--threads", "1", "--min-time", "0.001",
    "--impls", "numpy,floor", "--ops", TINY_OPS,
]  # fmt: skip


def run(*args, script=BENCH, timeout=120):
    """The script in a fresh interpreter that imports the fastbce these tests import."""
    env = dict(os.environ)
    here = str(Path(fastbce.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout,
        env=env, cwd=ROOT, check=False,
    )  # fmt: skip


def assert_usage_error(proc, *fragments):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""  # no table, no partial run
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--min-time", "-1"], ["--min-time", "'-1' is not a positive number of seconds"]),
        (["--min-time", "0"], ["--min-time", "not a positive number"]),
        (["--min-time", "nan"], ["--min-time", "not a positive number"]),
        (["--sizes", "0"], ["--sizes", "not a whole number of elements >= 1"]),
        (["--sizes", "1.5"], ["--sizes", "not a whole number"]),
        (["--sizes", "1e6,x"], ["--sizes", "'x' is not a number"]),
        (["--sizes", ","], ["--sizes", "no size given"]),
        (["--sizes", "1e13"], ["--sizes 1e13 needs about", "GiB"]),
        (["--threads", "0"], ["--threads", "'0' is not a thread count"]),
        (["--dtypes", "float16"], ["--dtypes", "unknown dtype 'float16'"]),
        (["--ops", "forward"], ["--ops", "unknown op 'forward'"]),
        (["--impls", "torch,nosuch"], ["--impls", "unknown implementation 'nosuch'"]),
        (["--seed", "-3"], ["--seed", "not a whole number >= 0"]),
        (["--plot", "out.jpg"], ["--plot", "must end in .png"]),
        (["--plot-from", str(REFERENCE), "--sizes", "100"], ["--plot-from", "--sizes"]),
    ],
)
def test_bad_option_is_a_usage_error(args, fragments):
    assert_usage_error(run(*args), *fragments)


def test_json_path_that_is_a_directory(tmp_path):
    assert_usage_error(run("--json", str(tmp_path)), "--json", "is a directory")


def test_missing_peer_named_in_impls_is_an_error():
    missing = [name for name in ("numba", "numexpr") if importlib.util.find_spec(name) is None]
    if not missing:
        pytest.skip("numba and numexpr are both installed: no peer is missing")
    proc = run("--impls", missing[0], "--sizes", "100", "--json", "", "--plot", "")
    assert_usage_error(proc, f"--impls names {missing[0]}, which cannot be loaded")


def test_peer_that_runs_on_none_of_the_ops_is_an_error():
    proc = run("--impls", "sklearn", "--ops", "forward, soft t", "--json", "", "--plot", "")
    assert_usage_error(proc, "--impls names sklearn, which runs on none of the chosen --ops")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One tiny run: 2 sizes x 2 ops x (fastbce, numpy, floor), its JSON and its plot."""
    out = tmp_path_factory.mktemp("bench")
    plot = out / "plot.png"
    proc = run(*TINY, "--json", str(out / "r.json"), "--plot", str(plot) if HAS_MATPLOTLIB else "")
    return proc, out / "r.json", plot


def test_tiny_run_prints_the_table(tiny):
    proc, _, _ = tiny
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    table = [line for line in proc.stdout.splitlines() if line.startswith("| float32 |")]
    impls = {"fastbce", "numpy", "np.dot floor"}  # fastbce always runs
    assert {line.split(" | ")[4] for line in table} == impls
    assert len(table) == 2 * 2 * len(impls)
    assert "| logits grad_hess |" in proc.stdout and "| forward, soft t |" in proc.stdout
    assert "vs fastbce" in proc.stdout and "(reference)" in proc.stdout


def test_tiny_run_json(tiny):
    proc, path, _ = tiny
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(path.read_text())
    rows = doc["results"]
    assert {(r["n"], r["op"], r["impl"]) for r in rows} == {
        (n, op, impl)
        for n in (100, 300)
        for op in ("forward, soft t", "logits grad_hess")
        for impl in ("fastbce", "numpy", "np.dot floor")
    }
    assert all(r["time_s"] > 0 and r["samples"] >= 3 for r in rows)
    machine = doc["machine"]
    assert machine["peers_run"] == ["fastbce", "numpy", "floor"]
    # versions are recorded whether or not the package ran (torch did not run here)
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    assert machine["torch"] == torch_version
    assert machine["fastbce_config"]["kernels"] == fastbce.show_config()["kernels"]
    # the README's table is made from this format
    table = run(str(path), script=ROOT / "benchmarks" / "readme_table.py")
    assert table.returncode == 0, table.stderr
    assert "| float32 | forward, soft t | 1e+02 | 1 |" in table.stdout


def test_tiny_run_plot(tiny):
    pytest.importorskip("matplotlib")
    proc, _, plot = tiny
    assert proc.returncode == 0, proc.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_from_the_reference_json(tmp_path):
    """The committed reference results redraw (a part of them, to keep this quick)."""
    pytest.importorskip("matplotlib")
    doc = json.loads(REFERENCE.read_text())
    ops = ("fwd+grad, soft t", "logits fwd+grad", "logits grad_hess")
    doc["results"] = [r for r in doc["results"] if r["dtype"] == "float32" and r["op"] in ops]
    part = tmp_path / "part.json"
    part.write_text(json.dumps(doc))
    proc = run("--plot-from", str(part), "--plot", str(tmp_path / "ref.svg"))
    assert proc.returncode == 0, proc.stderr
    svg = (tmp_path / "ref.svg").read_text()
    assert "higher is better" in svg  # the axis label and the title say so
    for label in ("fastbce (grad_out)", "fastbce (none)", "torch (ops)", "sklearn"):
        assert label in svg  # every implementation is in a legend


def test_plot_from_a_file_that_is_not_results(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": []}')
    proc = run("--plot-from", str(bad), "--plot", str(tmp_path / "x.png"))
    assert proc.returncode == 1
    assert "--plot-from" in proc.stderr and "no bench.py results" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_readme_tables_rewritten_between_their_markers(tmp_path):
    """readme_table.py --update rewrites each table whose markers a file holds, leaves the
    text around them, and the headline's cells are the JSON's own times and ratios."""
    doc = json.loads(REFERENCE.read_text())
    rec = {(r["dtype"], r["n"], r["op"], r["threads"], r["impl"]): r for r in doc["results"]}
    short = tmp_path / "short.md"
    short.write_text("intro\n<!-- headline begin -->\nold\n<!-- headline end -->\noutro\n")
    full = tmp_path / "full.md"
    full.write_text("<!-- perf-table begin -->\n<!-- perf-table end -->\ntail\n")
    tables = ROOT / "benchmarks" / "readme_table.py"
    proc = run(str(REFERENCE), "--update", str(short), "--update", str(full), script=tables)
    assert proc.returncode == 0, proc.stderr
    text = short.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert "| float32 | forward, soft t |" not in text  # the full table went elsewhere
    row = next(line for line in text.splitlines() if line.startswith("| fwd+grad, 0/1 t |"))
    cells = row.strip("|").split(" | ")
    fast = rec[("float64", 10**7, "fwd+grad, 0/1 t", "all", "fastbce")]["time_s"]
    torch = rec[("float64", 10**7, "fwd+grad, 0/1 t", "all", "torch")]["time_s"]
    assert cells[3] == f"{fast * 1e3:.1f} ms" and cells[4] == f"{torch / fast:.1f}x"
    assert "| float32 | forward, soft t | 1e+02 | 1 |" in full.read_text()
    assert full.read_text().endswith("tail\n")
    # a file with none of the markers is an error, and is left as it was
    plain = tmp_path / "plain.md"
    plain.write_text("no tables here\n")
    proc = run(str(REFERENCE), "--update", str(plain), script=tables)
    assert proc.returncode == 2 and "none of the markers" in proc.stderr
    assert plain.read_text() == "no tables here\n"


def test_tiny_run_says_how_long_it_takes_and_shows_each_rows_spread(tiny):
    proc, path, _ = tiny
    assert proc.returncode == 0, proc.stderr
    # 1 dtype x 2 sizes x 2 ops x 1 thread count; said before the first configuration runs
    first = proc.stderr.index("configurations, about")
    assert proc.stderr.index("[1/4]") > first
    assert "4 configurations, about" in proc.stderr and "--quick runs a smoke version" in proc.stderr
    assert "| time/call | spread | M el/s |" in proc.stdout
    assert all(0 <= r["spread"] < 100 for r in json.loads(path.read_text())["results"])


def _report():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from benchlib import report
    finally:
        sys.path.pop(0)
    return report


def test_rows_whose_samples_disagree_are_flagged():
    report = _report()
    assert report.spread([1.0, 1.0, 1.0]) == 0
    assert report.spread([1.0, 1.0, 2.0, 3.0, 1.0]) == pytest.approx(1.0)  # q1 1, q3 2, median 1

    def row(impl, threads, time_s, spread):
        return {"dtype": "float32", "n": 10**7, "op": "forward, soft t", "threads": str(threads),
                "num_threads": threads, "impl": impl, "time_s": time_s, "mel_per_s": 1.0,
                "spread": spread, "speedup": 2.0, "speedup_reference": "fastbce",
                "fastbce_over_floor": None}

    rows = [row("fastbce", 1, 1.0e-3, 0.02), row("torch", 1, 3.6, 0.9),
            row("fastbce", 2, 1.2e-3, 0.01)]
    table = report.format_table(rows).splitlines()
    assert "| 90% ! |" in table[3] and "| 2% |" in table[2]
    notes = "\n".join(report.table_notes(rows))
    assert "! 1 of 3 rows have a spread above 10%" in notes
    assert "fastbce took longer on 2 threads than on 1 at float32 N=1e7 forward, soft t" in notes
    quiet = [row("fastbce", 1, 1.0e-3, 0.02), row("fastbce", 2, 0.6e-3, 0.01)]
    assert "!" not in "\n".join(report.table_notes(quiet))


def test_compare_builds_runs_a_build_against_itself(tmp_path):
    """compare_builds.py with this very build as the "old" one: one row per op, dtype, size
    and thread count, each ratio the median of the rounds' ratios, between its quartiles."""
    site = Path(fastbce.__file__).resolve().parent.parent
    out = tmp_path / "ab.json"
    proc = run("--old", str(site), "--sizes", "100", "--threads", "1", "--rounds", "3",
               "--min-time", "0.001", "--json", str(out),
               script=ROOT / "benchmarks" / "compare_builds.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 12 and "worst new/old" in proc.stdout
    for row in rows:
        assert row["ratio_q1"] <= row["ratio"] <= row["ratio_q3"], row
        assert row["new_s"] > 0 and row["old_s"] > 0
