"""Fixtures shared by the test files."""

import numpy as np
import pytest

from fastbce import _kernels


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture(params=_kernels.available_isas())
def isa(request):
    """Run the test once per vector-kernel instruction set this CPU has."""
    before = _kernels.isa()
    _kernels.select_isa(request.param)
    yield request.param
    _kernels.select_isa(before)
