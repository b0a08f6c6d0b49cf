"""fastbce.torch's custom operators (torch.ops.fastbce.*) under torch.library.opcheck,
torch.compile (fullgraph, aot_eager and inductor), torch.export and torch.func, against torch's
own functions; and the gradient handed to autograd is never a tensor the op keeps."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fastbce.torch as ft

# opcheck's schema test and inductor use torch.jit.script(_method), which torch 2.13 deprecates
# (torch's own warnings)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script:DeprecationWarning")

OPS = torch.ops.fastbce
F64 = {"rtol": 1e-12, "atol": 1e-15}

@pytest.fixture(autouse=True)
def fastbce_at_every_size(monkeypatch):
    """fastbce computes the small calls too (eager calls under LOGITS_MIN_ELEMENTS and
    PROBS_MIN_ELEMENTS run torch's function; test_torch_adapter.py's test_small_calls_are_torchs covers that)."""
    monkeypatch.setattr(ft, "LOGITS_MIN_ELEMENTS", 0)
    monkeypatch.setattr(ft, "PROBS_MIN_ELEMENTS", 0)



def probs(shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64) * 0.98 + 0.01
    t = torch.rand(shape, generator=g, dtype=torch.float64)
    return x.to(dtype), t.to(dtype)


def logits(shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    t = torch.rand(shape, generator=g, dtype=torch.float64)
    return x.to(dtype), t.to(dtype)


# the functionals and torch's, with the arguments of one case
CASES = {
    "bce": (ft.binary_cross_entropy, F.binary_cross_entropy, probs, {}),
    "bce-weight-none": (ft.binary_cross_entropy, F.binary_cross_entropy, probs,
                        {"weight": torch.linspace(0.5, 2, 3, dtype=torch.float64),
                         "reduction": "none"}),
    "logits-pos_weight": (ft.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits,
                          logits, {"pos_weight": torch.tensor([0.5, 1.0, 3.0],
                                                              dtype=torch.float64)}),
    "logits-sum": (ft.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits,
                   logits, {"reduction": "sum"}),
}


# ---------------------------------------------------------------- opcheck


@pytest.mark.parametrize("args", [
    ("mean", 0.0, True, False, torch.float64),
    ("none", 0.1, True, True, torch.float32),
    ("weighted_mean", 0.0, True, True, torch.float64),
    ("sum", 0.0, False, False, torch.float32),
], ids=["mean", "none-weight-f32", "weighted_mean", "sum-nograd-f32"])
def test_opcheck(args):
    reduction, ls, with_grad, weighted, dtype = args
    x, t = probs((6, 3), dtype=dtype)
    w = torch.linspace(0.5, 2, 3, dtype=dtype) if weighted else None
    pw = torch.tensor([2.0, 1.0, 0.5], dtype=dtype)
    torch.library.opcheck(OPS.binary_cross_entropy.default,
                          (x.requires_grad_(with_grad), t, w, reduction, ls, with_grad))
    xl, tl = logits((6, 3), dtype=dtype)
    torch.library.opcheck(OPS.binary_cross_entropy_with_logits.default,
                          (xl.requires_grad_(with_grad), tl, w, pw, reduction, ls, with_grad))


def test_opcheck_non_contiguous_input():
    x, t = probs((3, 5))
    torch.library.opcheck(OPS.binary_cross_entropy.default,
                          (x.t().requires_grad_(), t.t(), None, "none", 0.0, True))


def test_ops_return_loss_and_gradient_and_differentiate_twice():
    x, t = probs((4, 3))
    pw = torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)
    loss, grad = OPS.binary_cross_entropy(x, t, None, "mean", 0.0, True)
    xr = x.clone().requires_grad_()
    F.binary_cross_entropy(xr, t).backward()
    torch.testing.assert_close(grad, xr.grad, **F64)
    torch.testing.assert_close(loss, F.binary_cross_entropy(x, t), **F64)
    assert OPS.binary_cross_entropy(x, t, None, "mean", 0.0, False)[1].numel() == 0
    xr = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: OPS.binary_cross_entropy(x, t, None, "sum", 0.1, True)[0], (xr,))
    assert torch.autograd.gradgradcheck(
        lambda x: OPS.binary_cross_entropy_with_logits(x, t, None, pw, "mean", 0.0, True)[0],
        (xr,))
    # without the fused gradient (with_grad=False) the backward is torch's formula
    assert torch.autograd.gradcheck(
        lambda x: OPS.binary_cross_entropy_with_logits(x, t, None, pw, "none", 0.0, False)[0],
        (xr,))


def test_ops_give_torchs_errors_and_values_where_the_kernel_declines():
    x, t = probs((5,))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        OPS.binary_cross_entropy(x + 1, t, None, "mean", 0.0, True)
    xl = torch.tensor([0.5, float("nan"), -2.0], dtype=torch.float64)
    tl = torch.tensor([1.5, 0.2, -0.5], dtype=torch.float64)
    loss, grad = OPS.binary_cross_entropy_with_logits(xl, tl, None, None, "none", 0.0, True)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(xl, tl, reduction="none"),
                               equal_nan=True)
    xr = xl.clone().requires_grad_()
    F.binary_cross_entropy_with_logits(xr, tl, reduction="none").sum().backward()
    torch.testing.assert_close(grad, xr.grad, equal_nan=True)


# ---------------------------------------------------------------- torch.compile, torch.export


def _step(bce, bce_logits, model, X, y, y_logits):
    h = model(X)
    return bce(torch.sigmoid(h), y) + bce_logits(h, y_logits)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compile_fullgraph_gives_torchs_loss_and_gradients(backend):
    """Both criteria in one compiled training step (one compilation: inductor takes ~20 s on
    2 cores), against torch's criteria run eagerly."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    X, y = torch.randn(16, 6), (torch.rand(16, 3) > 0.5).float()
    pw = torch.tensor([2.0, 0.5, 1.0])
    graphs = []

    def recording(gm, example_inputs):
        graphs.append(str(gm.graph))
        return torch._dynamo.lookup_backend(backend)(gm, example_inputs)

    torch._dynamo.reset()
    compiled = torch.compile(_step, backend=recording, fullgraph=True)
    results = []
    for step, bce, bce_logits, y_logits in [
        (compiled, ft.BCELoss(), ft.BCEWithLogitsLoss(pos_weight=pw, label_smoothing=0.1), y),
        (_step, nn.BCELoss(), nn.BCEWithLogitsLoss(pos_weight=pw), y * 0.9 + 0.05),
    ]:
        model.zero_grad()
        loss = step(bce, bce_logits, model, X, y, y_logits)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    assert len(graphs) == 1  # one graph, no break (fullgraph=True would raise on one anyway)
    assert "torch.ops.fastbce.binary_cross_entropy]" in graphs[0]
    assert "torch.ops.fastbce.binary_cross_entropy_with_logits]" in graphs[0]
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.crit = ft.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 3.0, 0.5]))
        self.bce = ft.BCELoss(weight=torch.tensor([1.0, 2.0, 1.0]))

    def forward(self, x, t):
        h = self.lin(x)
        return self.crit(h, t) + self.bce(torch.sigmoid(h), t)


def test_export_computes_torchs_loss():
    torch.manual_seed(0)
    net = _Net()
    x, t = torch.randn(8, 4), torch.rand(8, 3)
    ep = torch.export.export(net, (x, t))
    code = ep.graph_module.code
    assert "fastbce.binary_cross_entropy_with_logits" in code
    assert "fastbce.binary_cross_entropy.default" in code
    x2, t2 = torch.randn(8, 4), torch.rand(8, 3)
    with torch.no_grad():
        h = net.lin(x2)
        ref = (nn.BCEWithLogitsLoss(pos_weight=net.crit.pos_weight)(h, t2)
               + nn.BCELoss(weight=net.bce.weight)(torch.sigmoid(h), t2))
        torch.testing.assert_close(ep.module()(x2, t2), ref)


# ---------------------------------------------------------------- batched and functional autograd


@pytest.mark.parametrize("case", CASES)
def test_is_grads_batched_and_vectorized_jacobian(case):
    ours, ref, make, kw = CASES[case]
    x, t = make((5, 3))
    out_shape = x.shape if kw.get("reduction") == "none" else ()
    go = torch.randn(4, *out_shape, dtype=torch.float64)
    grads = []
    for fn in (ours, ref):
        xr = x.clone().requires_grad_()
        grads.append(torch.autograd.grad(fn(xr, t, **kw), xr, go, is_grads_batched=True)[0])
    torch.testing.assert_close(grads[0], grads[1], **F64)
    jac = [torch.autograd.functional.jacobian(lambda x, fn=fn: fn(x, t, **kw), x, vectorize=True)
           for fn in (ours, ref)]
    torch.testing.assert_close(jac[0], jac[1], **F64)


@pytest.mark.parametrize("case", CASES)
def test_func_grad_vmap_and_jacrev(case):
    ours, ref, make, kw = CASES[case]
    x, t = make((5, 3))
    xb, _ = make((4, 5, 3), seed=1)

    def scalar(fn):
        return lambda x: fn(x, t, **kw).sum()

    for transform, arg in [(torch.func.grad, x), (lambda f: torch.vmap(torch.func.grad(f)), xb),
                           (torch.func.jacrev, x)]:
        torch.testing.assert_close(transform(scalar(ours))(arg), transform(scalar(ref))(arg),
                                   **F64)
    # a batched loss: vmap over the forward (the operators' vmap rule), per batch entry
    torch.testing.assert_close(torch.vmap(scalar(ours))(xb), torch.vmap(scalar(ref))(xb), **F64)
    tb = torch.rand(4, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(torch.vmap(lambda t: ours(x, t, **kw))(tb),
                               torch.vmap(lambda t: ref(x, t, **kw))(tb), **F64)


def test_forward_mode_transforms_are_torchs():
    x, t = probs((4, 3))
    v = torch.ones_like(x)
    for fn in (ft.binary_cross_entropy, ft.binary_cross_entropy_with_logits):
        ref = getattr(F, fn.__name__)
        torch.testing.assert_close(torch.func.jvp(lambda x, fn=fn: fn(x, t), (x,), (v,)),
                                   torch.func.jvp(lambda x, ref=ref: ref(x, t), (x,), (v,)))
        torch.testing.assert_close(torch.func.hessian(lambda x, fn=fn: fn(x, t))(x),
                                   torch.func.hessian(lambda x, ref=ref: ref(x, t))(x))


# ---------------------------------------------------------------- in-place safety


@pytest.mark.parametrize("route", ["functional", "op"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradient_changed_in_place_leaves_the_graph_usable(route, reduction):
    x, t = probs((6, 3))
    go = torch.tensor(1.0, dtype=torch.float64) if reduction == "mean" else torch.ones_like(x)

    def loss_of(xr, fn):
        if fn == "torch":
            return F.binary_cross_entropy(xr, t, reduction=reduction)
        if fn == "op":
            return OPS.binary_cross_entropy(xr, t, None, reduction, 0.0, True)[0]
        return ft.binary_cross_entropy(xr, t, reduction=reduction)

    results = []
    for fn in (route, "torch"):
        xr = x.clone().requires_grad_()
        loss = loss_of(xr, fn)
        (g1,) = torch.autograd.grad(loss, xr, go, retain_graph=True)
        first = g1.clone()
        g1.mul_(0)  # the user's gradient, changed in place
        (g2,) = torch.autograd.grad(loss, xr, go, retain_graph=True)
        # a hook that clamps in place, then the retained graph again
        xr.register_hook(lambda g: g.clamp_(-0.1, 0.1))
        loss.backward(go, retain_graph=True)
        loss.backward(go)
        results.append((first, g2, xr.grad))
    torch.testing.assert_close(results[0], results[1], **F64)
    assert results[0][0].abs().max() > 0.1  # the clamp changed something
