"""What the benchmark times: one ``Case`` per op, each with its inputs and the rows
(implementations) that compute it.

To add a case, add a ``Case`` to ``CASES``: its op name (the table's "op" column and
``--ops`` value), the ``Inputs`` it is drawn from, and its rows, made by the helpers of
``peers.py`` from the formulas of ``formulas.py``. A weighted mean, say, takes a few lines::

    def _soft_weighted(rng, n, dtype):
        return {**_soft(rng, n, dtype), "w": rng.uniform(0.0, 1.0, n).astype(dtype)}

    WEIGHTED = Inputs("probabilities, soft targets, weights", _soft_weighted)
SOFT_2D = Inputs(f"probabilities, soft targets, (N/{CLASSES}, {CLASSES})", _soft_2d)
    # in CASES:
    Case("forward, weighted", WEIGHTED, (
        fastbce_call("binary_cross_entropy", args=("x", "t", "w")),
        torch_call("binary_cross_entropy", args=("x", "t", "w")),  # weight is its 3rd argument
        numpy_call(numpy_weighted_loss, args=("x", "t", "w")),  # written in formulas.py
    )),

Every case also gets the ``np.dot(x, t)`` floor row. A peer without a row in a case does not
run on it. ``checked`` says which part of a result is compared with fastbce's before timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np

from .formulas import (
    FOCAL_ALPHA,
    FOCAL_GAMMA,
    NUMEXPR_LOSS,
    numpy_focal_loss_and_grad,
    numpy_logits_grad_hess,
    numpy_logits_loss_and_grad,
    numpy_loss,
    numpy_loss_and_grad,
    numpy_loss_over_axis,
    numpy_masked_loss_and_grad,
    numpy_weighted_loss_and_grad,
    torch_focal,
    torch_grad_hess,
    torch_loss_over_axis,
    torch_masked_loss,
    torch_weighted_mean,
)
from .peers import (
    FASTBCE_FULL,
    FASTBCE_NONE,
    FASTBCE_OUT,
    FLOOR_ROW,
    TORCH_OPS,
    fastbce_call,
    numba_call,
    numexpr_mean,
    numpy_call,
    sklearn_call,
    torch_autograd,
    torch_call,
)

DTYPES = ("float32", "float64")
X_EPS = 1e-6  # probabilities x are uniform in [X_EPS, 1 - X_EPS]
LOGIT_SCALE = 3.0  # logits x are normal with mean 0 and this standard deviation


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Inputs:
    """How a case's arrays are drawn. ``draw(rng, n, dtype)`` returns a dict of arrays
    (``x`` and ``t`` at least); cases with the same ``Inputs`` share one draw."""

    name: str
    draw: Callable[[np.random.Generator, int, str], dict]
    stream: tuple = ()  # appended to the seed, so that unrelated inputs are independent

    def make(self, dtype, n, seed):
        rng = np.random.default_rng([seed, n, DTYPES.index(dtype), *self.stream])
        return SimpleNamespace(**self.draw(rng, n, dtype))


def _probabilities(rng, n, dtype):
    return rng.uniform(X_EPS, 1 - X_EPS, n).astype(dtype)


def _soft(rng, n, dtype):
    x = _probabilities(rng, n, dtype)
    return {"x": x, "t": rng.uniform(0.0, 1.0, n).astype(dtype)}


def _labels(rng, n, dtype):
    x = _probabilities(rng, n, dtype)
    return {"x": x, "t": rng.integers(0, 2, n).astype(dtype)}


def _logits(rng, n, dtype):
    x = rng.normal(0.0, LOGIT_SCALE, n).astype(dtype)
    return {"x": x, "t": rng.integers(0, 2, n).astype(dtype)}


def _soft_half_missing(rng, n, dtype):
    """Soft targets, half of them missing (NaN) and masked out by ``keep``."""
    arrays = _soft(rng, n, dtype)
    keep = rng.random(n) < 0.5
    arrays["t"] = np.where(keep, arrays["t"], np.nan).astype(dtype)
    return {**arrays, "keep": keep}


def _soft_weighted(rng, n, dtype):
    return {**_soft(rng, n, dtype), "w": rng.uniform(0.0, 1.0, n).astype(dtype)}


CLASSES = 64  # the columns of the 2-D inputs of the axis cases


def _soft_2d(rng, n, dtype):
    """Soft targets as (n // 64, 64): the first n // 64 * 64 elements (at least one row)."""
    rows = max(1, n // CLASSES)
    arrays = _soft(rng, rows * CLASSES, dtype)
    return {k: a.reshape(rows, CLASSES) for k, a in arrays.items()}


# soft targets and 0/1 labels share the stream, hence the same x
SOFT = Inputs("probabilities, soft targets", _soft)
LABELS = Inputs("probabilities, 0/1 targets", _labels)
LOGITS = Inputs("logits, 0/1 targets", _logits, stream=(1,))
HALF_MISSING = Inputs("probabilities, soft targets, half missing", _soft_half_missing)
WEIGHTED = Inputs("probabilities, soft targets, weights", _soft_weighted)
SOFT_2D = Inputs(f"probabilities, soft targets, (N/{CLASSES}, {CLASSES})", _soft_2d)


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    op: str  # unique; the row label of the table and the --ops value
    inputs: Inputs
    rows: tuple  # peers.Row, in table order (the np.dot floor row is added)
    checked: tuple = (0, "loss")  # (index into a tuple result, its name) compared with fastbce

    @property
    def all_rows(self):
        return (*self.rows, FLOOR_ROW)


def _forward(inputs, op):
    return Case(
        op,
        inputs,
        (
            fastbce_call("binary_cross_entropy"),
            torch_call("binary_cross_entropy"),
            numpy_call(numpy_loss),
            numba_call("loss"),
            numexpr_mean(NUMEXPR_LOSS),
        ),
    )


def _over_axis(axis, op):
    """The mean over one axis of a 2-D input, beside the full mean of the same data (the
    row "fastbce (full mean)", which the axis row is held to)."""
    return Case(
        op,
        SOFT_2D,
        (
            fastbce_call("binary_cross_entropy", axis=axis),
            fastbce_call("binary_cross_entropy", FASTBCE_FULL),
            torch_call(torch_loss_over_axis, axis=axis),
            numpy_call(numpy_loss_over_axis, axis=axis),
        ),
    )


def _fwd_grad(inputs, op):
    return Case(
        op,
        inputs,
        (
            fastbce_call("binary_cross_entropy_and_grad"),
            # the same call without a fresh gradient array each time
            fastbce_call("binary_cross_entropy_and_grad", FASTBCE_OUT, outs=("grad_out",)),
            torch_autograd("binary_cross_entropy"),
            numpy_call(numpy_loss_and_grad),
            numba_call("loss_and_grad"),
        ),
    )


CASES = (
    # the torch tutorial's case first: soft targets, then 0/1 labels, then logits
    _forward(SOFT, "forward, soft t"),
    _fwd_grad(SOFT, "fwd+grad, soft t"),
    _forward(LABELS, "forward, 0/1 t"),
    _fwd_grad(LABELS, "fwd+grad, 0/1 t"),
    Case(
        "logits fwd+grad",
        LOGITS,
        (
            fastbce_call("binary_cross_entropy_with_logits_and_grad"),
            # per-element loss and gradient into preallocated arrays: what sklearn computes
            fastbce_call(
                "binary_cross_entropy_with_logits_and_grad",
                FASTBCE_NONE,
                reduction="none",
                outs=("loss_out", "grad_out"),
            ),
            torch_autograd("binary_cross_entropy_with_logits"),
            numpy_call(numpy_logits_loss_and_grad),
            sklearn_call("loss_gradient", ("loss_out", "gradient_out"), compare=FASTBCE_NONE),
        ),
    ),
    Case(
        "logits grad_hess",
        LOGITS,
        (
            fastbce_call(
                "binary_cross_entropy_with_logits_grad_hess", outs=("grad_out", "hess_out")
            ),
            torch_call(torch_grad_hess, TORCH_OPS),  # torch has no call for both: tensor ops
            numpy_call(numpy_logits_grad_hess),
            sklearn_call("gradient_hessian", ("gradient_out", "hessian_out")),
        ),
        checked=(1, "mean hessian"),
    ),
    Case(
        "fwd+grad, half missing",
        HALF_MISSING,
        (
            fastbce_call("binary_cross_entropy_and_grad", array_kwargs=(("where", "keep"),)),
            torch_autograd(torch_masked_loss, args=("x", "t", "keep")),
            numpy_call(numpy_masked_loss_and_grad, args=("x", "t", "keep")),
        ),
    ),
    Case(
        "fwd+grad, weighted_mean",
        WEIGHTED,
        (
            fastbce_call("binary_cross_entropy_and_grad", args=("x", "t", "w"),
                         reduction="weighted_mean"),
            torch_autograd(torch_weighted_mean, args=("x", "t", "w")),
            numpy_call(numpy_weighted_loss_and_grad, args=("x", "t", "w")),
        ),
    ),
    Case(
        "focal fwd+grad",
        LOGITS,
        (
            fastbce_call("sigmoid_focal_loss_and_grad", alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA,
                         reduction="mean"),
            torch_autograd(torch_focal),
            numpy_call(numpy_focal_loss_and_grad),
        ),
    ),
    # one loss per class and one per sample, in one pass (the table's N is 64 x rows)
    _over_axis(0, "per-class mean (axis=0)"),
    _over_axis(-1, "per-sample mean (axis=-1)"),
)

CASE_BY_OP = {case.op: case for case in CASES}
OPS = tuple(CASE_BY_OP)
assert len(OPS) == len(CASES), "two cases share an op name"


def peers_of(case):
    """The peers with a row in ``case`` (the floor included)."""
    return {row.peer for row in case.all_rows}
