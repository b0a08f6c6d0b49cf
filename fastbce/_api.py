"""Public functions and the criterion classes; names and argument order follow torch.

Each function is one call of ``_bce.compute``, the single route to the kernel."""

from ._bce import compute
from ._checks import (
    check_axis,
    check_clamp_log,
    check_focal,
    check_keepdims,
    check_label_smoothing,
    check_num_threads,
    check_reduction,
)

# Parameter descriptions, each written once; a docstring lists the ones its function has.
_COMMON_HEAD = """
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
"""

_REDUCTION = """    reduction : {"mean", "sum", "none", "weighted_mean"}
        "none" returns an array of ``input``'s shape; the others a NumPy scalar: "sum" the
        sum, "mean" the sum over the number of counted elements (all but those ``where``
        excludes), "weighted_mean" the sum over the counted elements' summed ``weight``
        (``np.average``'s and scikit-learn's weighted mean; "mean" without a weight). A
        mean over nothing (no element counted, or weights summing to 0) is NaN. Sums
        accumulate in float64.
    axis : int or tuple of ints, optional
        Reduce over these axes only (NumPy's semantics: negative axes count from the end;
        ``None``, the default, reduces everything): "mean", "sum" and "weighted_mean" then
        return an array of the remaining axes' shape, each slot the mean, sum or weighted
        mean of its own slice (a slice with nothing counted is NaN). Computed in the same
        single pass, without an input-sized temporary. Not with "none".
    keepdims : bool, default False
        Keep the reduced axes as axes of length 1 (NumPy's ``keepdims``).
"""

_COMMON_TAIL = """    label_smoothing : float in [0, 1), default 0
        Targets become ``t * (1 - label_smoothing) + label_smoothing / 2`` (Keras' rule).
    where : array_like of bool, optional
        Which elements count (NumPy's ``where=``, broadcast to ``input``'s shape without
        enlarging it): where False an element has loss 0, gradient 0 (and hessian 0), is not
        range-checked (a NaN target there, the usual missing label, is fine) and is not
        counted by "mean". A ``numpy.ma.MaskedArray`` input or target adds ``~mask``.
    num_threads : int, optional
        Threads for this call. ``None`` uses ``fastbce.set_num_threads``'s value if set, else
        OpenMP's default (``OMP_NUM_THREADS``, threadpoolctl limits). Small inputs always run
        on the calling thread. The result is bit-identical for every thread count.
"""

_COMMON = _COMMON_HEAD + _REDUCTION + _COMMON_TAIL
_COMMON_NO_REDUCTION = _COMMON_HEAD + _COMMON_TAIL

_CLAMP = """    clamp_log : bool, default True
        True: each log is clamped at -100 and the gradient's denominator at 1e-12, as in
        PyTorch. False: the exact loss (+inf at a wrong saturated prediction, x = 0 with
        t > 0 or x = 1 with t < 1; 0 log 0 counts 0) and the exact gradient
        ``(1 - t) / (1 - x) - t / x`` (infinite there): a departure from PyTorch.
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

    Inputs are never modified. The GIL is released while the kernel runs (on inputs of
    ``show_config()["nogil_threshold"]`` elements or more).
"""

_LOSS = "loss_i = -w_i * (t_i * max(log x_i, -100) + (1 - t_i) * max(log(1 - x_i), -100))"
_GRAD = "grad_i = g * w_i * (x_i - t_i) / max(x_i * (1 - x_i), 1e-12), divided by N for mean"


def binary_cross_entropy(
    input, target, weight=None, reduction="mean", *, label_smoothing=0.0, where=None,
    clamp_log=True, axis=None, keepdims=False, num_threads=None, out=None,
):
    return compute(input, target, weight=weight, reduction=reduction,
                   label_smoothing=label_smoothing, where=where, clamp_log=clamp_log,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_loss=True,
                   loss_out=out)[0]


def binary_cross_entropy_grad(
    input, target, weight=None, reduction="mean", *, label_smoothing=0.0, where=None,
    clamp_log=True, grad_output=1.0, axis=None, keepdims=False, num_threads=None, out=None,
):
    return compute(input, target, weight=weight, reduction=reduction,
                   label_smoothing=label_smoothing, where=where, clamp_log=clamp_log,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_grad=True,
                   grad_output=grad_output, grad_out=out)[1]


def binary_cross_entropy_and_grad(
    input, target, weight=None, reduction="mean", *, label_smoothing=0.0, where=None,
    clamp_log=True, axis=None, keepdims=False, num_threads=None, loss_out=None, grad_out=None,
):
    return compute(input, target, weight=weight, reduction=reduction,
                   label_smoothing=label_smoothing, where=where, clamp_log=clamp_log,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_loss=True,
                   want_grad=True, loss_out=loss_out, grad_out=grad_out)[:2]


def binary_cross_entropy_with_logits(
    input, target, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
    where=None, axis=None, keepdims=False, num_threads=None, out=None,
):
    return compute(input, target, logits=True, weight=weight, reduction=reduction,
                   pos_weight=pos_weight, label_smoothing=label_smoothing, where=where,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_loss=True,
                   loss_out=out)[0]


def binary_cross_entropy_with_logits_grad(
    input, target, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
    where=None, grad_output=1.0, axis=None, keepdims=False, num_threads=None, out=None,
):
    return compute(input, target, logits=True, weight=weight, reduction=reduction,
                   pos_weight=pos_weight, label_smoothing=label_smoothing, where=where,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_grad=True,
                   grad_output=grad_output, grad_out=out)[1]


def binary_cross_entropy_with_logits_and_grad(
    input, target, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
    where=None, axis=None, keepdims=False, num_threads=None, loss_out=None, grad_out=None,
):
    return compute(input, target, logits=True, weight=weight, reduction=reduction,
                   pos_weight=pos_weight, label_smoothing=label_smoothing, where=where,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_loss=True,
                   want_grad=True, loss_out=loss_out, grad_out=grad_out)[:2]


def binary_cross_entropy_with_logits_grad_hess(
    input, target, weight=None, pos_weight=None, *, label_smoothing=0.0, where=None,
    num_threads=None, grad_out=None, hess_out=None,
):
    return compute(input, target, logits=True, weight=weight, reduction="none",
                   pos_weight=pos_weight, label_smoothing=label_smoothing, where=where,
                   num_threads=num_threads, want_grad=True, want_hess=True, grad_out=grad_out,
                   hess_out=hess_out)[1:]


def sigmoid_focal_loss(
    input, target, alpha=0.25, gamma=2.0, reduction="none", *, weight=None, where=None,
    axis=None, keepdims=False, num_threads=None, out=None,
):
    return compute(input, target, logits=True, focal=check_focal(alpha, gamma), weight=weight,
                   reduction=reduction, where=where, num_threads=num_threads, axis=axis,
                   keepdims=keepdims, want_loss=True, loss_out=out)[0]


def sigmoid_focal_loss_grad(
    input, target, alpha=0.25, gamma=2.0, reduction="none", *, weight=None, where=None,
    grad_output=1.0, axis=None, keepdims=False, num_threads=None, out=None,
):
    return compute(input, target, logits=True, focal=check_focal(alpha, gamma), weight=weight,
                   reduction=reduction, where=where, num_threads=num_threads, axis=axis,
                   keepdims=keepdims, want_grad=True, grad_output=grad_output, grad_out=out)[1]


def sigmoid_focal_loss_and_grad(
    input, target, alpha=0.25, gamma=2.0, reduction="none", *, weight=None, where=None,
    axis=None, keepdims=False, num_threads=None, loss_out=None, grad_out=None,
):
    return compute(input, target, logits=True, focal=check_focal(alpha, gamma), weight=weight,
                   reduction=reduction, where=where, num_threads=num_threads, axis=axis,
                   keepdims=keepdims, want_loss=True, want_grad=True, loss_out=loss_out,
                   grad_out=grad_out)[:2]


def sigmoid_focal_loss_grad_hess(
    input, target, alpha=0.25, gamma=2.0, *, weight=None, where=None, num_threads=None,
    grad_out=None, hess_out=None,
):
    return compute(input, target, logits=True, focal=check_focal(alpha, gamma), weight=weight,
                   reduction="none", where=where, num_threads=num_threads, want_grad=True,
                   want_hess=True, grad_out=grad_out, hess_out=hess_out)[1:]


binary_cross_entropy.__doc__ = f"""Binary cross entropy between probabilities and targets.

    Drop-in for ``torch.nn.functional.binary_cross_entropy`` on NumPy arrays::

        {_LOSS}

    then reduced.
{_COMMON}{_CLAMP}
    out : ndarray, optional
        Where to write the result: input's shape for "none", 0-d for "mean"/"sum" (the
        reduced shape with ``axis``); dtype the result dtype (or float64: the float64 sums
        or means, unrounded).
        Returned when given.

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
{_COMMON}{_CLAMP}
    grad_output : float or array_like, default 1.0
        Upstream gradient ``g``: a scalar; for "none" also an array of ``input``'s shape;
        with ``axis``, an array that broadcasts to the reduced shape (the gradient is then
        that of ``sum(grad_output * loss)``).
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
{_COMMON}{_CLAMP}
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


_FOCAL_HEAD = """
    input : array_like
        Logits, any shape (the dtype policy of the other functions).
    target : array_like
        Same shape as ``input``, values in [0, 1] (soft targets allowed).
    alpha : float, default 0.25
        Weight of the positive class: ``alpha_t = alpha t + (1 - alpha)(1 - t)``; a negative
        alpha turns the term off (``alpha_t = 1``), as in torchvision.
    gamma : float >= 0, default 2.0
        Focusing exponent; ``gamma = 0`` gives ``alpha_t`` times the BCE on logits.
"""

_FOCAL_REDUCTION = """    reduction : {"none", "mean", "sum", "weighted_mean"}, default "none"
        As in the other functions (torchvision's default is "none").
    axis, keepdims : optional
        As in the other functions: reduce over these axes only.
"""

_FOCAL_TAIL = """    weight : array_like, optional
        Per-element rescaling broadcast to ``input``'s shape (a fastbce extension).
    where : array_like of bool, optional
        As in the other functions.
    num_threads : int, optional
        As in the other functions.
"""

_FOCAL = _FOCAL_HEAD + _FOCAL_REDUCTION + _FOCAL_TAIL

_FOCAL_FORMULAS = """
        p = sigmoid(x),  ce = BCE with logits(x, t),  p_t = p t + (1 - p)(1 - t)
        loss = w * alpha_t * ce * (1 - p_t) ** gamma

    exactly torchvision.ops.sigmoid_focal_loss's definition, evaluated without overflow or
    cancellation for every finite logit (the derivation is in docs/design.md)."""

sigmoid_focal_loss.__doc__ = f"""Focal loss on logits, like ``torchvision.ops.sigmoid_focal_loss``::
{_FOCAL_FORMULAS}

    Parameters
    ----------{_FOCAL}
    out : ndarray, optional
        As in ``binary_cross_entropy``.

    Returns
    -------
    numpy scalar or ndarray
{_RAISES}"""

sigmoid_focal_loss_grad.__doc__ = f"""Gradient of the focal loss with respect to the logits
    (analytic: what torch's autograd gives for torchvision's formula), for the same
    ``reduction`` (divided by the count for "mean")::
{_FOCAL_FORMULAS}

    Parameters
    ----------{_FOCAL}
    grad_output : float or array_like, default 1.0
        As in ``binary_cross_entropy_grad``.
    out : ndarray, optional
        Input-shaped buffer for the gradient.

    Returns
    -------
    ndarray of ``input``'s shape
{_RAISES}"""

sigmoid_focal_loss_and_grad.__doc__ = f"""Focal loss and its gradient in one pass::
{_FOCAL_FORMULAS}

    Parameters
    ----------{_FOCAL}
    loss_out, grad_out : ndarray, optional
        As in ``binary_cross_entropy_and_grad``.

    Returns
    -------
    (loss, grad)
{_RAISES}"""

sigmoid_focal_loss_grad_hess.__doc__ = f"""Per-element first and second derivatives of the
    unreduced focal loss with respect to the logits, ``(grad, hess)``: a gradient-boosting
    objective (XGBoost, LightGBM). The hessian is not always positive (the focal loss is
    not convex in the logit for gamma > 0); clip it if your booster needs that::
{_FOCAL_FORMULAS}

    Parameters
    ----------{_FOCAL_HEAD}{_FOCAL_TAIL}
    grad_out, hess_out : ndarray, optional
        Input-shaped buffers for the two results.

    Returns
    -------
    (grad, hess), two arrays of ``input``'s shape
{_RAISES}"""


_ABSENT = object()  # a criterion without label smoothing (the focal loss has none)


class _Criterion:
    """Shared plumbing of the criterion classes: stored options, checked once."""

    def __init__(self, weight, reduction, num_threads, label_smoothing, axis, keepdims,
                 **extra):
        self.weight = weight
        self.reduction = check_reduction(reduction)
        # checked against NumPy's largest rank here (types, "none", repeats) and again
        # against each call's input
        check_axis(axis, 64, self.reduction)
        self.axis = axis
        self.keepdims = check_keepdims(keepdims, self.reduction)
        self.label_smoothing = (label_smoothing if label_smoothing is _ABSENT
                                else check_label_smoothing(label_smoothing))
        if num_threads is not None:
            check_num_threads(num_threads)
        self.num_threads = num_threads
        self._extra = extra

    def _kwargs(self, reducing=True):
        """The stored options as keywords; ``reducing=False`` leaves out the reduction's
        (for grad_hess, whose derivatives are per element)."""
        kw = {"weight": self.weight, "num_threads": self.num_threads, **self._extra}
        if reducing:
            kw.update(reduction=self.reduction, axis=self.axis, keepdims=self.keepdims)
        if self.label_smoothing is not _ABSENT:
            kw["label_smoothing"] = self.label_smoothing
        return kw

    def __repr__(self):
        def show(value):
            if value is None or isinstance(value, (bool, int, float)):
                return repr(value)
            return f"<{type(value).__name__}>"

        extra = "".join(f", {k}={show(v)}" for k, v in self._extra.items())
        smooth = ("" if self.label_smoothing is _ABSENT
                  else f", label_smoothing={self.label_smoothing}")
        threads = "" if self.num_threads is None else f", num_threads={self.num_threads}"
        axis = "" if self.axis is None else f", axis={self.axis!r}"
        keep = ", keepdims=True" if self.keepdims else ""
        return (f"{type(self).__name__}(weight={show(self.weight)}, "
                f"reduction={self.reduction!r}{extra}{smooth}{axis}{keep}{threads})")


class BCELoss(_Criterion):
    """Criterion object, like ``torch.nn.BCELoss``: ``BCELoss()(input, target)`` is the loss.

    Parameters
    ----------
    weight : array_like, optional
        Rescaling weight that broadcasts to the input's shape.
    reduction : {"mean", "sum", "none", "weighted_mean"}
    label_smoothing : float in [0, 1), default 0
    clamp_log : bool, default True
        False: the exact, unclamped loss and gradient (see ``binary_cross_entropy``).
    axis, keepdims : optional
        Reduce over these axes only (see ``binary_cross_entropy``).
    num_threads : int, optional
        Threads for every call of this criterion (``None``: the global default).

    Each call takes ``where=`` (which elements count) for that batch. See
    ``fastbce.binary_cross_entropy`` for the formula, dtype policy and errors.
    """

    def __init__(self, weight=None, reduction="mean", *, label_smoothing=0.0, clamp_log=True,
                 axis=None, keepdims=False, num_threads=None):
        extra = {} if check_clamp_log(clamp_log) else {"clamp_log": False}
        super().__init__(weight, reduction, num_threads, label_smoothing, axis, keepdims,
                         **extra)

    def __call__(self, input, target, *, where=None, out=None):
        return binary_cross_entropy(input, target, where=where, out=out, **self._kwargs())

    forward = __call__

    def grad(self, input, target, *, where=None, grad_output=1.0, out=None):
        """d(loss)/d(input); see ``fastbce.binary_cross_entropy_grad``."""
        return binary_cross_entropy_grad(input, target, where=where, grad_output=grad_output,
                                         out=out, **self._kwargs())

    def loss_and_grad(self, input, target, *, where=None, loss_out=None, grad_out=None):
        """(loss, grad) in one pass; see ``fastbce.binary_cross_entropy_and_grad``."""
        return binary_cross_entropy_and_grad(
            input, target, where=where, loss_out=loss_out, grad_out=grad_out, **self._kwargs()
        )



class BCEWithLogitsLoss(_Criterion):
    """Criterion object, like ``torch.nn.BCEWithLogitsLoss``, with label smoothing.

    ``crit(input, target)`` is the loss; ``.grad``, ``.loss_and_grad`` and ``.grad_hess``
    give derivatives. See ``fastbce.binary_cross_entropy_with_logits`` for the formulas.
    """

    def __init__(self, weight=None, reduction="mean", pos_weight=None, *, label_smoothing=0.0,
                 axis=None, keepdims=False, num_threads=None):
        super().__init__(weight, reduction, num_threads, label_smoothing, axis, keepdims,
                         pos_weight=pos_weight)

    @property
    def pos_weight(self):
        return self._extra["pos_weight"]

    def __call__(self, input, target, *, where=None, out=None):
        return binary_cross_entropy_with_logits(input, target, where=where, out=out,
                                                **self._kwargs())

    forward = __call__

    def grad(self, input, target, *, where=None, grad_output=1.0, out=None):
        """d(loss)/d(input); see ``fastbce.binary_cross_entropy_with_logits_grad``."""
        return binary_cross_entropy_with_logits_grad(
            input, target, where=where, grad_output=grad_output, out=out, **self._kwargs()
        )

    def loss_and_grad(self, input, target, *, where=None, loss_out=None, grad_out=None):
        """(loss, grad) in one pass."""
        return binary_cross_entropy_with_logits_and_grad(
            input, target, where=where, loss_out=loss_out, grad_out=grad_out, **self._kwargs()
        )

    def grad_hess(self, input, target, *, where=None, grad_out=None, hess_out=None):
        """Per-element (grad, hess) of the unreduced loss (the reduction does not apply)."""
        kw = self._kwargs(reducing=False)
        return binary_cross_entropy_with_logits_grad_hess(
            input, target, where=where, grad_out=grad_out, hess_out=hess_out, **kw
        )


class SigmoidFocalLoss(_Criterion):
    """Criterion object for ``fastbce.sigmoid_focal_loss``: ``crit(input, target)`` is the
    loss; ``.grad``, ``.loss_and_grad`` and ``.grad_hess`` give derivatives.

    Parameters
    ----------
    alpha : float, default 0.25
    gamma : float >= 0, default 2.0
    reduction : {"none", "mean", "sum", "weighted_mean"}, default "none"
    weight : array_like, optional
    axis, keepdims : optional
        Reduce over these axes only (see ``binary_cross_entropy``).
    num_threads : int, optional

    Each call takes ``where=`` for that batch. See ``fastbce.sigmoid_focal_loss``.
    """

    def __init__(self, alpha=0.25, gamma=2.0, reduction="none", *, weight=None, axis=None,
                 keepdims=False, num_threads=None):
        alpha, gamma = check_focal(alpha, gamma)
        super().__init__(weight, reduction, num_threads, _ABSENT, axis, keepdims, alpha=alpha,
                         gamma=gamma)

    @property
    def alpha(self):
        return self._extra["alpha"]

    @property
    def gamma(self):
        return self._extra["gamma"]

    def __call__(self, input, target, *, where=None, out=None):
        return sigmoid_focal_loss(input, target, where=where, out=out, **self._kwargs())

    forward = __call__

    def grad(self, input, target, *, where=None, grad_output=1.0, out=None):
        """d(loss)/d(input); see ``fastbce.sigmoid_focal_loss_grad``."""
        return sigmoid_focal_loss_grad(input, target, where=where, grad_output=grad_output,
                                       out=out, **self._kwargs())

    def loss_and_grad(self, input, target, *, where=None, loss_out=None, grad_out=None):
        """(loss, grad) in one pass; see ``fastbce.sigmoid_focal_loss_and_grad``."""
        return sigmoid_focal_loss_and_grad(
            input, target, where=where, loss_out=loss_out, grad_out=grad_out, **self._kwargs()
        )

    def grad_hess(self, input, target, *, where=None, grad_out=None, hess_out=None):
        """Per-element (grad, hess) of the unreduced focal loss."""
        kw = self._kwargs(reducing=False)
        return sigmoid_focal_loss_grad_hess(
            input, target, where=where, grad_out=grad_out, hess_out=hess_out, **kw
        )
