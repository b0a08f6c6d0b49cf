"""Type stubs for fastbce.metrics."""

from numpy.typing import ArrayLike

__all__ = ["log_loss"]

def log_loss(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    normalize: bool = ...,
    sample_weight: ArrayLike | None = ...,
    labels: ArrayLike | None = ...,
) -> float: ...
