"""PyTorch adapter: drop-in ``BCELoss``, ``BCEWithLogitsLoss`` and their functionals.

Swap one import (``from fastbce.torch import BCELoss`` for ``torch.nn.BCELoss``) and the loss
and its gradient come from fastbce's fused kernels: the forward computes both in one pass over
the tensors' memory (NumPy views of CPU tensors, no copies when they are contiguous), saves the
gradient, and the backward only scales it by ``grad_output``.

What fastbce serves: CPU, strided float32/float64 ``input`` with ``target`` (and ``weight``,
``pos_weight``) of the same dtype, none of ``target``/``weight``/``pos_weight`` requiring grad.
Everything else runs torch's own implementation (``torch.nn.functional``), so the result -- or
the error -- is torch's:

- CUDA, MPS or any non-CPU device, sparse layouts, functorch transforms (``torch.func``);
- float16 and bfloat16 (and any other dtype), and mixed dtypes;
- ``target`` requiring grad (torch differentiates it), ``weight`` or ``pos_weight`` requiring
  grad (torch raises: it is not differentiable with respect to them);
- calls fastbce declines with a ValueError: shapes torch rejects or broadcasts differently,
  out-of-range probabilities (torch raises its RuntimeError), NaN logits or logits targets
  outside [0, 1] (torch computes them), unknown reductions;
- double backward: with ``create_graph=True`` the backward is torch's own formula, so
  ``torch.autograd.gradgradcheck`` and Hessian-vector products work.

Under ``torch.compile`` the functionals are opaque (``torch.compiler.disable``): a compiled
model graph-breaks around the loss and runs it eagerly (``fullgraph=True`` is not possible).

fastbce's threads follow ``torch.get_num_threads()`` on every call, so a training loop is not
oversubscribed.
"""

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fastbce.torch needs PyTorch, which is not installed: pip install fastbce[torch]"
    ) from exc

import numpy as np
from torch.nn import _reduction as _torch_reduction
from torch.nn import functional as _F

from . import _api
from ._bce import check_label_smoothing

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]

_SERVED_DTYPES = (torch.float32, torch.float64)
# torch.compiler.is_compiling is torch >= 2.3; torch._dynamo.is_compiling before that
_is_compiling = getattr(torch.compiler, "is_compiling", None) or torch._dynamo.is_compiling
_is_wrapped = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", None)


def _served(input, *others):
    """Whether fastbce computes this call (see the module docstring); else torch does."""
    if not (
        isinstance(input, torch.Tensor) and input.dtype in _SERVED_DTYPES
        and input.device.type == "cpu" and input.layout is torch.strided and not input.is_neg()
    ):
        return False
    if _is_wrapped is not None and _is_wrapped(input):
        return False
    for other in others:
        if other is None:
            continue
        if not (
            isinstance(other, torch.Tensor) and other.dtype == input.dtype
            and other.device.type == "cpu" and other.layout is torch.strided
            and not other.requires_grad and not other.is_neg()
        ):
            return False
        if _is_wrapped is not None and _is_wrapped(other):
            return False
    return True


def _view(tensor):
    """A NumPy array over the tensor's memory (no copy), or None."""
    return None if tensor is None else tensor.detach().numpy()


def _as_tensor(value):
    """fastbce's result (a NumPy scalar or array it allocated) as a tensor, without a copy."""
    return torch.from_numpy(np.asarray(value))


def _smoothed(target, label_smoothing):
    return target if label_smoothing == 0 else target * (1 - label_smoothing) + label_smoothing / 2


def _reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        return _torch_reduction.legacy_get_string(size_average, reduce)  # warns as torch does
    return reduction


def _weighted_mean(per_element, weight):
    """sum(w l) / sum(w) over the broadcast weight (the mean without one): fastbce's
    "weighted_mean" in torch operations, for the calls torch computes."""
    if weight is None:
        return per_element.mean()
    return per_element.sum() / weight.expand_as(per_element).sum()


def _torch_bce(input, target, weight, reduction, label_smoothing):
    if reduction == "weighted_mean":
        per = _F.binary_cross_entropy(input, _smoothed(target, label_smoothing), weight,
                                      reduction="none")
        return _weighted_mean(per, weight)
    return _F.binary_cross_entropy(
        input, _smoothed(target, label_smoothing), weight, reduction=reduction
    )


def _torch_bce_logits(input, target, weight, reduction, pos_weight, label_smoothing):
    if reduction == "weighted_mean":
        per = _F.binary_cross_entropy_with_logits(
            input, _smoothed(target, label_smoothing), weight, reduction="none",
            pos_weight=pos_weight,
        )
        return _weighted_mean(per, weight)
    return _F.binary_cross_entropy_with_logits(
        input, _smoothed(target, label_smoothing), weight, reduction=reduction,
        pos_weight=pos_weight,
    )


def _scaled(grad, grad_output):
    """The saved gradient times grad_output; the saved tensor itself for a scalar 1 (autograd
    copies it if the graph is retained, so it is never written through)."""
    if grad_output.dim() == 0 and grad_output.item() == 1:
        return grad
    return grad * grad_output


def _second_order(torch_loss, grad_output, input, args):
    """The input gradient from torch's own formula, differentiable (create_graph=True)."""
    with torch.enable_grad():
        loss = torch_loss(input, *args)
        (grad,) = torch.autograd.grad(loss, input, grad_output, create_graph=True)
    return grad


# The autograd Functions are named after torch's nodes, so a loss prints as
# ``grad_fn=<BinaryCrossEntropyBackward>``.
class BinaryCrossEntropy(torch.autograd.Function):
    """fastbce's fused loss and gradient as an autograd node (probabilities)."""

    @staticmethod
    def forward(ctx, input, target, weight, reduction, label_smoothing):
        loss, grad = _api.binary_cross_entropy_and_grad(
            _view(input), _view(target), _view(weight), reduction,
            label_smoothing=label_smoothing, num_threads=torch.get_num_threads(),
        )
        ctx.save_for_backward(torch.from_numpy(grad), input, target, weight)
        ctx.args = (reduction, label_smoothing)
        return _as_tensor(loss)

    @staticmethod
    def backward(ctx, grad_output):
        grad, input, target, weight = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: torch's differentiable backward
            grad = _second_order(_torch_bce, grad_output, input, (target, weight, *ctx.args))
        else:
            grad = _scaled(grad, grad_output)
        return grad, None, None, None, None


class BinaryCrossEntropyWithLogits(torch.autograd.Function):
    """fastbce's fused loss and gradient as an autograd node (logits)."""

    @staticmethod
    def forward(ctx, input, target, weight, reduction, pos_weight, label_smoothing):
        loss, grad = _api.binary_cross_entropy_with_logits_and_grad(
            _view(input), _view(target), _view(weight), reduction, _view(pos_weight),
            label_smoothing=label_smoothing, num_threads=torch.get_num_threads(),
        )
        ctx.save_for_backward(torch.from_numpy(grad), input, target, weight, pos_weight)
        ctx.args = (reduction, label_smoothing)
        return _as_tensor(loss)

    @staticmethod
    def backward(ctx, grad_output):
        grad, input, target, weight, pos_weight = ctx.saved_tensors
        if torch.is_grad_enabled():
            reduction, label_smoothing = ctx.args
            grad = _second_order(_torch_bce_logits, grad_output, input,
                                 (target, weight, reduction, pos_weight, label_smoothing))
        else:
            grad = _scaled(grad, grad_output)
        return grad, None, None, None, None, None


def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", *,
    label_smoothing=0.0,
):
    """``torch.nn.functional.binary_cross_entropy`` computed by fastbce.

    ``loss_i = -w_i * (t_i * max(log x_i, -100) + (1 - t_i) * max(log(1 - x_i), -100))``,
    then reduced (``"mean"``, ``"sum"`` or ``"none"``); its gradient with respect to ``input``
    is computed in the same pass and saved for the backward.

    Parameters
    ----------
    input, target, weight, size_average, reduce, reduction
        As in torch. ``target`` has ``input``'s shape; ``weight`` broadcasts to it.
        ``reduction`` may also be ``"weighted_mean"``: sum(w l) / sum(w), fastbce's
        addition (torch's "mean" divides by the element count).
    label_smoothing : float in [0, 1), default 0
        Keyword only, fastbce's addition: targets become ``t * (1 - ls) + ls / 2``.

    Returns
    -------
    Tensor
        0-d for ``"mean"``/``"sum"``, ``input``'s shape for ``"none"``; ``input``'s dtype.

    Calls fastbce does not serve (non-CPU devices, float16/bfloat16, mixed dtypes, ``target``
    or ``weight`` requiring grad, anything fastbce rejects) run
    ``torch.nn.functional.binary_cross_entropy`` instead and give its result or its error
    (an input outside [0, 1] raises torch's RuntimeError).
    """
    if _is_compiling():  # dynamo sees the opaque twin and breaks the graph
        return _opaque_bce(input, target, weight, size_average, reduce, reduction,
                           label_smoothing=label_smoothing)
    reduction = _reduction(size_average, reduce, reduction)
    label_smoothing = check_label_smoothing(label_smoothing)
    if _served(input, target, weight):
        try:
            if torch.is_grad_enabled() and input.requires_grad:
                return BinaryCrossEntropy.apply(input, target, weight, reduction, label_smoothing)
            return _as_tensor(_api.binary_cross_entropy(
                _view(input), _view(target), _view(weight), reduction,
                label_smoothing=label_smoothing, num_threads=torch.get_num_threads(),
            ))
        except ValueError:
            pass  # fastbce declines; torch gives its own result or its own error
    return _torch_bce(input, target, weight, reduction, label_smoothing)


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean",
    pos_weight=None, *, label_smoothing=0.0,
):
    """``torch.nn.functional.binary_cross_entropy_with_logits`` computed by fastbce.

    ``loss = w * ((1 - t) * x + (1 + (pw - 1) * t) * softplus(-x))``, ``pw`` the
    ``pos_weight``; the gradient ``w * ((pw * t + 1 - t) * sigmoid(x) - pw * t)`` (over N for
    ``"mean"``) is computed in the same pass and saved for the backward.

    Parameters
    ----------
    input, target, weight, size_average, reduce, reduction, pos_weight
        As in torch. ``target`` has ``input``'s shape; ``weight`` and ``pos_weight`` broadcast
        to it (``pos_weight`` usually ``(C,)`` over the last axis). ``reduction`` may also be
        ``"weighted_mean"`` (see ``binary_cross_entropy``).
    label_smoothing : float in [0, 1), default 0
        Keyword only, fastbce's addition: targets become ``t * (1 - ls) + ls / 2``.

    Returns
    -------
    Tensor
        0-d for ``"mean"``/``"sum"``, ``input``'s shape for ``"none"``; ``input``'s dtype.

    Calls fastbce does not serve run torch's function instead (non-CPU devices,
    float16/bfloat16, mixed dtypes, ``target``/``weight``/``pos_weight`` requiring grad, NaN
    logits, targets outside [0, 1], shapes fastbce rejects).
    """
    if _is_compiling():
        return _opaque_bce_logits(input, target, weight, size_average, reduce, reduction,
                                  pos_weight, label_smoothing=label_smoothing)
    reduction = _reduction(size_average, reduce, reduction)
    label_smoothing = check_label_smoothing(label_smoothing)
    if _served(input, target, weight, pos_weight):
        try:
            if torch.is_grad_enabled() and input.requires_grad:
                return BinaryCrossEntropyWithLogits.apply(
                    input, target, weight, reduction, pos_weight, label_smoothing
                )
            return _as_tensor(_api.binary_cross_entropy_with_logits(
                _view(input), _view(target), _view(weight), reduction, _view(pos_weight),
                label_smoothing=label_smoothing, num_threads=torch.get_num_threads(),
            ))
        except ValueError:
            pass
    return _torch_bce_logits(input, target, weight, reduction, pos_weight, label_smoothing)


# Under torch.compile the functionals run as these opaque twins: dynamo does not trace into
# them (it cannot follow tensors into NumPy), it breaks the graph and calls them eagerly. In
# eager mode they are bypassed, as torch.compiler.disable's wrapper costs microseconds a call.
_opaque_bce = torch.compiler.disable(binary_cross_entropy)
_opaque_bce_logits = torch.compiler.disable(binary_cross_entropy_with_logits)


def _smoothing_repr(label_smoothing):
    return f"label_smoothing={label_smoothing}" if label_smoothing else ""


class BCELoss(torch.nn.BCELoss):
    """``torch.nn.BCELoss`` computed by fastbce (a subclass: ``isinstance(c, nn.BCELoss)``).

    Same constructor arguments and defaults as torch's, ``weight`` a buffer as in torch (so
    ``.to()``, ``state_dict()`` and ``repr`` behave alike), plus keyword-only
    ``label_smoothing`` (shown in ``repr`` when not 0). See ``binary_cross_entropy``.
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", *,
                 label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.label_smoothing = check_label_smoothing(label_smoothing)

    def forward(self, input, target):
        return binary_cross_entropy(input, target, self.weight, reduction=self.reduction,
                                    label_smoothing=self.label_smoothing)

    def extra_repr(self):
        return _smoothing_repr(self.label_smoothing)


class BCEWithLogitsLoss(torch.nn.BCEWithLogitsLoss):
    """``torch.nn.BCEWithLogitsLoss`` computed by fastbce (a subclass).

    Same constructor arguments and defaults as torch's, ``weight`` and ``pos_weight`` buffers,
    plus keyword-only ``label_smoothing``. See ``binary_cross_entropy_with_logits``.
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None, *, label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction, pos_weight)
        self.label_smoothing = check_label_smoothing(label_smoothing)

    def forward(self, input, target):
        return binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight,
            label_smoothing=self.label_smoothing,
        )

    def extra_repr(self):
        return _smoothing_repr(self.label_smoothing)
