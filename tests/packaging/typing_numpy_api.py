"""Uses fastbce's NumPy API as its annotations describe; test_typing.py runs mypy --strict on it (it
is never executed). A reduced loss is a NumPy floating scalar; "none", every gradient, an
``out=`` buffer and a reduction over ``axis`` are arrays. Lines marked `type: ignore[...]` must
stay errors: mypy's warn_unused_ignores reports them if the annotations stop rejecting them."""

from typing import Any

import numpy as np
from numpy.typing import NDArray

import fastbce

x = np.array([0.2, 0.7, 0.9], dtype=np.float32)
t = np.array([0.0, 1.0, 0.5], dtype=np.float32)
out = np.empty((), np.float32)

mean: np.floating[Any] = fastbce.binary_cross_entropy(x, t)
total: np.floating[Any] = fastbce.binary_cross_entropy(x, t, None, "sum")
wmean: np.floating[Any] = fastbce.binary_cross_entropy(x, t, weight=t, reduction="weighted_mean")
each: NDArray[np.floating[Any]] = fastbce.binary_cross_entropy(x, t, reduction="none")
each = fastbce.binary_cross_entropy(x, t, None, "none")
each = fastbce.binary_cross_entropy(x, t, out=out)
grad: NDArray[np.floating[Any]] = fastbce.binary_cross_entropy_grad(x, t)
pair: tuple[np.floating[Any], NDArray[np.floating[Any]]] = fastbce.binary_cross_entropy_and_grad(x, t)
pairs: tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]] = (
    fastbce.binary_cross_entropy_and_grad(x, t, reduction="none"))
mean = fastbce.binary_cross_entropy_with_logits(x, t, pos_weight=t)
each = fastbce.binary_cross_entropy_with_logits(x, t, None, "none", t)
each = fastbce.sigmoid_focal_loss(x, t)
mean = fastbce.sigmoid_focal_loss(x, t, 0.25, 2.0, "mean")
mean = fastbce.sigmoid_focal_loss(x, t, reduction="sum")
pair = fastbce.sigmoid_focal_loss_and_grad(x, t, reduction="mean")
per_class: NDArray[np.floating[Any]] = fastbce.binary_cross_entropy(x, t, axis=0)
per_class = fastbce.binary_cross_entropy_with_logits(x, t, reduction="sum", axis=(0,))
per_class = fastbce.sigmoid_focal_loss(x, t, reduction="mean", axis=-1, keepdims=True)
pairs = fastbce.binary_cross_entropy_and_grad(x, t, axis=0)
pairs = fastbce.sigmoid_focal_loss_and_grad(x, t, 0.25, 2.0, "mean", axis=0)
grad = fastbce.binary_cross_entropy_with_logits_grad(x, t, axis=0, grad_output=t[:1])
crit = fastbce.BCELoss(axis=-1, keepdims=True)
config: dict[str, Any] = fastbce.show_config()
nothing: None = fastbce.show_config(print_=True)

bad: np.floating[Any] = fastbce.binary_cross_entropy(x, t, reduction="none")  # type: ignore[assignment]
bad = fastbce.sigmoid_focal_loss(x, t)  # type: ignore[assignment]
bad = fastbce.binary_cross_entropy(x, t, out=out)  # type: ignore[assignment]
bad_pair: tuple[np.floating[Any], NDArray[np.floating[Any]]] = (
    fastbce.binary_cross_entropy_and_grad(x, t, reduction="none"))  # type: ignore[assignment]
arr: NDArray[np.floating[Any]] = fastbce.binary_cross_entropy(x, t)  # type: ignore[assignment]
fastbce.binary_cross_entropy(x, t, reduction="avg")  # type: ignore[call-overload]
bad = fastbce.binary_cross_entropy(x, t, axis=0)  # type: ignore[assignment]
fastbce.binary_cross_entropy(x, t, axis=0.5)  # type: ignore[call-overload]
# label_smoothing is keyword-only; a bare ignore (still checked by --warn-unused-ignores) since
# mypy 1.x calls this error [misc] and mypy 2.x [call-arg]
fastbce.BCEWithLogitsLoss(None, "mean", None, 0.1)  # type: ignore
cfg: dict[str, Any] = fastbce.show_config(print_=True)  # type: ignore[assignment]
