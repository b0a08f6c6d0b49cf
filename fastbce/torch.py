"""PyTorch adapter: drop-in ``BCELoss``, ``BCEWithLogitsLoss`` and their functionals.

Swap one import (``from fastbce.torch import BCELoss`` for ``torch.nn.BCELoss``) and the loss
and its gradient come from fastbce's fused kernels: the forward computes both in one pass over
the tensors' memory (NumPy views of CPU tensors, no copies when they are contiguous), saves the
gradient, and the backward returns it times ``grad_output`` (a new tensor, never the saved one).

The fused pass is registered with ``torch.library`` as two custom operators,
``torch.ops.fastbce.binary_cross_entropy`` and ``torch.ops.fastbce.binary_cross_entropy_with_logits``,
each returning ``(loss, grad)``, with a fake (meta) implementation, an autograd formula and a
vmap rule. So ``torch.compile(fullgraph=True)`` (inductor, aot_eager) captures the loss without
a graph break, ``torch.export`` exports it, and ``torch.func.grad``, ``vmap``,
``is_grads_batched=True`` and ``jacobian(vectorize=True)`` work. In eager mode (and under
torch.func's grad, vjp and jacrev) the functionals call the same implementation and backward
through ``autograd.Function``s directly (the dispatcher's two Python-kernel hops cost about
40 us a call, more than the kernel at a training batch); compiled, exported and dispatch-mode
calls go through the operators. Eager calls on fewer than ``LOGITS_MIN_ELEMENTS`` (logits,
32768) or ``PROBS_MIN_ELEMENTS`` (probabilities, 2048) elements run torch's own function,
faster there.

What fastbce serves: CPU, strided float32/float64 ``input`` with ``target`` (and ``weight``,
``pos_weight``) of the same dtype, none of ``target``/``weight``/``pos_weight`` requiring grad.
Everything else runs torch's own implementation (``torch.nn.functional``), so the result -- or
the error -- is torch's:

- CUDA, MPS or any non-CPU device, sparse layouts, forward-mode transforms (``torch.func.jvp``,
  ``jacfwd``, ``hessian``);
- float16 and bfloat16 (and any other dtype), and mixed dtypes;
- ``target`` requiring grad (torch differentiates it), ``weight`` or ``pos_weight`` requiring
  grad (torch raises: it is not differentiable with respect to them);
- shapes torch rejects or broadcasts differently, unknown reductions;
- calls the kernel declines (out-of-range probabilities: torch raises its RuntimeError; NaN
  logits or logits targets outside [0, 1]: torch's values), inside the operator;
- double backward: with ``create_graph=True`` the backward is torch's formula in tensor
  operations, so ``torch.autograd.gradgradcheck`` and Hessian-vector products work.

fastbce's threads follow ``torch.get_num_threads()`` on every call, so a training loop is not
oversubscribed. Needs PyTorch >= 2.5 (``torch.library.custom_op`` and ``register_vmap``);
importing it with an older torch raises an ImportError that says so.
"""

from __future__ import annotations  # (the operators' schemas are explicit strings)

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fastbce.torch needs PyTorch, which is not installed: pip install 'fastbce[torch]'"
    ) from exc

if not hasattr(torch.library, "register_vmap"):  # pragma: no cover - CI has torch 2.13
    raise ImportError(
        f"fastbce.torch needs PyTorch >= 2.5 (torch.library.custom_op and register_vmap), "
        f"found {torch.__version__}: pip install -U 'fastbce[torch]'"
    )

from typing import Any

import numpy as np
from torch import Tensor
from torch.nn import _reduction as _torch_reduction
from torch.nn import functional as _F

from . import _api
from ._checks import check_label_smoothing

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]

# Eager calls on fewer elements than these run torch's own function: below them torch's C++
# operator and autograd node cost less than fastbce's Python autograd.Function (crossovers
# measured on the reference machine: docs/adapters.md, "Benchmark"). 0: fastbce at every
# size. Compiled, exported and torch.func calls always use the operators.
LOGITS_MIN_ELEMENTS = 32768
PROBS_MIN_ELEMENTS = 2048

_SERVED_DTYPES = (torch.float32, torch.float64)
_REDUCTIONS = ("mean", "sum", "none", "weighted_mean")
_is_compiling = torch.compiler.is_compiling
_is_wrapped = torch._C._functorch.is_functorch_wrapped_tensor
_dispatch_modes = torch._C._len_torch_dispatch_stack
_function_modes = torch._C._is_torch_function_mode_enabled


# ---------------------------------------------------------------- torch's own computation


def _smoothed(target, label_smoothing):
    return target if label_smoothing == 0 else target * (1 - label_smoothing) + label_smoothing / 2


def _weighted_mean(per_element, weight):
    """sum(w l) / sum(w) over the broadcast weight (the mean without one): fastbce's
    "weighted_mean" in torch operations, for the calls torch computes."""
    if weight is None:
        return per_element.mean()
    return per_element.sum() / weight.expand_as(per_element).sum()


def _torch_loss(logits, input, target, weight, pos_weight, reduction, label_smoothing):
    """torch.nn.functional's loss (its result or its error), with fastbce's additions."""
    target = _smoothed(target, label_smoothing)
    red = "none" if reduction == "weighted_mean" else reduction
    if logits:
        loss = _F.binary_cross_entropy_with_logits(input, target, weight, reduction=red,
                                                   pos_weight=pos_weight)
    else:
        loss = _F.binary_cross_entropy(input, target, weight, reduction=red)
    return _weighted_mean(loss, weight) if reduction == "weighted_mean" else loss


def _torch_grad(logits, input, target, weight, pos_weight, reduction, label_smoothing):
    """d loss / d input by torch's backward formulas, in differentiable tensor operations
    (the double backward, and the gradient of the calls the kernel declines)."""
    target = _smoothed(target, label_smoothing)
    if logits:
        if pos_weight is None:
            grad = torch.sigmoid(input) - target
        else:
            pt = pos_weight * target
            grad = (pt + 1 - target) * torch.sigmoid(input) - pt
    else:
        grad = (input - target) / torch.clamp_min((1 - input) * input, 1e-12)
    if weight is not None:
        grad = grad * weight
    if reduction == "mean" or (reduction == "weighted_mean" and weight is None):
        grad = grad / input.numel()
    elif reduction == "weighted_mean":
        grad = grad / weight.expand_as(input).sum()
    return grad


# ---------------------------------------------------------------- the operators


def _view(tensor):
    """A NumPy array over the tensor's memory (no copy), or None."""
    if tensor is None:
        return None
    if tensor.is_neg():
        tensor = tensor.resolve_neg()
    return tensor.detach().numpy()


def _fused(logits, input, target, weight, pos_weight, reduction, label_smoothing, with_grad):
    """(loss, grad) of one call by fastbce's kernel, as fresh tensors; the grad is an empty
    placeholder without ``with_grad``. Where the kernel declines (a ValueError: values out of
    range, NaN logits), torch's result, or torch's error."""
    input, target = input.contiguous(), target.contiguous()
    x, t, w, n = _view(input), _view(target), _view(weight), torch.get_num_threads()
    grad = None
    try:
        if logits and with_grad:
            loss, grad = _api.binary_cross_entropy_with_logits_and_grad(
                x, t, w, reduction, _view(pos_weight), label_smoothing=label_smoothing,
                num_threads=n)
        elif logits:
            loss = _api.binary_cross_entropy_with_logits(
                x, t, w, reduction, _view(pos_weight), label_smoothing=label_smoothing,
                num_threads=n)
        elif with_grad:
            loss, grad = _api.binary_cross_entropy_and_grad(
                x, t, w, reduction, label_smoothing=label_smoothing, num_threads=n)
        else:
            loss = _api.binary_cross_entropy(x, t, w, reduction,
                                             label_smoothing=label_smoothing, num_threads=n)
    except ValueError:
        input = input.detach()
        loss = _torch_loss(logits, input, target, weight, pos_weight, reduction,
                           label_smoothing)
        if not with_grad:
            return loss, input.new_empty(0)
        return loss, _torch_grad(logits, input, target, weight, pos_weight, reduction,
                                 label_smoothing).expand_as(input).contiguous()
    loss = torch.from_numpy(np.asarray(loss))
    return loss, input.new_empty(0) if grad is None else torch.from_numpy(grad)


def _fake(input, reduction, with_grad):
    loss = input.new_empty(input.shape if reduction == "none" else ())
    return loss, input.new_empty(input.shape if with_grad else 0)


def _input_grad(logits, saved, reduction, label_smoothing, grad_loss):
    """The input's gradient: the saved fused gradient times grad_loss (a new tensor), or,
    when the backward itself is differentiated (create_graph=True), torch's formula."""
    input, target, weight, pos_weight, grad = saved
    if torch.is_grad_enabled() or grad.shape != input.shape:
        grad = _torch_grad(logits, input, target, weight, pos_weight, reduction,
                           label_smoothing)
    return grad * grad_loss


# The schemas are written out (not inferred from annotations, which Python 3.9 cannot
# evaluate in the ``Tensor | None`` form).
@torch.library.custom_op(
    "fastbce::binary_cross_entropy", mutates_args=(),
    schema="(Tensor input, Tensor target, Tensor? weight, str reduction, float label_smoothing, "
           "bool with_grad) -> (Tensor, Tensor)",
)
def _bce_op(input, target, weight, reduction, label_smoothing, with_grad):
    """(loss, d loss / d input) of torch.nn.functional.binary_cross_entropy, fused; the
    gradient is an empty placeholder unless ``with_grad``."""
    return _fused(False, input, target, weight, None, reduction, label_smoothing, with_grad)


@torch.library.custom_op(
    "fastbce::binary_cross_entropy_with_logits", mutates_args=(),
    schema="(Tensor input, Tensor target, Tensor? weight, Tensor? pos_weight, str reduction, "
           "float label_smoothing, bool with_grad) -> (Tensor, Tensor)",
)
def _bce_logits_op(input, target, weight, pos_weight, reduction, label_smoothing, with_grad):
    """(loss, d loss / d input) of torch.nn.functional.binary_cross_entropy_with_logits."""
    return _fused(True, input, target, weight, pos_weight, reduction, label_smoothing,
                  with_grad)


@_bce_op.register_fake
def _(input, target, weight, reduction, label_smoothing, with_grad):
    return _fake(input, reduction, with_grad)


@_bce_logits_op.register_fake
def _(input, target, weight, pos_weight, reduction, label_smoothing, with_grad):
    return _fake(input, reduction, with_grad)


def _setup_bce(ctx, inputs, output):
    input, target, weight, reduction, label_smoothing, _ = inputs
    ctx.save_for_backward(input, target, weight, None, output[1])
    ctx.args = (reduction, label_smoothing)


def _backward_bce(ctx, grad_loss, _grad_of_grad):
    grad = _input_grad(False, ctx.saved_tensors, *ctx.args, grad_loss)
    return grad, None, None, None, None, None


def _setup_bce_logits(ctx, inputs, output):
    input, target, weight, pos_weight, reduction, label_smoothing, _ = inputs
    ctx.save_for_backward(input, target, weight, pos_weight, output[1])
    ctx.args = (reduction, label_smoothing)


def _backward_bce_logits(ctx, grad_loss, _grad_of_grad):
    grad = _input_grad(True, ctx.saved_tensors, *ctx.args, grad_loss)
    return grad, None, None, None, None, None, None


_bce_op.register_autograd(_backward_bce, setup_context=_setup_bce)
_bce_logits_op.register_autograd(_backward_bce_logits, setup_context=_setup_bce_logits)


def _vmap_rule(op):
    """A vmap rule for ``op``: the op per batch entry (it reduces per call), results stacked
    along dimension 0."""

    def rule(info, in_dims, *args):
        def entry(i):
            return [a if d is None or a is None else a.select(d, i) for a, d in zip(args, in_dims)]

        results = [op(*entry(i)) for i in range(info.batch_size)]
        return tuple(torch.stack(r) for r in zip(*results)), (0, 0)

    return rule


_bce_op.register_vmap(_vmap_rule(torch.ops.fastbce.binary_cross_entropy.default))
_bce_logits_op.register_vmap(_vmap_rule(torch.ops.fastbce.binary_cross_entropy_with_logits.default))


# ---------------------------------------------------------------- the eager route


def _plain(*tensors):
    """None of these is a functorch-wrapped tensor (BatchedTensor, GradTrackingTensor) or a
    tensor subclass: their memory can be read."""
    return all(t is None or (type(t) is torch.Tensor and not _is_wrapped(t)) for t in tensors)


# Eager and torch.func calls run the operators' computation and backward (``_fused``,
# ``_input_grad``) in these autograd.Functions: on plain tensors they call ``_fused`` without
# the dispatcher's Python kernels; on batched ones (vmap) the operator and its vmap rule. The
# custom operators' own autograd does not support torch.func.grad (its generated Function
# has no setup_context). They are named after torch's nodes, so a loss prints as
# ``grad_fn=<BinaryCrossEntropyBackward>``.
class BinaryCrossEntropy(torch.autograd.Function):
    """fastbce's fused loss and gradient as an autograd node (probabilities)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input: Tensor, target: Tensor, weight: Tensor | None, reduction: str,
                label_smoothing: float) -> tuple[Tensor, Tensor]:
        if _plain(input, target, weight):
            return _fused(False, input, target, weight, None, reduction, label_smoothing, True)
        return torch.ops.fastbce.binary_cross_entropy(input, target, weight, reduction,
                                                      label_smoothing, True)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        _setup_bce(ctx, (*inputs, True), output)
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx: Any, grad_loss: Tensor, _grad_of_grad: Any) -> tuple[Any, ...]:
        reduction, label_smoothing = ctx.args
        grad = _input_grad(False, ctx.saved_tensors, reduction, label_smoothing, grad_loss)
        return grad, None, None, None, None


class BinaryCrossEntropyWithLogits(torch.autograd.Function):
    """fastbce's fused loss and gradient as an autograd node (logits)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(input: Tensor, target: Tensor, weight: Tensor | None,
                pos_weight: Tensor | None, reduction: str,
                label_smoothing: float) -> tuple[Tensor, Tensor]:
        if _plain(input, target, weight, pos_weight):
            return _fused(True, input, target, weight, pos_weight, reduction, label_smoothing,
                          True)
        return torch.ops.fastbce.binary_cross_entropy_with_logits(
            input, target, weight, pos_weight, reduction, label_smoothing, True)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        _setup_bce_logits(ctx, (*inputs, True), output)
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx: Any, grad_loss: Tensor, _grad_of_grad: Any) -> tuple[Any, ...]:
        reduction, label_smoothing = ctx.args
        grad = _input_grad(True, ctx.saved_tensors, reduction, label_smoothing, grad_loss)
        return grad, None, None, None, None, None


# Function.apply binds its arguments with inspect.signature for a setup_context-style Function
# (14 us a call, twice the kernel at a training batch) before calling the C apply below;
# outside torch.func transforms the functionals call that C apply directly.
_apply_bce = super(torch.autograd.Function, BinaryCrossEntropy).apply
_apply_bce_logits = super(torch.autograd.Function, BinaryCrossEntropyWithLogits).apply
_transforms_active = torch._C._are_functorch_transforms_active


def _small_eager(input, limit, reduction, label_smoothing):
    """An eager call on fewer than ``limit`` elements, of torch's own arguments: torch's
    function computes it, called as directly as torch's module calls it."""
    return (type(input) is torch.Tensor and input.numel() < limit
            and (type(label_smoothing) is float or type(label_smoothing) is int)
            and label_smoothing == 0 and reduction != "weighted_mean"
            and not _is_compiling() and not _transforms_active() and not _dispatch_modes()
            and not _function_modes())


def _route(input, *others):
    """How fastbce computes this call: "function" (eager, and torch.func's grad and vmap: the
    autograd.Functions above), "op" (compiled, exported, under a dispatch or function mode,
    tensor subclasses: the registered operator) or None (torch's function: see the module
    docstring)."""
    if not (isinstance(input, torch.Tensor) and input.dtype in _SERVED_DTYPES
            and input.is_cpu and input.layout is torch.strided):
        return None
    shape = input.shape
    for k, other in enumerate(others):
        if other is None:
            continue
        if not (isinstance(other, torch.Tensor) and other.dtype == input.dtype
                and other.is_cpu and other.layout is torch.strided
                and not other.requires_grad):
            return None
        # target: input's shape; weight, pos_weight: broadcast to it without enlarging it
        if (other.shape != shape if k == 0
                else other.dim() > input.dim()
                or torch.broadcast_shapes(other.shape, shape) != shape):
            return None
    if _is_compiling():
        return "op"
    if _dispatch_modes() or _function_modes() or type(input) is not torch.Tensor:
        return "op"  # FakeTensor, FunctionalTensor, FlopCounterMode, ...: the operator
    if _is_wrapped(input) or any(o is not None and _is_wrapped(o) for o in others):
        from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters

        keys = {i.key() for i in retrieve_all_functorch_interpreters()}
        forward_mode = {torch._C._functorch.TransformType.Jvp,
                        torch._C._functorch.TransformType.Functionalize}
        return None if keys & forward_mode else "function"
    return "function"


def _reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        return _torch_reduction.legacy_get_string(size_average, reduce)  # warns as torch does
    return reduction



def _resolve(input, others, min_elements, size_average, reduce, reduction, label_smoothing):
    """A functional call's reduction (torch's legacy arguments folded in) and label smoothing,
    checked, and its route (``_route``; None also where torch's function is faster: fewer
    than ``min_elements`` elements, eager)."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, reduction)
    if type(label_smoothing) is not float or not 0.0 <= label_smoothing < 1.0:
        label_smoothing = check_label_smoothing(label_smoothing)  # raises, or a float
    route = _route(input, *others) if reduction in _REDUCTIONS else None
    if route == "function" and input.numel() < min_elements and not _transforms_active():
        route = None  # torch's function is faster here
    return route, reduction, label_smoothing

def binary_cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None,
    size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean", *,
    label_smoothing: float = 0.0,
) -> Tensor:
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
    if _small_eager(input, PROBS_MIN_ELEMENTS, reduction, label_smoothing):
        return _F.binary_cross_entropy(input, target, weight, size_average, reduce, reduction)
    route, reduction, label_smoothing = _resolve(
        input, (target, weight), PROBS_MIN_ELEMENTS, size_average, reduce, reduction,
        label_smoothing)
    if route is None:
        return _torch_loss(False, input, target, weight, None, reduction, label_smoothing)
    with_grad = input.requires_grad and torch.is_grad_enabled()
    if route == "function":
        if with_grad:
            apply = BinaryCrossEntropy.apply if _transforms_active() else _apply_bce
            return apply(input, target, weight, reduction, float(label_smoothing))[0]
        if _plain(input, target, weight):
            return _fused(False, input, target, weight, None, reduction, label_smoothing,
                          False)[0]
    return torch.ops.fastbce.binary_cross_entropy(
        input, target, weight, reduction, float(label_smoothing), with_grad)[0]


def binary_cross_entropy_with_logits(
    input: Tensor, target: Tensor, weight: Tensor | None = None,
    size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean",
    pos_weight: Tensor | None = None, *, label_smoothing: float = 0.0,
) -> Tensor:
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
    if _small_eager(input, LOGITS_MIN_ELEMENTS, reduction, label_smoothing):
        return _F.binary_cross_entropy_with_logits(input, target, weight, size_average, reduce,
                                                   reduction, pos_weight)
    route, reduction, label_smoothing = _resolve(
        input, (target, weight, pos_weight), LOGITS_MIN_ELEMENTS, size_average, reduce,
        reduction, label_smoothing)
    if route is None:
        return _torch_loss(True, input, target, weight, pos_weight, reduction, label_smoothing)
    with_grad = input.requires_grad and torch.is_grad_enabled()
    if route == "function":
        if with_grad:
            apply = (BinaryCrossEntropyWithLogits.apply if _transforms_active()
                     else _apply_bce_logits)
            return apply(input, target, weight, pos_weight, reduction,
                         float(label_smoothing))[0]
        if _plain(input, target, weight, pos_weight):
            return _fused(True, input, target, weight, pos_weight, reduction, label_smoothing,
                          False)[0]
    return torch.ops.fastbce.binary_cross_entropy_with_logits(
        input, target, weight, pos_weight, reduction, float(label_smoothing), with_grad)[0]


def _smoothing_repr(label_smoothing):
    return f"label_smoothing={label_smoothing}" if label_smoothing else ""


class BCELoss(torch.nn.BCELoss):
    """``torch.nn.BCELoss`` computed by fastbce (a subclass: ``isinstance(c, nn.BCELoss)``).

    Same constructor arguments and defaults as torch's, ``weight`` a buffer as in torch (so
    ``.to()``, ``state_dict()`` and ``repr`` behave alike), plus keyword-only
    ``label_smoothing`` (shown in ``repr`` when not 0). See ``binary_cross_entropy``.
    """

    label_smoothing: float

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean", *,
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.label_smoothing = check_label_smoothing(label_smoothing)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_cross_entropy(input, target, self.weight, reduction=self.reduction,
                                    label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return _smoothing_repr(self.label_smoothing)


class BCEWithLogitsLoss(torch.nn.BCEWithLogitsLoss):
    """``torch.nn.BCEWithLogitsLoss`` computed by fastbce (a subclass).

    Same constructor arguments and defaults as torch's, ``weight`` and ``pos_weight`` buffers,
    plus keyword-only ``label_smoothing``. See ``binary_cross_entropy_with_logits``.
    """

    label_smoothing: float

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None, *, label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction, pos_weight)
        self.label_smoothing = check_label_smoothing(label_smoothing)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight,
            label_smoothing=self.label_smoothing,
        )

    def extra_repr(self) -> str:
        return _smoothing_repr(self.label_smoothing)
