"""Type stubs for fastbce.torch (the PyTorch adapter). Importing it registers the custom
operators torch.ops.fastbce.binary_cross_entropy and ...binary_cross_entropy_with_logits."""

from typing import Any

import torch
from torch import Tensor

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]

LOGITS_MIN_ELEMENTS: int
PROBS_MIN_ELEMENTS: int

def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = ...,
    size_average: bool | None = ...,
    reduce: bool | None = ...,
    reduction: str = ...,
    *,
    label_smoothing: float = ...,
) -> Tensor: ...
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = ...,
    size_average: bool | None = ...,
    reduce: bool | None = ...,
    reduction: str = ...,
    pos_weight: Tensor | None = ...,
    *,
    label_smoothing: float = ...,
) -> Tensor: ...

class BinaryCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]: ...
    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None: ...
    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any: ...

class BinaryCrossEntropyWithLogits(torch.autograd.Function):
    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]: ...
    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None: ...
    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any: ...

class BCELoss(torch.nn.BCELoss):
    label_smoothing: float
    def __init__(
        self,
        weight: Tensor | None = ...,
        size_average: bool | None = ...,
        reduce: bool | None = ...,
        reduction: str = ...,
        *,
        label_smoothing: float = ...,
    ) -> None: ...
    def forward(self, input: Tensor, target: Tensor) -> Tensor: ...

class BCEWithLogitsLoss(torch.nn.BCEWithLogitsLoss):
    label_smoothing: float
    def __init__(
        self,
        weight: Tensor | None = ...,
        size_average: bool | None = ...,
        reduce: bool | None = ...,
        reduction: str = ...,
        pos_weight: Tensor | None = ...,
        *,
        label_smoothing: float = ...,
    ) -> None: ...
    def forward(self, input: Tensor, target: Tensor) -> Tensor: ...
