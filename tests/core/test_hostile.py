"""Hostile input: every public function called with what it must refuse or handle.

The calls (``hostile_cases.py``: None, strings, dicts, ragged lists, complex, datetime,
structured arrays, zero-size and 32 dimensions, float16, integers, NaN and infinities in
every argument, absurd and non-integer num_threads, wrong, read-only, overlapping and
aliasing out= buffers) run in a child process, so that a crash fails the case that
crashed (and the others still run) instead of ending the test run. Each ends in a
ValueError or TypeError naming the argument, or in the documented result; no argument is
ever modified. One test per argument, each listing every case of it that failed.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import fingerprint

import fastbce

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/: hostile_cases.py
# the child imports the fastbce under test (not whatever its working directory holds)
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastbce.__file__)))


def _run_children(ids):
    """{case id: (ok, detail)}; a child that dies is restarted after the case it died in."""
    results = {}
    todo = list(ids)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_ROOT, HERE]))
    def no_core_dumps():  # a crash is expected of the harness test: do not write a core
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except (ImportError, ValueError, OSError):
            pass

    while todo:
        proc = subprocess.run(
            [sys.executable, "-c", "import hostile_cases; hostile_cases.main()"],
            input=json.dumps(todo), capture_output=True, text=True, env=env, cwd=HERE,
            timeout=300, check=False, preexec_fn=no_core_dumps if os.name == "posix" else None,
        )
        started = None
        for line in proc.stdout.splitlines():
            if not line.startswith("@@hostile "):
                continue
            msg = json.loads(line[len("@@hostile "):])
            if "start" in msg:
                started = msg["start"]
            else:
                results[msg["id"]] = (msg["ok"], msg["detail"])
                started = None
        if started is not None:  # the child died in this case
            results[started] = (False, (f"the process died (exit status {proc.returncode}): "
                                        f"{proc.stderr[-2000:]}"))
        elif proc.returncode != 0 and len(results) < len(ids):
            raise AssertionError(f"the child failed outside any case:\n{proc.stderr[-4000:]}")
        todo = [cid for cid in todo if cid not in results]
    return results


def _groups():
    sys.path.insert(0, HERE)
    import hostile_cases

    groups = {}
    for case in hostile_cases.cases():
        groups.setdefault(case["group"], []).append(case["id"])
    return groups


GROUPS = _groups()


@pytest.fixture(scope="module")
def outcomes():
    import hostile_cases

    results = _run_children([cid for ids in GROUPS.values() for cid in ids])
    table = {c["id"]: c for c in hostile_cases.cases()}
    for cid, (ok, detail) in results.items():
        if ok and isinstance(detail, dict):  # values to compare with torch's, here
            try:
                hostile_cases.compare_like_torch(table[cid], detail["values"])
                results[cid] = (True, "")
            except AssertionError as exc:
                results[cid] = (False, f"wrong result: {exc}")
    return results


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_hostile_arguments(outcomes, group):
    failed = [f"{cid}: {outcomes[cid][1]}" for cid in GROUPS[group] if not outcomes[cid][0]]
    assert not failed, f"{len(failed)} of {len(GROUPS[group])} cases failed:\n" + "\n".join(failed)


def test_every_public_function_is_covered():
    names = " ".join(cid for ids in GROUPS.values() for cid in ids)
    for name in fastbce.__all__:
        assert name in names, f"no hostile case calls {name}"
    assert sum(len(ids) for ids in GROUPS.values()) > 1000


def test_a_crash_fails_its_case_and_the_rest_still_run(tmp_path, monkeypatch):
    """The harness itself: a case that kills the child is reported, and the cases after it
    run in a new child."""
    import hostile_cases

    real = hostile_cases.cases

    def with_a_crash():
        cases = real()[:3]
        cases.insert(1, {"id": "crash", "group": "x", "fn": os.abort, "args": (), "kwargs": {},
                         "expect": ("ok", lambda r: None), "outs": ()})
        return cases

    # the child imports hostile_cases itself: give it a module that crashes on one case
    shim = tmp_path / "hostile_cases.py"
    shim.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {HERE!r})\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('real_cases', {os.path.join(HERE, 'hostile_cases.py')!r})\n"
        "real = importlib.util.module_from_spec(spec); spec.loader.exec_module(real)\n"
        "_cases = real.cases\n"
        "def cases():\n"
        "    c = _cases()[:3]\n"
        "    c.insert(1, {'id': 'crash', 'group': 'x', 'fn': os.abort, 'args': (), 'kwargs': {},\n"
        "                 'expect': ('ok', lambda r: None), 'outs': ()})\n"
        "    return c\n"
        "real.cases = cases\n"
        "main = real.main\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "HERE", str(tmp_path))
    ids = [c["id"] for c in with_a_crash()]
    results = _run_children(ids)
    assert results["crash"][0] is False and "died" in results["crash"][1]
    assert all(results[cid][0] for cid in ids if cid != "crash"), results


# ------------------------------------------------------------------ masked arrays


@pytest.mark.parametrize("logits", [False, True])
def test_masked_elements_are_left_out(logits):
    x = np.ma.masked_array([0.2, 5.0 if not logits else np.nan, 0.7],
                           mask=[False, True, False])
    t = np.array([0.0, 0.5, 1.0])
    fn = fastbce.binary_cross_entropy_with_logits if logits else fastbce.binary_cross_entropy
    before = fingerprint(x)
    got = fn(x, t, reduction="sum")
    assert fingerprint(x) == before
    plain = fn(np.array([0.2, 0.7]), np.array([0.0, 1.0]), reduction="sum")
    assert got == plain
