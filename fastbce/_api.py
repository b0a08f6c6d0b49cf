"""Public functions and the BCELoss criterion; names and argument order follow torch."""

import numpy as np

from . import _kernels
from ._bce import Out, Problem, check_label_smoothing, check_reduction
from ._config import resolve_num_threads

# The fast path: plain C-contiguous float32/float64 ndarrays, no weight, no pos_weight, no
# label smoothing, and outputs (if given) that the kernel can write directly. Anything else --
# or inputs that turn out not to qualify -- takes Problem, which checks and coerces.
_QUICK = {"none": 0, "mean": 1, "sum": 2}


def _plain_pair(input, target, label_smoothing):
    """Cheap checks before the compiled fast path, which checks dtypes, contiguity and shapes
    itself (an output allocated for inputs it then declines is never touched: np.empty is
    lazy)."""
    return (
        type(input) is np.ndarray
        and type(target) is np.ndarray
        and type(label_smoothing) in (float, int)
        and label_smoothing == 0
    )


def _lean(input, target, weight, reduction, label_smoothing, num_threads, with_grad):
    """The leanest path, for small calls: a reduced probability loss (and its gradient) of
    two plain arrays. None if it does not apply."""
    if not (
        weight is None and type(reduction) is str and (reduction == "mean" or reduction == "sum")
        and _plain_pair(input, target, label_smoothing)
    ):
        return None
    grad = np.empty_like(input, order="C") if with_grad else None
    code = 1 if reduction == "mean" else 2
    total = _kernels.quick(input, target, code, None, grad, None, resolve_num_threads(num_threads), False)
    return None if total is None else (input.dtype.type(total), grad)


def _try_quick(input, target, weight, reduction, label_smoothing, pos_weight, num_threads,
               logits, want=("loss",), outs=(None, None, None)):
    """(loss, grad, hess) from the fast path, those in ``want``; None if it does not apply."""
    if not (
        weight is None and pos_weight is None and type(reduction) is str and reduction in _QUICK
        and _plain_pair(input, target, label_smoothing)
    ):
        return None
    code = _QUICK[reduction]
    bufs = []
    for name, out in zip(("loss", "grad", "hess"), outs):
        if name not in want or (name == "loss" and code != 0):
            if out is not None:
                return None  # a 0-d loss out= for a reduction: the general path
            bufs.append(None)
        elif out is None:
            bufs.append(np.empty_like(input, order="C"))
        elif type(out) is np.ndarray:
            bufs.append(out)  # the kernel checks it can write it as it is
        else:
            return None
    total = _kernels.quick(input, target, code, *bufs, resolve_num_threads(num_threads), logits)
    if total is None:
        return None
    loss = bufs[0] if code == 0 else input.dtype.type(total)
    return loss, bufs[1], bufs[2]


_COMMON = """
    Parameters
    ----------
    input : array_like
        Probabilities in [0, 1], any shape. Its dtype decides the computation: float32 and
        float64 stay as they are, float16 is computed in float32 and returned as float16,
        bool and integer inputs are computed in float64.
    target : array_like
        Same shape as ``input`` exactly (never broadcast), values in [0, 1]; any real dtype,
        cast to the computation dtype.
    weight : array_like, optional
        Rescaling weight that broadcasts to ``input``'s shape (NumPy rules) without enlarging
        it: a scalar, per-column ``(C,)``, per-row ``(N, 1)``, full-shape, ... It is never
        expanded to an input-sized temporary.
    reduction : {"mean", "sum", "none"}
        "none" returns an array of ``input``'s shape; "mean" and "sum" return a NumPy scalar
        (``mean`` of an empty input is NaN, ``sum`` is 0). Sums accumulate in float64.
    label_smoothing : float in [0, 1), default 0
        Targets become ``t * (1 - label_smoothing) + label_smoothing / 2`` (Keras' rule).
    num_threads : int, optional
        Threads for this call. ``None`` uses ``fastbce.set_num_threads``'s value if set, else
        OpenMP's default (``OMP_NUM_THREADS``, threadpoolctl limits). Small inputs always run
        on the calling thread. The result is bit-identical for every thread count.
"""

_RAISES = """
    Raises
    ------
    ValueError
        An element of ``input`` or ``target`` outside [0, 1] or NaN (found during the same
        pass, not by an extra one), mismatched shapes, an unknown reduction, a ragged
        array-like, ``num_threads < 1``, an output of the wrong shape or read-only.
    TypeError
        Complex, string or object data; an output of the wrong dtype; a non-integer
        ``num_threads``.

    Inputs are never modified. The GIL is released while the kernel runs.
"""

_LOSS = "loss_i = -w_i * (t_i * max(log x_i, -100) + (1 - t_i) * max(log(1 - x_i), -100))"
_GRAD = "grad_i = g * w_i * (x_i - t_i) / max(x_i * (1 - x_i), 1e-12), divided by N for mean"


def binary_cross_entropy(
    input, target, weight=None, reduction="mean", *, label_smoothing=0.0, num_threads=None, out=None
):
    if out is None:
        r = _lean(input, target, weight, reduction, label_smoothing, num_threads, False)
        if r is not None:
            return r[0]
    r = _try_quick(input, target, weight, reduction, label_smoothing, None, num_threads, False,
                   outs=(out, None, None))
    if r is not None:
        return r[0]
    p = Problem(input, target, weight, reduction, num_threads, label_smoothing=label_smoothing)
    return _loss(p, out)


def binary_cross_entropy_grad(
    input, target, weight=None, reduction="mean", *, label_smoothing=0.0, grad_output=1.0,
    num_threads=None, out=None,
):
    p = Problem(input, target, weight, reduction, num_threads, label_smoothing=label_smoothing)
    return _grad(p, grad_output, out)


def binary_cross_entropy_and_grad(
    input, target, weight=None, reduction="mean", *, label_smoothing=0.0, num_threads=None,
    loss_out=None, grad_out=None,
):
    if loss_out is None and grad_out is None:
        r = _lean(input, target, weight, reduction, label_smoothing, num_threads, True)
        if r is not None:
            return r
    r = _try_quick(input, target, weight, reduction, label_smoothing, None, num_threads, False,
                   ("loss", "grad"), (loss_out, grad_out, None))
    if r is not None:
        return r[:2]
    p = Problem(input, target, weight, reduction, num_threads, label_smoothing=label_smoothing)
    return _loss_and_grad(p, loss_out, grad_out)


def _loss(p, out):
    if p.reduction == "none":
        loss = Out(out, p, "out")
        p.run(loss=loss)
        return loss.result()
    p.check_scalar_out(out, "out")
    return p.reduced(p.run(want_sum=True), out)


def _grad(p, grad_output, out):
    g, gvec = p.grad_output(grad_output)
    grad = Out(out, p, "out")
    p.run(grad=grad, g=g, gvec=gvec)
    return grad.result()


def _separate(a, a_name, b, b_name):
    if a is not None and b is not None and np.may_share_memory(a, b):
        raise ValueError(f"{a_name} and {b_name} overlap: each output needs its own memory")


def _loss_and_grad(p, loss_out, grad_out):
    _separate(loss_out, "loss_out", grad_out, "grad_out")
    grad = Out(grad_out, p, "grad_out")
    if p.reduction == "none":
        loss = Out(loss_out, p, "loss_out")
        p.run(loss=loss, grad=grad)
        return loss.result(), grad.result()
    p.check_scalar_out(loss_out, "loss_out")
    total = p.run(grad=grad, want_sum=True)
    return p.reduced(total, loss_out), grad.result()


def binary_cross_entropy_with_logits(
    input, target, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
    num_threads=None, out=None,
):
    r = _try_quick(input, target, weight, reduction, label_smoothing, pos_weight, num_threads,
                   True, outs=(out, None, None))
    if r is not None:
        return r[0]
    p = Problem(input, target, weight, reduction, num_threads, logits=True,
                pos_weight=pos_weight, label_smoothing=label_smoothing)
    return _loss(p, out)


def binary_cross_entropy_with_logits_grad(
    input, target, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
    grad_output=1.0, num_threads=None, out=None,
):
    p = Problem(input, target, weight, reduction, num_threads, logits=True,
                pos_weight=pos_weight, label_smoothing=label_smoothing)
    return _grad(p, grad_output, out)


def binary_cross_entropy_with_logits_and_grad(
    input, target, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
    num_threads=None, loss_out=None, grad_out=None,
):
    r = _try_quick(input, target, weight, reduction, label_smoothing, pos_weight, num_threads,
                   True, ("loss", "grad"), (loss_out, grad_out, None))
    if r is not None:
        return r[:2]
    p = Problem(input, target, weight, reduction, num_threads, logits=True,
                pos_weight=pos_weight, label_smoothing=label_smoothing)
    return _loss_and_grad(p, loss_out, grad_out)


def binary_cross_entropy_with_logits_grad_hess(
    input, target, weight=None, pos_weight=None, *, label_smoothing=0.0, num_threads=None,
    grad_out=None, hess_out=None,
):
    r = _try_quick(input, target, weight, "none", label_smoothing, pos_weight, num_threads,
                   True, ("grad", "hess"), (None, grad_out, hess_out))
    if r is not None:
        return r[1:]
    p = Problem(input, target, weight, "none", num_threads, logits=True,
                pos_weight=pos_weight, label_smoothing=label_smoothing)
    _separate(grad_out, "grad_out", hess_out, "hess_out")
    grad = Out(grad_out, p, "grad_out")
    hess = Out(hess_out, p, "hess_out")
    p.run(grad=grad, hess=hess)
    return grad.result(), hess.result()


binary_cross_entropy.__doc__ = f"""Binary cross entropy between probabilities and targets.

    Drop-in for ``torch.nn.functional.binary_cross_entropy`` on NumPy arrays::

        {_LOSS}

    then reduced.
{_COMMON}
    out : ndarray, optional
        Where to write the result: input's shape for "none", 0-d for "mean"/"sum"; dtype the
        result dtype. Returned when given.

    Returns
    -------
    numpy scalar or ndarray
{_RAISES}"""

binary_cross_entropy_grad.__doc__ = f"""Gradient of the binary cross entropy with respect to ``input``.

    Exactly what torch autograd gives for ``loss.backward(grad_output)``::

        {_GRAD}
{_COMMON}
    grad_output : float or array_like, default 1.0
        Upstream gradient ``g``: a scalar, or for ``reduction="none"`` also an array of
        ``input``'s shape.
    out : ndarray, optional
        Input-shaped buffer of the result dtype to write the gradient into.

    Returns
    -------
    ndarray of ``input``'s shape
{_RAISES}"""

binary_cross_entropy_and_grad.__doc__ = f"""Loss and its gradient in one pass over the data.

    Equivalent to calling ``binary_cross_entropy`` and ``binary_cross_entropy_grad`` (with
    ``grad_output=1``) but reads the data once::

        {_LOSS}
        {_GRAD}
{_COMMON}
    loss_out, grad_out : ndarray, optional
        Buffers for the loss (as ``out`` in ``binary_cross_entropy``) and the gradient.

    Returns
    -------
    (loss, grad)
{_RAISES}"""


_LOGITS = """
    input : array_like
        Logits (any real value), any shape; the same dtype policy as the probability family.
        NaN raises ValueError (torch accepts it silently); +-inf is allowed.
    pos_weight : array_like, optional
        Weight of the positive class, broadcast like ``weight`` (typically ``(C,)`` over the
        last axis), never expanded to an input-sized temporary.
"""

_LOGIT_FORMULAS = """
        loss = w * ((1 - t) * x + (1 + (pw - 1) * t) * softplus(-x))
        grad = g * w * ((pw * t + 1 - t) * sigmoid(x) - pw * t), divided by N for mean
        hess = w * (pw * t + 1 - t) * sigmoid(x) * (1 - sigmoid(x))

    with softplus(-x) = max(-x, 0) + log1p(exp(-|x|)): finite for every finite logit."""

binary_cross_entropy_with_logits.__doc__ = f"""Binary cross entropy on logits, like
    ``torch.nn.functional.binary_cross_entropy_with_logits``::
{_LOGIT_FORMULAS}
{_COMMON}{_LOGITS}
    out : ndarray, optional
        As in ``binary_cross_entropy``.
{_RAISES}"""

binary_cross_entropy_with_logits_grad.__doc__ = f"""Gradient of the logits loss with respect
    to ``input``: what torch autograd gives for ``loss.backward(grad_output)``::
{_LOGIT_FORMULAS}
{_COMMON}{_LOGITS}
    grad_output : float or array_like, default 1.0
        As in ``binary_cross_entropy_grad``.
{_RAISES}"""

binary_cross_entropy_with_logits_and_grad.__doc__ = f"""Logits loss and its gradient in one
    pass over the data::
{_LOGIT_FORMULAS}
{_COMMON}{_LOGITS}
{_RAISES}"""

binary_cross_entropy_with_logits_grad_hess.__doc__ = f"""Per-element first and second
    derivatives of the unreduced logits loss, ``(grad, hess)``: what gradient-boosting custom
    objectives (XGBoost, LightGBM) and Newton solvers need::
{_LOGIT_FORMULAS}

    Same parameters as ``binary_cross_entropy_with_logits`` (no reduction: always
    per element); ``grad_out`` and ``hess_out`` are optional input-shaped buffers.
{_RAISES}"""


class _Criterion:
    """Shared plumbing of the criterion classes: stored options, checked once."""

    def __init__(self, weight, reduction, num_threads, label_smoothing, **extra):
        self.weight = weight
        self.reduction = check_reduction(reduction)
        self.label_smoothing = check_label_smoothing(label_smoothing)
        if num_threads is not None:
            resolve_num_threads(num_threads)
        self.num_threads = num_threads
        self._extra = extra

    def _kwargs(self):
        return {
            "weight": self.weight, "reduction": self.reduction, "num_threads": self.num_threads,
            "label_smoothing": self.label_smoothing, **self._extra,
        }

    def __repr__(self):
        w = "None" if self.weight is None else "array"
        return (f"{type(self).__name__}(weight={w}, reduction={self.reduction!r}, "
                f"label_smoothing={self.label_smoothing})")


class BCELoss(_Criterion):
    """Criterion object, like ``torch.nn.BCELoss``: ``BCELoss()(input, target)`` is the loss.

    Parameters
    ----------
    weight : array_like, optional
        Rescaling weight that broadcasts to the input's shape.
    reduction : {"mean", "sum", "none"}
    label_smoothing : float in [0, 1), default 0
    num_threads : int, optional
        Threads for every call of this criterion (``None``: the global default).

    See ``fastbce.binary_cross_entropy`` for the formula, dtype policy and errors.
    """

    def __init__(self, weight=None, reduction="mean", *, label_smoothing=0.0, num_threads=None):
        super().__init__(weight, reduction, num_threads, label_smoothing)

    def __call__(self, input, target, *, out=None):
        return binary_cross_entropy(input, target, out=out, **self._kwargs())

    forward = __call__

    def grad(self, input, target, *, grad_output=1.0, out=None):
        """d(loss)/d(input); see ``fastbce.binary_cross_entropy_grad``."""
        return binary_cross_entropy_grad(input, target, grad_output=grad_output, out=out, **self._kwargs())

    def loss_and_grad(self, input, target, *, loss_out=None, grad_out=None):
        """(loss, grad) in one pass; see ``fastbce.binary_cross_entropy_and_grad``."""
        return binary_cross_entropy_and_grad(
            input, target, loss_out=loss_out, grad_out=grad_out, **self._kwargs()
        )



class BCEWithLogitsLoss(_Criterion):
    """Criterion object, like ``torch.nn.BCEWithLogitsLoss``, with label smoothing.

    ``crit(input, target)`` is the loss; ``.grad``, ``.loss_and_grad`` and ``.grad_hess``
    give derivatives. See ``fastbce.binary_cross_entropy_with_logits`` for the formulas.
    """

    def __init__(self, weight=None, reduction="mean", pos_weight=None, label_smoothing=0.0, *,
                 num_threads=None):
        super().__init__(weight, reduction, num_threads, label_smoothing, pos_weight=pos_weight)

    @property
    def pos_weight(self):
        return self._extra["pos_weight"]

    def __call__(self, input, target, *, out=None):
        return binary_cross_entropy_with_logits(input, target, out=out, **self._kwargs())

    forward = __call__

    def grad(self, input, target, *, grad_output=1.0, out=None):
        """d(loss)/d(input); see ``fastbce.binary_cross_entropy_with_logits_grad``."""
        return binary_cross_entropy_with_logits_grad(
            input, target, grad_output=grad_output, out=out, **self._kwargs()
        )

    def loss_and_grad(self, input, target, *, loss_out=None, grad_out=None):
        """(loss, grad) in one pass."""
        return binary_cross_entropy_with_logits_and_grad(
            input, target, loss_out=loss_out, grad_out=grad_out, **self._kwargs()
        )

    def grad_hess(self, input, target, *, grad_out=None, hess_out=None):
        """Per-element (grad, hess) of the unreduced loss (the reduction does not apply)."""
        kw = self._kwargs()
        del kw["reduction"]
        return binary_cross_entropy_with_logits_grad_hess(
            input, target, grad_out=grad_out, hess_out=hess_out, **kw
        )
