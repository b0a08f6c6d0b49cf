"""The criterion classes (``BCELoss``, ``BCEWithLogitsLoss``, ``SigmoidFocalLoss``): the options
stored and checked once, each call one of the public functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._checks import (
    check_axis,
    check_clamp_log,
    check_focal,
    check_keepdims,
    check_label_smoothing,
    check_num_threads,
    check_reduction,
)
from ._focal import (
    sigmoid_focal_loss,
    sigmoid_focal_loss_and_grad,
    sigmoid_focal_loss_grad,
    sigmoid_focal_loss_grad_hess,
)
from ._logits import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_and_grad,
    binary_cross_entropy_with_logits_grad,
    binary_cross_entropy_with_logits_grad_hess,
)
from ._probs import binary_cross_entropy, binary_cross_entropy_and_grad, binary_cross_entropy_grad

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray
    from typing_extensions import TypeAlias

    from ._typing import Floating, Reduction

    Loss: TypeAlias = "Floating | NDArray[Floating]"
    Pair: TypeAlias = "tuple[NDArray[Floating], NDArray[Floating]]"

_ABSENT = object()  # a criterion without label smoothing (the focal loss has none)


class _Criterion:
    """Shared plumbing of the criterion classes: stored options, checked once."""

    weight: ArrayLike | None
    reduction: str  # (the checked name)
    label_smoothing: float
    axis: int | tuple[int, ...] | None
    keepdims: bool
    num_threads: int | None

    def __init__(self, weight: ArrayLike | None, reduction: Reduction, num_threads: int | None,
                 label_smoothing: Any, axis: int | tuple[int, ...] | None, keepdims: bool,
                 **extra: Any) -> None:
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

    def _kwargs(self, reducing: bool = True) -> dict[str, Any]:
        """The stored options as keywords; ``reducing=False`` leaves out the reduction's
        (for grad_hess, whose derivatives are per element)."""
        kw = {"weight": self.weight, "num_threads": self.num_threads, **self._extra}
        if reducing:
            kw.update(reduction=self.reduction, axis=self.axis, keepdims=self.keepdims)
        if self.label_smoothing is not _ABSENT:
            kw["label_smoothing"] = self.label_smoothing
        return kw

    def __repr__(self) -> str:
        def show(value: object) -> str:
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

    def __init__(self, weight: ArrayLike | None = None, reduction: Reduction = "mean", *,
                 label_smoothing: float = 0.0, clamp_log: bool = True,
                 axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
                 num_threads: int | None = None) -> None:
        extra = {} if check_clamp_log(clamp_log) else {"clamp_log": False}
        super().__init__(weight, reduction, num_threads, label_smoothing, axis, keepdims,
                         **extra)

    def __call__(self, input: ArrayLike, target: ArrayLike, *, where: ArrayLike | None = None,
                 out: NDArray[Floating] | None = None) -> Loss:
        return binary_cross_entropy(input, target, where=where, out=out, **self._kwargs())

    forward = __call__

    def grad(self, input: ArrayLike, target: ArrayLike, *, where: ArrayLike | None = None,
             grad_output: ArrayLike = 1.0,
             out: NDArray[Floating] | None = None) -> NDArray[Floating]:
        """d(loss)/d(input); see ``fastbce.binary_cross_entropy_grad``."""
        return binary_cross_entropy_grad(input, target, where=where, grad_output=grad_output,
                                         out=out, **self._kwargs())

    def loss_and_grad(self, input: ArrayLike, target: ArrayLike, *,
                      where: ArrayLike | None = None, loss_out: NDArray[Floating] | None = None,
                      grad_out: NDArray[Floating] | None = None,
                      ) -> tuple[Loss, NDArray[Floating]]:
        """(loss, grad) in one pass; see ``fastbce.binary_cross_entropy_and_grad``."""
        return binary_cross_entropy_and_grad(
            input, target, where=where, loss_out=loss_out, grad_out=grad_out, **self._kwargs()
        )



class BCEWithLogitsLoss(_Criterion):
    """Criterion object, like ``torch.nn.BCEWithLogitsLoss``, with label smoothing.

    ``crit(input, target)`` is the loss; ``.grad``, ``.loss_and_grad`` and ``.grad_hess``
    give derivatives. See ``fastbce.binary_cross_entropy_with_logits`` for the formulas.
    """

    def __init__(self, weight: ArrayLike | None = None, reduction: Reduction = "mean",
                 pos_weight: ArrayLike | None = None, *, label_smoothing: float = 0.0,
                 axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
                 num_threads: int | None = None) -> None:
        super().__init__(weight, reduction, num_threads, label_smoothing, axis, keepdims,
                         pos_weight=pos_weight)

    @property
    def pos_weight(self) -> ArrayLike | None:
        return self._extra["pos_weight"]

    def __call__(self, input: ArrayLike, target: ArrayLike, *, where: ArrayLike | None = None,
                 out: NDArray[Floating] | None = None) -> Loss:
        return binary_cross_entropy_with_logits(input, target, where=where, out=out,
                                                **self._kwargs())

    forward = __call__

    def grad(self, input: ArrayLike, target: ArrayLike, *, where: ArrayLike | None = None,
             grad_output: ArrayLike = 1.0,
             out: NDArray[Floating] | None = None) -> NDArray[Floating]:
        """d(loss)/d(input); see ``fastbce.binary_cross_entropy_with_logits_grad``."""
        return binary_cross_entropy_with_logits_grad(
            input, target, where=where, grad_output=grad_output, out=out, **self._kwargs()
        )

    def loss_and_grad(self, input: ArrayLike, target: ArrayLike, *,
                      where: ArrayLike | None = None, loss_out: NDArray[Floating] | None = None,
                      grad_out: NDArray[Floating] | None = None,
                      ) -> tuple[Loss, NDArray[Floating]]:
        """(loss, grad) in one pass."""
        return binary_cross_entropy_with_logits_and_grad(
            input, target, where=where, loss_out=loss_out, grad_out=grad_out, **self._kwargs()
        )

    def grad_hess(self, input: ArrayLike, target: ArrayLike, *, where: ArrayLike | None = None,
                  grad_out: NDArray[Floating] | None = None,
                  hess_out: NDArray[Floating] | None = None) -> Pair:
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

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: Reduction = "none",
                 *, weight: ArrayLike | None = None, axis: int | tuple[int, ...] | None = None,
                 keepdims: bool = False, num_threads: int | None = None) -> None:
        alpha, gamma = check_focal(alpha, gamma)
        super().__init__(weight, reduction, num_threads, _ABSENT, axis, keepdims, alpha=alpha,
                         gamma=gamma)

    @property
    def alpha(self) -> float:
        return self._extra["alpha"]

    @property
    def gamma(self) -> float:
        return self._extra["gamma"]

    def __call__(self, input: ArrayLike, target: ArrayLike, *, where: ArrayLike | None = None,
                 out: NDArray[Floating] | None = None) -> Loss:
        return sigmoid_focal_loss(input, target, where=where, out=out, **self._kwargs())

    forward = __call__

    def grad(self, input: ArrayLike, target: ArrayLike, *, where: ArrayLike | None = None,
             grad_output: ArrayLike = 1.0,
             out: NDArray[Floating] | None = None) -> NDArray[Floating]:
        """d(loss)/d(input); see ``fastbce.sigmoid_focal_loss_grad``."""
        return sigmoid_focal_loss_grad(input, target, where=where, grad_output=grad_output,
                                       out=out, **self._kwargs())

    def loss_and_grad(self, input: ArrayLike, target: ArrayLike, *,
                      where: ArrayLike | None = None, loss_out: NDArray[Floating] | None = None,
                      grad_out: NDArray[Floating] | None = None,
                      ) -> tuple[Loss, NDArray[Floating]]:
        """(loss, grad) in one pass; see ``fastbce.sigmoid_focal_loss_and_grad``."""
        return sigmoid_focal_loss_and_grad(
            input, target, where=where, loss_out=loss_out, grad_out=grad_out, **self._kwargs()
        )

    def grad_hess(self, input: ArrayLike, target: ArrayLike, *, where: ArrayLike | None = None,
                  grad_out: NDArray[Floating] | None = None,
                  hess_out: NDArray[Floating] | None = None) -> Pair:
        """Per-element (grad, hess) of the unreduced focal loss."""
        kw = self._kwargs(reducing=False)
        return sigmoid_focal_loss_grad_hess(
            input, target, where=where, grad_out=grad_out, hess_out=hess_out, **kw
        )

