"""References for the value tests: PyTorch (CPU) and an independent extended-precision truth.

Two references, each with the size of the terms it is held to:

- ``torch_*``: PyTorch's own functions and autograd (the hessian by double backward), in the
  dtype asked for. They are the definitions fastbce follows.
- ``truth_*``: the closed forms of the same quantities, written in a form where no terms
  cancel and evaluated in ``np.longdouble`` (64-bit mantissa on x86-64: 11 bits more than
  float64). They are *not* fastbce's formulas: the logits loss is
  ``pw t softplus(-x) + (1 - t) softplus(x)`` (two non-negative terms), the gradient
  ``(1 - t) sigmoid(x) - pw t sigmoid(-x)``, the hessian ``a e / (1 + e)^2`` with
  ``e = exp(-|x|)``. Where PyTorch's float64 evaluation loses digits (log(1 - x) for tiny
  x, 1 - sigmoid(x) for large x, sums of terms that cancel), this truth does not.

Each quantity comes with ``scale``: the sum of the absolute values of the terms it is made
of. An error bound of k roundings is ``k * u * scale`` (u = 2^-24 or 2^-53) -- relative to
the value where the terms do not cancel, and to the terms where they do (a gradient that
is a small difference of two large terms cannot be known better than that). ``ref_scale``
is the same for PyTorch's own evaluation order, used to allow for PyTorch's roundings.
"""

import numpy as np
import torch
import torch.nn.functional as F

LD = np.longdouble
# the extended type is wide enough to be a truth for float64 results (not on platforms
# where long double is double)
LD_IS_WIDE = np.finfo(LD).nmant >= 60
# torch's clamp of the probability gradient's denominator: 1e-12 stored as a float32
EPS = float(np.float32(1e-12))
U = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
TINY = {np.dtype(np.float32): float(np.finfo(np.float32).smallest_subnormal),
        np.dtype(np.float64): float(np.finfo(np.float64).smallest_subnormal)}


# ------------------------------------------------------------------ the truth


def _sigmoid(x):
    """sigmoid(x) and sigmoid(-x), in long double, each without cancellation."""
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    pos = x >= 0
    return np.where(pos, r, e * r), np.where(pos, e * r, r), e


def _softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def truth_logits(x, t, pw=None):
    """Per element, unweighted and unscaled: {"loss", "grad", "hess"} and their scales
    ("loss_scale", ...) and PyTorch's ("loss_ref_scale", ...), as long double arrays."""
    x, t = np.asarray(x, LD), np.asarray(t, LD)
    pw = np.ones_like(x) if pw is None else np.broadcast_to(np.asarray(pw, LD), x.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        sig, sig_neg, e = _sigmoid(x)
        # a term whose coefficient is 0 is 0, also where its softplus is infinite (the limit
        # of a right answer at an infinite logit)
        pos_term = np.where(pw * t == 0, 0, pw * t * _softplus(-x))   # -pw t log sigmoid(x)
        neg_term = np.where(t == 1, 0, (1 - t) * _softplus(x))        # -(1 - t) log sigmoid(-x)
        a = pw * t + (1 - t)
        grad_pos, grad_neg = (1 - t) * sig, pw * t * sig_neg
        hess = a * (e / ((1 + e) * (1 + e)))
        lw = 1 + np.abs(pw) * t + t
        out = {
            "loss": pos_term + neg_term,
            "loss_scale": np.abs(pos_term) + np.abs(neg_term),
            "grad": grad_pos - grad_neg,
            "grad_scale": np.abs(grad_pos) + np.abs(grad_neg),
            "hess": hess,
            "hess_scale": np.abs(hess),
            # torch: (1 - t) x - lw log_sigmoid(x); (pw t + 1 - t) sigmoid(x) - pw t;
            # autograd's sigmoid'(x) = s (1 - s), where 1 - s cancels for large x
            "loss_ref_scale": np.where(t == 1, 0, np.abs((1 - t) * x))
            + np.where(x == -np.inf, np.abs(pos_term), lw * _softplus(-x)),
            "grad_ref_scale": lw * sig + np.abs(pw) * t,
            "hess_ref_scale": lw * sig,
            "softplus_neg": _softplus(-x),
        }
    return out


def truth_probs(x, t):
    """As truth_logits for the probability family (no hessian)."""
    x, t = np.asarray(x, LD), np.asarray(t, LD)
    with np.errstate(divide="ignore", invalid="ignore"):
        lx = np.maximum(np.log(x), -100)
        l1x = np.maximum(np.log1p(-x), -100)
        d = np.maximum(x * (1 - x), LD(EPS))
        loss = -(t * lx) - (1 - t) * l1x
        scale = np.abs(t * lx) + np.abs((1 - t) * l1x)
        grad_scale = (np.abs(x) + np.abs(t)) / d
    return {
        "loss": loss,
        "loss_scale": scale,
        # torch takes log(1 - x) or log1p(-x): allow for 1 - x rounded (an absolute error
        # of one rounding in the log)
        "loss_ref_scale": scale + np.abs(1 - t),
        "grad": (x - t) / d,
        "grad_scale": grad_scale,
        "grad_ref_scale": grad_scale,
    }


# ------------------------------------------------------------------ PyTorch


def _tensor(a):
    return None if a is None else torch.from_numpy(np.array(a, copy=True))


def torch_reference(logits, x, t, weight=None, reduction="mean", pos_weight=None,
                    grad_outputs=(1.0,), hess=False):
    """PyTorch's loss, its gradient for each upstream gradient in ``grad_outputs`` (a scalar,
    or an input-shaped array for "none"), and with ``hess`` the diagonal hessian of the
    unreduced, weighted loss (double backward of the "sum" loss: the hessian is diagonal,
    so the gradient of the gradient's sum is its diagonal). All in x's dtype, as NumPy."""
    xt = _tensor(x).requires_grad_(True)
    tt, wt, pwt = _tensor(t), _tensor(weight), _tensor(pos_weight)
    dt = np.asarray(x).dtype
    if logits:
        def f(red):
            return F.binary_cross_entropy_with_logits(xt, tt, wt, reduction=red, pos_weight=pwt)
    else:
        def f(red):
            return F.binary_cross_entropy(xt, tt, wt, reduction=red)
    loss = f(reduction)
    grads = []
    for g in grad_outputs:
        gt = torch.from_numpy(np.broadcast_to(np.asarray(g, dt), loss.shape).copy())
        grads.append(torch.autograd.grad(loss, xt, gt, retain_graph=True)[0].numpy())
    out = {"loss": loss.detach().numpy(), "grads": grads}
    if hess:
        (g,) = torch.autograd.grad(f("sum"), xt, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), xt)
        out["grad_hess"] = (g.detach().numpy(), h.numpy())
    return out


# ------------------------------------------------------------------ comparison


def assert_within(name, got, expected, tol, context=None):
    """|got - expected| <= tol elementwise, where equal values (infinities) and NaN against
    NaN pass; reports the worst element with its context."""
    got = np.asarray(got)
    g = np.asarray(got, LD)
    e = np.asarray(expected, LD)
    tol = np.broadcast_to(np.asarray(tol, LD), np.broadcast_shapes(g.shape, e.shape))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(g - e)
        # an infinite expectation is met only by the same infinity
        ok = np.where(np.isinf(e), g == e, (err <= tol) | (np.isnan(g) & np.isnan(e)))
    if np.all(ok):
        return
    bad = np.argwhere(~np.broadcast_to(ok, tol.shape))
    idx = tuple(bad[np.argmax([float(np.broadcast_to(err, tol.shape)[tuple(i)] /
                                     max(float(tol[tuple(i)]), 1e-300)) for i in bad[:1000]])])
    lines = [f"{name}: {len(bad)} element(s) out of tolerance; worst at {idx}:",
             (f"  got {float(np.broadcast_to(g, tol.shape)[idx])!r}, "
              f"expected {float(np.broadcast_to(e, tol.shape)[idx])!r}, "
              f"tolerance {float(tol[idx])!r}")]
    for key, value in (context or {}).items():
        if value is not None and np.ndim(value):
            value = np.broadcast_to(value, tol.shape)[idx]
        lines.append(f"  {key} = {value!r}")
    raise AssertionError("\n".join(lines))
