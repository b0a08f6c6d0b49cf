"""fastbce: fast, exact binary cross entropy and its gradient for NumPy arrays.

Names and argument order follow ``torch.nn.functional`` and ``torch.nn``; PyTorch (CPU) is
the reference every result is tested against. Only NumPy is needed at run time.
"""

__version__ = "0.1.0"

try:
    from . import _kernels  # noqa: F401
except ImportError as exc:  # pragma: no cover - only when run from an unbuilt source tree
    raise ImportError(
        "fastbce's compiled extension is missing. Install the package (`pip install .`) "
        "and run from outside the source tree, or build in place with "
        "`python setup.py build_ext --inplace`."
    ) from exc

from ._api import (
    BCELoss,
    BCEWithLogitsLoss,
    binary_cross_entropy,
    binary_cross_entropy_and_grad,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_and_grad,
    binary_cross_entropy_with_logits_grad,
    binary_cross_entropy_with_logits_grad_hess,
)
from ._config import get_num_threads, set_num_threads, show_config

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
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
]
