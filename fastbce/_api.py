"""The public functions and criteria in one namespace (they live in _probs, _logits, _focal
and _criteria; fastbce/__init__.py, fastbce.torch and fastbce.dask import them from here)."""

from ._criteria import BCELoss, BCEWithLogitsLoss, SigmoidFocalLoss
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

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "SigmoidFocalLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_and_grad",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_and_grad",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_with_logits_grad_hess",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_and_grad",
    "sigmoid_focal_loss_grad",
    "sigmoid_focal_loss_grad_hess",
]
