"""Values out of range, found in the same pass as the math: every path of the kernels that
checks them, with torch's messages, wherever the bad element sits.

The kernels check ranges in several places (``_kernels.pyx``): the per-element loops (one
flag width per dtype), the float32 loop for chunks of 0/1 targets (which checks the input
only), the product path of summed 0/1-target losses (float32 sends a chunk with a bad
element to the per-element path; float64 takes elements outside the path one by one), the
label-smoothing loop (targets), and for logits the per-element loops and the float32
product path. Each test below covers one such path for every bad value and places, in one
test, rather than one test per value. Everything else that is refused (types, shapes,
out= buffers, options) is in ``test_hostile.py``.
"""

import numpy as np
import pytest

import fastbce

N = 40_003  # five blocks (parallel above the threshold) and a partial last chunk
# first element, inside the first chunk, the first element of a later block, inside the
# padded last chunk, the last element
POSITIONS = [0, 31, 3 * 8192, N - 7, N - 1]


def threads(pos):
    """One thread (fast on a busy machine), two for the later block: the flags of blocks
    run in parallel are combined too."""
    return 2 if pos == 3 * 8192 else 1


def bad_values(dtype):
    """Every kind of value outside [0, 1] (NaN included), each nearest [0, 1] too."""
    return [1.5, -0.1, np.nan, np.inf, -np.inf,
            np.nextafter(dtype(1), dtype(2)), -np.finfo(dtype).smallest_subnormal]


PROB_FUNCS = {
    "loss": lambda x, t, **kw: fastbce.binary_cross_entropy(x, t, **kw),
    "grad": lambda x, t, **kw: fastbce.binary_cross_entropy_grad(x, t, **kw),
    "both": lambda x, t, **kw: fastbce.binary_cross_entropy_and_grad(x, t, **kw),
}

# the ways the probability kernels see an element, and what selects each
PROB_PATHS = {
    "soft": ({"reduction": "none"}, "soft"),                   # per-element, two logs
    "hard-chunks": ({"reduction": "none"}, "hard"),            # float32: one log per element
    "product": ({"reduction": "sum"}, "hard"),                 # summed as a product of factors
    "weighted-mean": ({"reduction": "mean", "weight": 0.5}, "hard"),
    "smoothing": ({"reduction": "mean", "label_smoothing": 0.1}, "soft"),
}


def _data(dtype, targets):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.05, 0.95, N).astype(dtype)
    t = (rng.uniform(0, 1, N) < 0.5).astype(dtype) if targets == "hard" else \
        rng.uniform(0, 1, N).astype(dtype)
    return x, t


def _each_bad_element(arr, dtype):
    """Put each bad value at each position in turn (restoring it after)."""
    for pos in POSITIONS:
        keep = arr[pos]
        for v in bad_values(dtype):
            arr[pos] = v
            yield pos, v
        arr[pos] = keep


@pytest.mark.parametrize("path", list(PROB_PATHS))
@pytest.mark.parametrize("func", list(PROB_FUNCS))
@pytest.mark.parametrize("which", ["input", "target"])
def test_probabilities_out_of_range(dtype, path, func, which, isa):
    kwargs, targets = PROB_PATHS[path]
    x, t = _data(dtype, targets)
    saved = x.copy(), t.copy()
    arr = x if which == "input" else t
    for pos, v in _each_bad_element(arr, dtype):
        with pytest.raises(ValueError, match=f"^all elements of {which} should be between 0 and 1($|; )"):
            PROB_FUNCS[func](x, t, num_threads=threads(pos), **kwargs)
    # nothing else was touched, and the restored data is valid again
    np.testing.assert_array_equal(x, saved[0])
    np.testing.assert_array_equal(t, saved[1])
    PROB_FUNCS[func](x, t, **kwargs)


LOGIT_FUNCS = {
    "loss": fastbce.binary_cross_entropy_with_logits,
    "grad": fastbce.binary_cross_entropy_with_logits_grad,
    "both": fastbce.binary_cross_entropy_with_logits_and_grad,
    "grad_hess": lambda x, t, reduction=None, **kw: fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, **kw),
}
LOGIT_PATHS = {
    "none": {"reduction": "none"},
    "product": {"reduction": "sum"},                      # float32 without pos_weight
    "pos_weight": {"reduction": "mean", "pos_weight": 2.0},
    "smoothing": {"reduction": "sum", "label_smoothing": 0.2},
}


@pytest.mark.parametrize("path", list(LOGIT_PATHS))
@pytest.mark.parametrize("func", list(LOGIT_FUNCS))
def test_logits_nan_and_targets_out_of_range(dtype, path, func, isa):
    rng = np.random.default_rng(4)
    x = rng.normal(0, 3, N).astype(dtype)
    t = rng.uniform(0, 1, N).astype(dtype)
    kw = LOGIT_PATHS[path]
    for pos in POSITIONS:
        keep = x[pos]
        x[pos] = np.nan
        with pytest.raises(ValueError, match=r"^input \(logits\) contains NaN$"):
            LOGIT_FUNCS[func](x, t, num_threads=threads(pos), **kw)
        x[pos] = keep
    for pos, v in _each_bad_element(t, dtype):
        with pytest.raises(ValueError, match="^all elements of target should be between 0 and 1($|; )"):
            LOGIT_FUNCS[func](x, t, num_threads=threads(pos), **kw)
    LOGIT_FUNCS[func](x, t, **kw)  # restored: valid


def test_the_input_error_comes_first():
    x, t = np.full(5, 0.5), np.full(5, 0.5)
    x[3], t[1] = 2.0, -1.0
    with pytest.raises(ValueError, match="of input"):
        fastbce.binary_cross_entropy_and_grad(x, t)
    z = np.zeros(5)
    z[4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastbce.binary_cross_entropy_with_logits(z, t)


def test_range_error_with_weight_and_grad_output():
    x = np.full(N, 0.5)
    x[N // 2] = np.nan
    with pytest.raises(ValueError, match="input"):
        fastbce.binary_cross_entropy_grad(x, np.full(N, 0.5), np.ones(N), "none",
                                          grad_output=np.ones(N))


def test_bool_and_int_inputs_are_range_checked():
    with pytest.raises(ValueError, match="input"):
        fastbce.binary_cross_entropy(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="target"):
        fastbce.binary_cross_entropy(np.array([0.5, 0.5]), np.array([0, -1]))


# ------------------------------------------------------------------ the messages


def test_shape_messages():
    x = np.full((2, 5), 0.5)
    with pytest.raises(ValueError, match=r"^target shape \(5, 1\) must equal input shape \(5,\) "):
        fastbce.binary_cross_entropy(x[0], x[0].reshape(5, 1))
    with pytest.raises(ValueError, match=r"^weight shape \(3, 1, 5\) does not broadcast to input shape \(2, 5\)$"):
        fastbce.binary_cross_entropy(x, x, np.ones((3, 1, 5)))
    with pytest.raises(ValueError, match=r"^pos_weight shape \(2,\) does not broadcast"):
        fastbce.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"^grad_output must be a scalar for reduction='mean'"):
        fastbce.binary_cross_entropy_grad(x, x, grad_output=np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"^grad_output shape \(5,\) must equal input shape \(2, 5\)$"):
        fastbce.binary_cross_entropy_grad(x, x, reduction="none", grad_output=np.ones(5))
    with pytest.raises(ValueError, match=r"^out has shape \(5, 2\), expected \(2, 5\)$"):
        fastbce.binary_cross_entropy(x, x, reduction="none", out=np.empty((5, 2)))
    with pytest.raises(TypeError, match=r"^grad_out has dtype float32, expected float64$"):
        fastbce.binary_cross_entropy_and_grad(x, x, grad_out=np.empty((2, 5), np.float32))


def test_the_kernel_modules_have_one_entry_and_it_is_not_a_python_call():
    # the route hands a typed Job record to run_job through a capsule; no module offers a
    # Python-level pass that could be called with an inconsistent argument list
    import importlib

    from fastbce._config import kernels_built

    for name in kernels_built:
        module = importlib.import_module(f"fastbce._kernels_{name}")
        assert type(module.RUN_JOB).__name__ == "PyCapsule"
        assert not hasattr(module, "run")
