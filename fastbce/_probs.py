"""The probability functions: binary cross entropy of probabilities, its gradient, both in one
pass. Each is one call of ``_bce.compute``, the single route to the kernel."""

from __future__ import annotations

from typing import TYPE_CHECKING, overload

from ._bce import compute
from ._docs import _CLAMP, _COMMON, _GRAD, _LOSS, _RAISES

if TYPE_CHECKING:
    from typing import Literal

    from numpy.typing import ArrayLike, NDArray

    from ._typing import Floating, Reduced, Reduction


@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    num_threads: int | None = ...,
    out: None = ...,
) -> Floating: ...
@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: int | tuple[int, ...],
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None,
    reduction: Literal["none"],
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    *,
    reduction: Literal["none"],
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating],
) -> NDArray[Floating]: ...
@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduction = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> Floating | NDArray[Floating]: ...
def binary_cross_entropy(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
    reduction: Reduction = "mean", *, label_smoothing: float = 0.0, where: ArrayLike | None = None,
    clamp_log: bool = True, axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
    num_threads: int | None = None, out: NDArray[Floating] | None = None,
) -> Floating | NDArray[Floating]:
    return compute(input, target, weight=weight, reduction=reduction,
                   label_smoothing=label_smoothing, where=where, clamp_log=clamp_log,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_loss=True,
                   loss_out=out)[0]


def binary_cross_entropy_grad(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
    reduction: Reduction = "mean", *, label_smoothing: float = 0.0, where: ArrayLike | None = None,
    clamp_log: bool = True, grad_output: ArrayLike = 1.0,
    axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
    num_threads: int | None = None, out: NDArray[Floating] | None = None,
) -> NDArray[Floating]:
    return compute(input, target, weight=weight, reduction=reduction,
                   label_smoothing=label_smoothing, where=where, clamp_log=clamp_log,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_grad=True,
                   grad_output=grad_output, grad_out=out)[1]


@overload
def binary_cross_entropy_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    num_threads: int | None = ...,
    loss_out: None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[Floating, NDArray[Floating]]: ...
@overload
def binary_cross_entropy_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: int | tuple[int, ...],
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def binary_cross_entropy_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None,
    reduction: Literal["none"],
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def binary_cross_entropy_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    *,
    reduction: Literal["none"],
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def binary_cross_entropy_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduced = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating],
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...
@overload
def binary_cross_entropy_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduction = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    loss_out: NDArray[Floating] | None = ...,
    grad_out: NDArray[Floating] | None = ...,
) -> tuple[Floating | NDArray[Floating], NDArray[Floating]]: ...
def binary_cross_entropy_and_grad(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
    reduction: Reduction = "mean", *, label_smoothing: float = 0.0, where: ArrayLike | None = None,
    clamp_log: bool = True, axis: int | tuple[int, ...] | None = None, keepdims: bool = False,
    num_threads: int | None = None, loss_out: NDArray[Floating] | None = None,
    grad_out: NDArray[Floating] | None = None,
) -> tuple[Floating | NDArray[Floating], NDArray[Floating]]:
    return compute(input, target, weight=weight, reduction=reduction,
                   label_smoothing=label_smoothing, where=where, clamp_log=clamp_log,
                   num_threads=num_threads, axis=axis, keepdims=keepdims, want_loss=True,
                   want_grad=True, loss_out=loss_out, grad_out=grad_out)[:2]


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

