"""Fixtures shared by the test files."""

import numpy as np
import pytest

import fastbce


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def isa():
    """The kernel module under test: the one fastbce chose at import (FASTBCE_ISA picks
    another; CI runs the suite once per module the CPU can run)."""
    return fastbce.show_config()["kernels"]
