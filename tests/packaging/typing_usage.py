"""Uses fastbce.torch and fastbce.metrics as their annotations describe; test_typing.py runs mypy on
it (it is never executed). Lines marked `type: ignore[...]` must stay errors: mypy's
warn_unused_ignores reports them if the annotations stop rejecting them."""

import numpy as np
import torch

import fastbce.metrics
import fastbce.torch as ft
from fastbce.metrics import log_loss

x = torch.rand(8, 3, requires_grad=True)
t = torch.rand(8, 3)
w = torch.ones(3)

loss: torch.Tensor = ft.binary_cross_entropy(x, t, w, reduction="sum", label_smoothing=0.1)
loss = ft.binary_cross_entropy(x, t, None, None, None, "none")
loss = ft.binary_cross_entropy_with_logits(x, t, w, reduction="mean", pos_weight=w)
loss = ft.binary_cross_entropy_with_logits(x, t, label_smoothing=0.05)

crit: torch.nn.BCELoss = ft.BCELoss(weight=w, reduction="mean", label_smoothing=0.1)
loss = crit(x, t)
logits_crit: ft.BCEWithLogitsLoss = ft.BCEWithLogitsLoss(pos_weight=w)
as_torch: torch.nn.BCEWithLogitsLoss = logits_crit  # a subclass of torch's
loss = logits_crit.forward(x, t)
smoothing: float = logits_crit.label_smoothing

score: float = log_loss([0, 1, 1], np.array([0.2, 0.7, 0.9]))
score = fastbce.metrics.log_loss(
    ["a", "b"], [[0.9, 0.1], [0.2, 0.8]], normalize=False, sample_weight=[1.0, 2.0],
    labels=["a", "b"],
)

ft.binary_cross_entropy(x, t, label_smoothing="0.1")  # type: ignore[arg-type]
ft.BCELoss(w, None, None, "mean", 0.1)  # type: ignore[call-arg]
log_loss([0, 1], [0.2, 0.7], True)  # type: ignore[call-arg]
bad: str = log_loss([0, 1], [0.2, 0.7])  # type: ignore[assignment]
