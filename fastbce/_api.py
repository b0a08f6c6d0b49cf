"""Public functions and the criterion classes; names and argument order follow torch.

Each function is one call of ``_bce.compute``, the single route to the kernel."""

from ._bce import check_label_smoothing, check_reduction, compute
from ._config import resolve_num_threads

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

_COMMON_NO_REDUCTION = _COMMON[:_COMMON.index("    reduction :")] + _COMMON[_COMMON.index("    label_smoothing :"):]

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
    return compute(False, input, target, weight, reduction, None, label_smoothing, num_threads,
                   True, False, False, loss_out=out)[0]


def binary_cross_entropy_grad(
    input, target, weight=None, reduction="mean", *, label_smoothing=0.0, grad_output=1.0,
    num_threads=None, out=None,
):
    return compute(False, input, target, weight, reduction, None, label_smoothing, num_threads,
                   False, True, False, grad_output, grad_out=out)[1]


def binary_cross_entropy_and_grad(
    input, target, weight=None, reduction="mean", *, label_smoothing=0.0, num_threads=None,
    loss_out=None, grad_out=None,
):
    return compute(False, input, target, weight, reduction, None, label_smoothing, num_threads,
                   True, True, False, loss_out=loss_out, grad_out=grad_out)[:2]


def binary_cross_entropy_with_logits(
    input, target, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
    num_threads=None, out=None,
):
    return compute(True, input, target, weight, reduction, pos_weight, label_smoothing,
                   num_threads, True, False, False, loss_out=out)[0]


def binary_cross_entropy_with_logits_grad(
    input, target, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
    grad_output=1.0, num_threads=None, out=None,
):
    return compute(True, input, target, weight, reduction, pos_weight, label_smoothing,
                   num_threads, False, True, False, grad_output, grad_out=out)[1]


def binary_cross_entropy_with_logits_and_grad(
    input, target, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
    num_threads=None, loss_out=None, grad_out=None,
):
    return compute(True, input, target, weight, reduction, pos_weight, label_smoothing,
                   num_threads, True, True, False, loss_out=loss_out, grad_out=grad_out)[:2]


def binary_cross_entropy_with_logits_grad_hess(
    input, target, weight=None, pos_weight=None, *, label_smoothing=0.0, num_threads=None,
    grad_out=None, hess_out=None,
):
    return compute(True, input, target, weight, "none", pos_weight, label_smoothing,
                   num_threads, False, True, True, grad_out=grad_out, hess_out=hess_out)[1:]


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

    The formula torch's autograd uses for ``loss.backward(grad_output)``::

        {_GRAD}

    Elements can differ from torch's by an ulp or so (the scaling by ``grad_output`` and
    1/N rounds differently); they are at least as close to the exact value (tested: the
    largest float32 error over 200,000 elements is no larger than torch's).
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
    to ``input``: the gradient torch's autograd computes for ``loss.backward(grad_output)``,
    evaluated without cancellation where sigmoid(x) is near 1::
{_LOGIT_FORMULAS}

    Elements can differ from torch's in the last bits; float64 results are tested against
    the exact value (within 8 ulp of the size of the formula's terms), not against torch.
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

    Parameters are those of ``binary_cross_entropy_with_logits`` except ``reduction``
    (there is none: the derivatives are per element) and ``out``:
{_COMMON_NO_REDUCTION}{_LOGITS}
    grad_out, hess_out : ndarray, optional
        Input-shaped buffers of the result dtype for the gradient and the hessian.

    Returns
    -------
    (grad, hess), two arrays of ``input``'s shape
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
        def show(value):
            return "None" if value is None else f"<{type(value).__name__}>"

        extra = "".join(f", {k}={show(v)}" for k, v in self._extra.items())
        threads = "" if self.num_threads is None else f", num_threads={self.num_threads}"
        return (f"{type(self).__name__}(weight={show(self.weight)}, "
                f"reduction={self.reduction!r}{extra}, "
                f"label_smoothing={self.label_smoothing}{threads})")


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
