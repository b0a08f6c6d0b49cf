"""Type stubs for fastbce's public API."""

from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from typing_extensions import TypeAlias

__version__: str

Reduction: TypeAlias = Literal["none", "mean", "sum", "weighted_mean"]
Reduced: TypeAlias = Literal["mean", "sum", "weighted_mean"]  # a scalar result
Floating: TypeAlias = np.floating[Any]

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
def binary_cross_entropy_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduction = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    clamp_log: bool = ...,
    grad_output: ArrayLike = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
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
def binary_cross_entropy_with_logits_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    reduction: Reduction = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    grad_output: ArrayLike = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
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
def binary_cross_entropy_with_logits_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = ...,
    pos_weight: ArrayLike | None = ...,
    *,
    label_smoothing: float = ...,
    where: ArrayLike | None = ...,
    num_threads: int | None = ...,
    grad_out: NDArray[Floating] | None = ...,
    hess_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...

class _Criterion:
    weight: ArrayLike | None
    reduction: Reduction
    label_smoothing: float
    axis: int | tuple[int, ...] | None
    keepdims: bool
    num_threads: int | None
    def __call__(
        self,
        input: ArrayLike,
        target: ArrayLike,
        *,
        where: ArrayLike | None = ...,
        out: NDArray[Floating] | None = ...,
    ) -> Floating | NDArray[Floating]: ...
    def forward(
        self,
        input: ArrayLike,
        target: ArrayLike,
        *,
        where: ArrayLike | None = ...,
        out: NDArray[Floating] | None = ...,
    ) -> Floating | NDArray[Floating]: ...
    def grad(
        self,
        input: ArrayLike,
        target: ArrayLike,
        *,
        where: ArrayLike | None = ...,
        grad_output: ArrayLike = ...,
        out: NDArray[Floating] | None = ...,
    ) -> NDArray[Floating]: ...
    def loss_and_grad(
        self,
        input: ArrayLike,
        target: ArrayLike,
        *,
        where: ArrayLike | None = ...,
        loss_out: NDArray[Floating] | None = ...,
        grad_out: NDArray[Floating] | None = ...,
    ) -> tuple[Floating | NDArray[Floating], NDArray[Floating]]: ...

class BCELoss(_Criterion):
    def __init__(
        self,
        weight: ArrayLike | None = ...,
        reduction: Reduction = ...,
        *,
        label_smoothing: float = ...,
        clamp_log: bool = ...,
        axis: int | tuple[int, ...] | None = ...,
        keepdims: bool = ...,
        num_threads: int | None = ...,
    ) -> None: ...

class BCEWithLogitsLoss(_Criterion):
    @property
    def pos_weight(self) -> ArrayLike | None: ...
    def __init__(
        self,
        weight: ArrayLike | None = ...,
        reduction: Reduction = ...,
        pos_weight: ArrayLike | None = ...,
        *,
        label_smoothing: float = ...,
        axis: int | tuple[int, ...] | None = ...,
        keepdims: bool = ...,
        num_threads: int | None = ...,
    ) -> None: ...
    def grad_hess(
        self,
        input: ArrayLike,
        target: ArrayLike,
        *,
        where: ArrayLike | None = ...,
        grad_out: NDArray[Floating] | None = ...,
        hess_out: NDArray[Floating] | None = ...,
    ) -> tuple[NDArray[Floating], NDArray[Floating]]: ...

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
def sigmoid_focal_loss_grad(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    reduction: Reduction = ...,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    grad_output: ArrayLike = ...,
    axis: int | tuple[int, ...] | None = ...,
    keepdims: bool = ...,
    num_threads: int | None = ...,
    out: NDArray[Floating] | None = ...,
) -> NDArray[Floating]: ...
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
def sigmoid_focal_loss_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    alpha: float = ...,
    gamma: float = ...,
    *,
    weight: ArrayLike | None = ...,
    where: ArrayLike | None = ...,
    num_threads: int | None = ...,
    grad_out: NDArray[Floating] | None = ...,
    hess_out: NDArray[Floating] | None = ...,
) -> tuple[NDArray[Floating], NDArray[Floating]]: ...

class SigmoidFocalLoss(_Criterion):
    @property
    def alpha(self) -> float: ...
    @property
    def gamma(self) -> float: ...
    def __init__(
        self,
        alpha: float = ...,
        gamma: float = ...,
        reduction: Reduction = ...,
        *,
        weight: ArrayLike | None = ...,
        axis: int | tuple[int, ...] | None = ...,
        keepdims: bool = ...,
        num_threads: int | None = ...,
    ) -> None: ...
    def grad_hess(
        self,
        input: ArrayLike,
        target: ArrayLike,
        *,
        where: ArrayLike | None = ...,
        grad_out: NDArray[Floating] | None = ...,
        hess_out: NDArray[Floating] | None = ...,
    ) -> tuple[NDArray[Floating], NDArray[Floating]]: ...

def set_num_threads(num_threads: int | None) -> None: ...
def get_num_threads() -> int: ...
@overload
def show_config(print_: Literal[False] = ...) -> dict[str, Any]: ...
@overload
def show_config(print_: Literal[True]) -> None: ...
@overload
def show_config(print_: bool) -> dict[str, Any] | None: ...
