"""Every ```python block of README.md and docs/*.md runs, and prints what the page shows.

A block is run as a script of its own (``__name__ == "__main__"``, a fresh interpreter, a
temporary working directory), with the kernel module the suite runs on (CI runs the suite once
per module with FASTBCE_ISA, which the subprocess inherits). The page shows a print's output as
``# `` comment lines directly below the ``print(...)`` line: one comment line per output line.
A print without such lines is run but not compared. So a number on a page is what every kernel
module prints: pages print with the precision that all of them share (as torch prints 4 digits).
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]  # tests/packaging/ -> the checkout
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
if not PAGES[0].exists():  # the tests alone (as CI runs an sdist's): no pages beside them
    pytest.skip("README.md is not beside these tests", allow_module_level=True)

# run before the block: records each print call's text by the line it was called from
_RECORDER = """\
import builtins as _b, io as _io, json as _json, sys as _sys
_printed = {}
def print(*args, _print=_b.print, **kw):
    if kw.get("file") is None:
        buf = _io.StringIO()
        _print(*args, **{**kw, "file": buf})
        _printed.setdefault(_sys._getframe(1).f_lineno - %d, buf.getvalue())
    _print(*args, **kw)
import atexit as _atexit
if __name__ == "__main__":  # not in the worker processes a cluster spawns from this file
    _atexit.register(lambda: open(%r, "w").write(_json.dumps(_printed)))
"""


def _blocks():
    found = []
    for page in PAGES:
        if not page.exists():  # the docs/ of an sdist may lack pages; README is required
            continue
        lines = page.read_text().splitlines()
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```python":
                start = i + 1
                end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
                found.append((page.relative_to(ROOT).as_posix(), start + 1,
                              [line[len(lines[i]) - len(lines[i].lstrip()):] if line.strip() else ""
                               for line in lines[start:end]]))
                i = end
            i += 1
    return found


def _expected(code):
    """{line number in the block (1-based): expected output text} for prints shown on the page."""
    shown = {}
    for k, line in enumerate(code):
        if re.match(r"\s*print\(", line) and k + 1 < len(code) and re.match(r"\s*# ", code[k + 1]):
            out = []
            for nxt in code[k + 1:]:
                m = re.match(r"\s*# (.*)$", nxt)
                if not m:
                    break
                out.append(m.group(1))
            shown[k + 1] = "\n".join(out) + "\n"
    return shown


BLOCKS = _blocks()


def test_the_pages_have_examples():
    assert any(page == "README.md" for page, _, _ in BLOCKS)
    assert sum(bool(_expected(code)) for _, _, code in BLOCKS) >= 3


@pytest.mark.parametrize("page, line, code", BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_example_runs_and_prints_what_the_page_shows(page, line, code, tmp_path):
    if any(re.match(r"\s*(import|from) xgboost", c) for c in code):
        pytest.importorskip("xgboost")
    if any(re.match(r"\s*(import|from) (sklearn|dask)", c) for c in code):
        pytest.importorskip("sklearn" if "sklearn" in "".join(code) else "dask")
    record = tmp_path / "printed.json"
    header = _RECORDER % (_RECORDER.count("\n"), str(record))
    script = tmp_path / "example.py"
    script.write_text(header + "\n".join(code) + "\n")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, check=False,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, f"{page}:{line} failed:\n{r.stderr[-3000:]}"
    printed = {int(k): v for k, v in json.loads(record.read_text()).items()}
    for k, want in _expected(code).items():
        assert k in printed, f"{page}:{line + k - 1}: the print shown on the page did not run"
        assert printed[k] == want, (
            f"{page}:{line + k - 1} prints\n{printed[k]}but the page shows\n{want}")
