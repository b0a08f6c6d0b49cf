"""The sigmoid focal loss (torchvision's), its gradient, both in one pass, and the
per-element gradient and hessian. Each is one call of ``_bce.compute``."""

from __future__ import annotations

from typing import TYPE_CHECKING, overload

from ._bce import compute
from ._checks import check_focal
from ._docs import _FOCAL, _FOCAL_FORMULAS, _FOCAL_HEAD, _FOCAL_TAIL, _RAISES

if TYPE_CHECKING:
    from typing import Literal

    from numpy.typing import ArrayLike, NDArray

    from ._typing import Floating, Reduced, Reduction


@overload
def sigmoid_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    reduction: Literal["none"] = ...,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
@overload
def sigmoid_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float,
    gamma: float,
    reduction: Reduced,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    num_threads: int | None = ...,
    out: None = ...,
) -> Floating: ...
@overload
def sigmoid_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float,
    gamma: float,
    reduction: Reduced,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...],
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
@overload
def sigmoid_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    *,
    reduction: Reduced,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    num_threads: int | None = ...,
    out: None = ...,
) -> Floating: ...
@overload
def sigmoid_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    *,
    reduction: Reduced,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...],
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
@overload
def sigmoid_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    reduction: Reduction = ...,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating],
) -> NDArray[Floating]: ...
@overload
def sigmoid_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    reduction: Reduction = ...,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> Floating | NDArray[Floating]: ...
def sigmoid_focal_loss(
    input: ArrayLike, target: ArrayLike, alpha: float = 0.25, gamma: float = 2.0,
    reduction: Reduction = "none", *, weight: ArrayLike | None = None,
    where: ArrayLike | None = None, axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False, num_threads: int | None = None, out: NDArray[Floating] | None = None,
) -> Floating | NDArray[Floating]:
    return compute(input, target, logits=True, focal=check_focal(alpha, gamma), weight=weight,
                   reduction=reduction, where=where, num_threads=num_threads, axis=axis,
                   keepdims=keepdims, want_loss=True, loss_out=out)[0]


def sigmoid_focal_loss_grad(
    input: ArrayLike, target: ArrayLike, alpha: float = 0.25, gamma: float = 2.0,
    reduction: Reduction = "none", *, weight: ArrayLike | None = None,
    where: ArrayLike | None = None, grad_output: ArrayLike = 1.0,
    axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
    num_threads: int | None = None, out: NDArray[Floating] | None = None,
) -> NDArray[Floating]:
    return compute(input, target, logits=True, focal=check_focal(alpha, gamma), weight=weight,
                   reduction=reduction, where=where, num_threads=num_threads, axis=axis,
                   keepdims=keepdims, want_grad=True, grad_output=grad_output, grad_out=out)[1]


@overload
def sigmoid_focal_loss_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    reduction: Literal["none"] = ...,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def sigmoid_focal_loss_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float,
    gamma: float,
    reduction: Reduced,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    num_threads: int | None = ...,
    loss_out: None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[Floating, NDArray[Floating]]: ...
@overload
def sigmoid_focal_loss_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float,
    gamma: float,
    reduction: Reduced,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...],
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def sigmoid_focal_loss_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    *,
    reduction: Reduced,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    num_threads: int | None = ...,
    loss_out: None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[Floating, NDArray[Floating]]: ...
@overload
def sigmoid_focal_loss_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    *,
    reduction: Reduced,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...],
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def sigmoid_focal_loss_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    reduction: Reduction = ...,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating],
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def sigmoid_focal_loss_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    reduction: Reduction = ...,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[Floating | NDArray[Floating], NDArray[Floating]]: ...
def sigmoid_focal_loss_and_grad(
    input: ArrayLike, target: ArrayLike, alpha: float = 0.25, gamma: float = 2.0,
    reduction: Reduction = "none", *, weight: ArrayLike | None = None,
    where: ArrayLike | None = None, axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False, num_threads: int | None = None,
    loss_out: NDArray[Floating] | None = None, grad_out: NDArray[Floating] | None = None,
) -> tuple[Floating | NDArray[Floating], NDArray[Floating]]:
    return compute(input, target, logits=True, focal=check_focal(alpha, gamma), weight=weight,
                   reduction=reduction, where=where, num_threads=num_threads, axis=axis,
                   keepdims=keepdims, want_loss=True, want_grad=True, loss_out=loss_out,
                   grad_out=grad_out)[:2]


def sigmoid_focal_loss_grad_hess(
    input: ArrayLike, target: ArrayLike, alpha: float = 0.25, gamma: float = 2.0, *,
    weight: ArrayLike | None = None, where: ArrayLike | None = None,
    num_threads: int | None = None, grad_out: NDArray[Floating] | None = None,
    hess_out: NDArray[Floating] | None = None,
) -> tuple[NDArray[Floating], NDArray[Floating]]:
    return compute(input, target, logits=True, focal=check_focal(alpha, gamma), weight=weight,
                   reduction="none", where=where, num_threads=num_threads, want_grad=True,
                   want_hess=True, grad_out=grad_out, hess_out=hess_out)[1:]


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

