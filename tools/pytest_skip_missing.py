"""A pytest plugin for tools/build_wheels.sh: tests that need a package with no wheel for this
Python are reported as skipped, with the reason, instead of failing.

    FASTBCE_MISSING="torch=no CPU wheel of torch 2.13.0 for Python 3.12;dask=..." \\
        pytest -p pytest_skip_missing

Only the packages named in FASTBCE_MISSING (the ones build_wheels.sh found no wheel for) are
forgiven, and only as a ModuleNotFoundError for exactly that package: a test file that fails
to import for any other reason still fails. The normal suite never loads this plugin: there
the tests import torch directly and fail loudly without it (STYLE.md).
"""

import os
import re

import pytest


def _missing():
    out = {}
    for item in filter(None, os.environ.get("FASTBCE_MISSING", "").split(";")):
        name, _, reason = item.partition("=")
        out[name.strip()] = reason.strip() or f"{name.strip()} is not installed"
    return out


MISSING = _missing()
# Python's message, and mypy's (a type check of a file that imports the package)
_NO_MODULE = re.compile(r"No module named '([A-Za-z0-9_]+)|"
                        r"Cannot find implementation or library stub for module named \"([A-Za-z0-9_]+)")


def _forgiven(text):
    for m in _NO_MODULE.finditer(text or ""):
        name = m.group(1) or m.group(2)
        if name in MISSING:
            return MISSING[name]
    return None


def _chain(exc):
    """The exception and its causes: fastbce.torch raises ImportError("fastbce.torch needs
    PyTorch ...") from the ModuleNotFoundError."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return "\n".join(f"{type(e).__name__}: {e}" for e in seen)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A test file whose import fails on a missing package: one skip for the file."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and isinstance(collector, pytest.Module):
        reason = _forgiven(str(rep.longrepr))
        if reason:
            rep.outcome = "skipped"
            rep.longrepr = (str(collector.path), 0, f"Skipped: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that imports a missing package inside its body (or type-checks a file that
    does): skipped, not failed."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.excinfo is not None:
        reason = _forgiven(_chain(call.excinfo.value))
        if reason:
            rep.outcome = "skipped"
            _, lineno, _ = item.location
            rep.longrepr = (str(item.path), lineno + 1 if lineno is not None else 0,
                            f"Skipped: {reason}")
