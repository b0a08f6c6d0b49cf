"""Fixtures and settings shared by the test files, arranged by layer: core/ (the NumPy API,
the route and the kernels), adapters/ (fastbce.dask, fastbce.metrics, fastbce.torch) and
packaging/ (packaging, typing, documentation, the benchmark command line).

Hypothesis runs with the profile "fastbce" (deterministic: derandomized, no example
database, no deadline; a failing example is printed with its reproduction blob).
FASTBCE_HYPOTHESIS=thorough runs many more, random examples (for hunting, not CI)."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import fastbce


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (minutes each, or large files)")


def pytest_collection_modifyitems(config, items):
    """Tests marked slow are skipped, visibly, unless pytest runs with --slow."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: `pytest --slow` runs it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile(
    "fastbce", derandomize=True, database=None, deadline=None, print_blob=True,
    max_examples=100, suppress_health_check=_SLOW_DATA,
)
settings.register_profile(
    "thorough", derandomize=False, database=None, deadline=None, print_blob=True,
    max_examples=3000, suppress_health_check=_SLOW_DATA,
)
settings.load_profile(os.environ.get("FASTBCE_HYPOTHESIS", "fastbce"))


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def isa():
    """The kernel module under test: the one fastbce chose at import (FASTBCE_ISA picks
    another; CI runs the suite once per module the CPU can run)."""
    return fastbce.show_config()["kernels"]
