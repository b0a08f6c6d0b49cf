"""fastbce: fast, exact binary cross entropy and its gradient for NumPy arrays.

Names and argument order follow ``torch.nn.functional`` and ``torch.nn``; PyTorch (CPU) is
the reference every result is tested against. Only NumPy is needed at run time.
"""

__version__ = "0.1.0"

from . import _config  # noqa: F401  (chooses the kernel module at import)
from ._api import (
    BCELoss,
    BCEWithLogitsLoss,
    SigmoidFocalLoss,
    binary_cross_entropy,
    binary_cross_entropy_and_grad,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_and_grad,
    binary_cross_entropy_with_logits_grad,
    binary_cross_entropy_with_logits_grad_hess,
    sigmoid_focal_loss,
    sigmoid_focal_loss_and_grad,
    sigmoid_focal_loss_grad,
    sigmoid_focal_loss_grad_hess,
)
from ._config import get_num_threads, set_num_threads, show_config

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
    "get_num_threads",
    "set_num_threads",
    "show_config",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_and_grad",
    "sigmoid_focal_loss_grad",
    "sigmoid_focal_loss_grad_hess",
]
