"""mypy on tests/packaging/typing_usage.py (fastbce.torch, fastbce.metrics) and
tests/packaging/typing_numpy_api.py (the NumPy API) against the installed package's inline
annotations (py.typed; its Python modules have no stubs).

The first run builds mypy's cache of torch (about 13 s on the 2-core development machine);
later runs take under a second. Skipped where mypy is not installed (`pip install .[test]`
installs it)."""

import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mypy")


def _mypy(usage_file):
    here = pathlib.Path(__file__).parent
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    # run from tests/, so mypy resolves fastbce to the installed package
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--warn-unused-ignores",
         "--cache-dir", str(here / ".mypy_cache"), usage_file],
        check=False, cwd=here, capture_output=True, text=True, env=env, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_annotations_type_check_the_usage_file():
    _mypy("typing_usage.py")


def test_numpy_api_results_are_typed_by_reduction():
    """A reduced loss is a NumPy floating scalar, "none" and gradients arrays (overloads on
    the reduction literal), both ways: the wrong annotation is an error."""
    _mypy("typing_numpy_api.py")
