"""The logits functions: binary cross entropy on logits, its gradient, both in one pass, and
the per-element gradient and hessian. Each is one call of ``_bce.compute``."""

from __future__ import annotations

from typing import TYPE_CHECKING, overload

from ._bce import compute
from ._docs import _COMMON, _COMMON_NO_REDUCTION, _LOGIT_FORMULAS, _LOGITS, _RAISES

if TYPE_CHECKING:
    from typing import Literal

    from numpy.typing import ArrayLike, NDArray

    from ._typing import Floating, Reduced, Reduction


@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    num_threads: int | None = ...,
    out: None = ...,
) -> Floating: ...
@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...],
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None,
    reduction: Literal["none"],
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    *,
    reduction: Literal["none"],
    pos_weight: ArrayLike | None = ...,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating],
) -> NDArray[Floating]: ...
@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduction = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> Floating | NDArray[Floating]: ...
def binary_cross_entropy_with_logits(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
    reduction: Reduction = "mean", pos_weight: ArrayLike | None = None, *,
    label_smoothing: float = 0.0, where: ArrayLike | None = None,
    axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
    num_threads: int | None = None, out: NDArray[Floating] | None = None,
) -> Floating | NDArray[Floating]:
    return compute(input, target, logits=True, weight=weight, reduction=reduction,
                   pos_weight=pos_weight, label_smoothing=label_smoothing, where=where,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_loss=True,
                   loss_out=out)[0]


def binary_cross_entropy_with_logits_grad(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
    reduction: Reduction = "mean", pos_weight: ArrayLike | None = None, *,
    label_smoothing: float = 0.0, where: ArrayLike | None = None, grad_output: ArrayLike = 1.0,
    axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
    num_threads: int | None = None, out: NDArray[Floating] | None = None,
) -> NDArray[Floating]:
    return compute(input, target, logits=True, weight=weight, reduction=reduction,
                   pos_weight=pos_weight, label_smoothing=label_smoothing, where=where,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_grad=True,
                   grad_output=grad_output, grad_out=out)[1]


@overload
def binary_cross_entropy_with_logits_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    num_threads: int | None = ...,
    loss_out: None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[Floating, NDArray[Floating]]: ...
@overload
def binary_cross_entropy_with_logits_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...],
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def binary_cross_entropy_with_logits_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None,
    reduction: Literal["none"],
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def binary_cross_entropy_with_logits_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    *,
    reduction: Literal["none"],
    pos_weight: ArrayLike | None = ...,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def binary_cross_entropy_with_logits_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating],
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def binary_cross_entropy_with_logits_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduction = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[Floating | NDArray[Floating], NDArray[Floating]]: ...
def binary_cross_entropy_with_logits_and_grad(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
    reduction: Reduction = "mean", pos_weight: ArrayLike | None = None, *,
    label_smoothing: float = 0.0, where: ArrayLike | None = None,
    axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
    num_threads: int | None = None, loss_out: NDArray[Floating] | None = None,
    grad_out: NDArray[Floating] | None = None,
) -> tuple[Floating | NDArray[Floating], NDArray[Floating]]:
    return compute(input, target, logits=True, weight=weight, reduction=reduction,
                   pos_weight=pos_weight, label_smoothing=label_smoothing, where=where,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_loss=True,
                   want_grad=True, loss_out=loss_out, grad_out=grad_out)[:2]


def binary_cross_entropy_with_logits_grad_hess(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None, *, label_smoothing: float = 0.0,
    where: ArrayLike | None = None, num_threads: int | None = None,
    grad_out: NDArray[Floating] | None = None, hess_out: NDArray[Floating] | None = None,
) -> tuple[NDArray[Floating], NDArray[Floating]]:
    return compute(input, target, logits=True, weight=weight, reduction="none",
                   pos_weight=pos_weight, label_smoothing=label_smoothing, where=where,
                   num_threads=num_threads, want_grad=True, want_hess=True, grad_out=grad_out,
                   hess_out=hess_out)[1:]


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

