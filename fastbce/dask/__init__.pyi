"""Type stubs for fastbce.dask (the dask adapter)."""

import os
from typing import Literal, overload

from dask.array import Array
from numpy.typing import ArrayLike
from typing_extensions import TypeAlias

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_and_grad",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_and_grad",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_with_logits_grad_hess",
    "from_npy",
    "log_loss",
]

_Operand: TypeAlias = Array | ArrayLike
_Reduction: TypeAlias = Literal["mean", "sum", "weighted_mean", "none"]

def from_npy(
    path: str | os.PathLike[str], chunks: int | tuple[int, ...] | str = ...
) -> Array: ...
def binary_cross_entropy(
    input: _Operand,
    target: _Operand,
    weight: _Operand | None = ...,
    reduction: _Reduction = ...,
    *,
    label_smoothing: float = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    split_every: int | None = ...,
) -> Array: ...
def binary_cross_entropy_grad(
    input: _Operand,
    target: _Operand,
    weight: _Operand | None = ...,
    reduction: _Reduction = ...,
    *,
    label_smoothing: float = ...,
    grad_output: float | _Operand = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    split_every: int | None = ...,
) -> Array: ...
def binary_cross_entropy_and_grad(
    input: _Operand,
    target: _Operand,
    weight: _Operand | None = ...,
    reduction: _Reduction = ...,
    *,
    label_smoothing: float = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    split_every: int | None = ...,
) -> tuple[Array, Array]: ...
def binary_cross_entropy_with_logits(
    input: _Operand,
    target: _Operand,
    weight: _Operand | None = ...,
    reduction: _Reduction = ...,
    pos_weight: _Operand | None = ...,
    *,
    label_smoothing: float = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    split_every: int | None = ...,
) -> Array: ...
def binary_cross_entropy_with_logits_grad(
    input: _Operand,
    target: _Operand,
    weight: _Operand | None = ...,
    reduction: _Reduction = ...,
    pos_weight: _Operand | None = ...,
    *,
    label_smoothing: float = ...,
    grad_output: float | _Operand = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    split_every: int | None = ...,
) -> Array: ...
def binary_cross_entropy_with_logits_and_grad(
    input: _Operand,
    target: _Operand,
    weight: _Operand | None = ...,
    reduction: _Reduction = ...,
    pos_weight: _Operand | None = ...,
    *,
    label_smoothing: float = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    split_every: int | None = ...,
) -> tuple[Array, Array]: ...
def binary_cross_entropy_with_logits_grad_hess(
    input: _Operand,
    target: _Operand,
    weight: _Operand | None = ...,
    pos_weight: _Operand | None = ...,
    *,
    label_smoothing: float = ...,
    num_threads: int | None = ...,
) -> tuple[Array, Array]: ...
@overload
def log_loss(
    y_true: _Operand,
    y_pred: _Operand,
    *,
    normalize: bool = ...,
    sample_weight: _Operand | None = ...,
    labels: ArrayLike | None = ...,
    num_threads: int | None = ...,
    compute: Literal[True] = ...,
    split_every: int | None = ...,
) -> float: ...
@overload
def log_loss(
    y_true: _Operand,
    y_pred: _Operand,
    *,
    normalize: bool = ...,
    sample_weight: _Operand | None = ...,
    labels: ArrayLike | None = ...,
    num_threads: int | None = ...,
    compute: Literal[False],
    split_every: int | None = ...,
) -> Array: ...
