"""fastbce.torch against torch.nn / torch.nn.functional (PyTorch 2.13 CPU is the reference)."""

import contextlib
import io
import subprocess
import sys
import tempfile

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fastbce.torch as ft
from fastbce import _api

DTYPES = [torch.float32, torch.float64]
REDUCTIONS = ["mean", "sum", "none"]
# float64: torch's float64 result to 1e-12. float32: torch's result computed in float64 (see
# torch_ref), to float32 rounding; torch's own float32 logits loss loses digits to cancellation
TOL = {torch.float64: {"rtol": 1e-12, "atol": 0.0}, torch.float32: {"rtol": 1e-5, "atol": 1e-7}}

@pytest.fixture(autouse=True)
def fastbce_at_every_size(monkeypatch):
    """fastbce computes the small calls too (eager calls under LOGITS_MIN_ELEMENTS and
    PROBS_MIN_ELEMENTS run torch's function; test_small_calls_are_torchs covers that)."""
    monkeypatch.setattr(ft, "LOGITS_MIN_ELEMENTS", 0)
    monkeypatch.setattr(ft, "PROBS_MIN_ELEMENTS", 0)



def data(shape, dtype, seed=0, logits=False):
    g = torch.Generator().manual_seed(seed)
    if logits:
        x = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    else:
        x = torch.rand(shape, generator=g, dtype=torch.float64) * 0.98 + 0.01
    t = torch.rand(shape, generator=g, dtype=torch.float64)
    return x.to(dtype), t.to(dtype)


def loss_and_grad(fn, x, *args, grad_output=None, **kw):
    """(loss, input.grad) of fn(x, *args, **kw) after backward(grad_output)."""
    x = x.detach().clone().requires_grad_(True)
    loss = fn(x, *args, **kw)
    loss.backward(grad_output)
    return loss.detach(), x.grad


def torch_ref(fn, x, *args, grad_output=None, **kw):
    """loss_and_grad of torch's fn, evaluated in float64 and rounded to x's dtype."""
    def up(a):
        return a.double() if isinstance(a, torch.Tensor) else a

    kw = {k: up(v) for k, v in kw.items()}
    loss, grad = loss_and_grad(fn, up(x), *map(up, args), grad_output=up(grad_output), **kw)
    return loss.to(x.dtype), grad.to(x.dtype)


def weights(kind, shape, dtype):
    g = torch.Generator().manual_seed(7)
    if kind is None:
        return None
    wshape = {"col": shape[-1:], "row": (shape[0], 1), "full": shape}[kind]
    return (torch.rand(wshape, generator=g, dtype=torch.float64) * 2).to(dtype)


# ---------------------------------------------------------------- import behaviour


def _python(code):
    # from outside the source tree, so the installed package is imported
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, cwd=tempfile.gettempdir(), timeout=120)


def test_import_fastbce_does_not_import_torch():
    r = _python("import sys, fastbce; assert 'torch' not in sys.modules, 'torch imported'")
    assert r.returncode == 0, r.stderr


def test_import_without_torch_says_how_to_install():
    # sys.modules[name] = None makes `import name` raise ImportError, as if not installed
    r = _python("import sys; sys.modules['torch'] = None\n"
                "try:\n    import fastbce.torch\nexcept ImportError as e:\n    print(e)\n"
                "else:\n    raise SystemExit('no ImportError')")
    assert r.returncode == 0, r.stderr
    assert "pip install 'fastbce[torch]'" in r.stdout  # quoted: zsh globs [...]


# ---------------------------------------------------------------- the seed


SEED_INPUT = [0.3440, 0.7944, 0.8919, 0.3551, 0.9817, 0.8871]
SEED_TARGET = [0.1639, 0.4745, 0.1537, 0.5444, 0.6933, 0.1129]


def _run_seed(criterion_class):
    """Example 1 of the tutorial in ../shared/seed/, with its criterion as a parameter."""
    input = torch.tensor(SEED_INPUT, requires_grad=True)
    target = torch.tensor(SEED_TARGET)
    bce_loss = criterion_class()
    output = bce_loss(input, target)
    output.backward()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        print('Binary Cross Entropy Loss: \n', output)
    return buf.getvalue(), input.grad


def test_seed_same_printed_loss_and_grad():
    ours, grad = _run_seed(ft.BCELoss)
    theirs, torch_grad = _run_seed(nn.BCELoss)
    assert "tensor(1.2200, grad_fn=<BinaryCrossEntropyBackward" in ours
    # the printed value is torch's (the grad_fn names differ: ...Backward vs ...Backward0)
    assert ours.split(",")[0] == theirs.split(",")[0]
    torch.testing.assert_close(grad, torch_grad, rtol=2e-7, atol=0)
    assert grad.dtype == torch.float32


# The tutorial's two programs as it prints them (``print('target:\\ n ', ...)`` included).
SEED_PROGRAMS = ["""
import torch
import torch.nn as nn

input = torch.rand(6, requires_grad=True)
target = torch.rand(6)

# create a criterion to measure binary cross entropy
bce_loss = nn.BCELoss()

# compute the binary cross entropy
output = bce_loss(input, target)
output.backward()
print('input:\\n ', input)
print('target:\\ n ', target)
print('Binary Cross Entropy Loss: \\n', output)
""", """
import torch
import torch.nn as nn

input = torch.rand(3, 5, requires_grad=True)
target = torch.randn(3, 5).softmax(dim=1)

loss = nn.BCELoss()

output = loss(input, target)
output.backward()

print("Input:\\n",input)
print("Target:\\n",target)
print("Binary Cross Entropy Loss:\\n",output)
"""]


def _exec_seed(program):
    torch.manual_seed(0)
    scope = {}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(program, scope)  # noqa: S102 - the test's own program text
    return buf.getvalue(), scope["input"].grad


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")  # the '\\ n'
@pytest.mark.parametrize("program", SEED_PROGRAMS, ids=["example1", "example2"])
def test_seed_programs_with_one_line_changed(program):
    changed = program.replace("import torch.nn as nn", "import fastbce.torch as nn")
    assert changed.count("fastbce") == 1
    out, grad = _exec_seed(changed)
    ref_out, ref_grad = _exec_seed(program)
    # the same printout but for the node's name (torch's ends in Backward0)
    assert out == ref_out.replace("Backward0>", "Backward>")
    torch.testing.assert_close(grad, ref_grad, rtol=2e-7, atol=0)


# ---------------------------------------------------------------- values against torch


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", [None, "col", "row", "full"])
def test_probabilities_match_torch(dtype, reduction, wkind):
    x, t = data((33, 7), dtype)
    w = weights(wkind, x.shape, dtype)
    go = torch.rand(x.shape, dtype=dtype) if reduction == "none" else torch.tensor(0.7, dtype=dtype)
    loss, grad = loss_and_grad(ft.binary_cross_entropy, x, t, w, reduction=reduction,
                               grad_output=go)
    tl, tg = torch_ref(F.binary_cross_entropy, x, t, w, reduction=reduction, grad_output=go)
    assert loss.dtype == dtype and loss.shape == tl.shape
    torch.testing.assert_close(loss, tl, **TOL[dtype])
    torch.testing.assert_close(grad, tg, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", [None, "col", "full"])
@pytest.mark.parametrize("pos_weight", [False, True])
def test_logits_match_torch(dtype, reduction, wkind, pos_weight):
    x, t = data((33, 7), dtype, logits=True)
    w = weights(wkind, x.shape, dtype)
    pw = torch.linspace(0.5, 3.0, 7, dtype=dtype) if pos_weight else None
    go = torch.rand(x.shape, dtype=dtype) if reduction == "none" else torch.tensor(1.5, dtype=dtype)
    kw = {"reduction": reduction, "pos_weight": pw}
    loss, grad = loss_and_grad(ft.binary_cross_entropy_with_logits, x, t, w, grad_output=go, **kw)
    tl, tg = torch_ref(F.binary_cross_entropy_with_logits, x, t, w, grad_output=go, **kw)
    assert loss.dtype == dtype and loss.shape == tl.shape
    torch.testing.assert_close(loss, tl, **TOL[dtype])
    torch.testing.assert_close(grad, tg, **TOL[dtype])


@pytest.mark.parametrize("logits", [False, True])
def test_label_smoothing_is_the_smoothed_target(logits):
    x, t = data((40,), torch.float64, logits=logits)
    t = (t > 0.5).double()
    ls = 0.2
    ours = ft.binary_cross_entropy_with_logits if logits else ft.binary_cross_entropy
    ref = F.binary_cross_entropy_with_logits if logits else F.binary_cross_entropy
    loss, grad = loss_and_grad(ours, x, t, label_smoothing=ls)
    tl, tg = loss_and_grad(ref, x, t * (1 - ls) + ls / 2)
    torch.testing.assert_close(loss, tl, **TOL[torch.float64])
    torch.testing.assert_close(grad, tg, **TOL[torch.float64])
    crit = ft.BCEWithLogitsLoss(label_smoothing=ls) if logits else ft.BCELoss(label_smoothing=ls)
    torch.testing.assert_close(crit(x, t), tl, **TOL[torch.float64])


def test_non_contiguous_and_empty_inputs():
    x, t = data((9, 12), torch.float32)
    xs, ts = x.t(), t.t()  # transposed views
    torch.testing.assert_close(loss_and_grad(ft.binary_cross_entropy, xs, ts)[1],
                               loss_and_grad(F.binary_cross_entropy, xs, ts)[1])
    e = torch.empty(0, 3)
    for red in REDUCTIONS:
        torch.testing.assert_close(ft.binary_cross_entropy(e, e, reduction=red),
                                   F.binary_cross_entropy(e, e, reduction=red), equal_nan=True)


def test_legacy_size_average_and_reduce():
    x, t = data((10,), torch.float64)
    with pytest.warns(UserWarning):
        ours = ft.binary_cross_entropy(x, t, size_average=False)
    with pytest.warns(UserWarning):
        ref = F.binary_cross_entropy(x, t, size_average=False)
    torch.testing.assert_close(ours, ref, **TOL[torch.float64])


def test_backward_twice_with_retain_graph_accumulates():
    # the saved gradient is handed to autograd as is for grad_output == 1: it must not be
    # written through when the graph is kept and backward runs again
    x, t = data((50,), torch.float64)
    xr = x.clone().requires_grad_(True)
    loss = ft.binary_cross_entropy(xr, t)
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)
    loss.backward()
    _, tg = loss_and_grad(F.binary_cross_entropy, x, t)
    torch.testing.assert_close(xr.grad, 3 * tg, **TOL[torch.float64])


def test_grad_through_an_upstream_op():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    X = torch.randn(20, 5, generator=g, dtype=torch.float64)
    t = torch.rand(20, 3, generator=g, dtype=torch.float64)
    ft.binary_cross_entropy(torch.sigmoid(X @ w), t).backward()
    ours = w.grad.clone()
    w.grad = None
    F.binary_cross_entropy(torch.sigmoid(X @ w), t).backward()
    torch.testing.assert_close(ours, w.grad, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- gradcheck, double backward


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_probabilities(reduction):
    x, t = data((4, 3), torch.float64)
    w = weights("col", x.shape, torch.float64)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: ft.binary_cross_entropy(x, t, w, reduction=reduction), (x,))
    assert torch.autograd.gradgradcheck(
        lambda x: ft.binary_cross_entropy(x, t, w, reduction=reduction), (x,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_logits(reduction):
    x, t = data((4, 3), torch.float64, logits=True)
    w = weights("row", x.shape, torch.float64)
    pw = torch.tensor([0.5, 1.0, 2.5], dtype=torch.float64)
    x.requires_grad_(True)

    def f(x):
        return ft.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=pw,
                                                   label_smoothing=0.1)

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def test_double_backward_matches_torch():
    x, t = data((6,), torch.float64)
    v = torch.linspace(-1, 1, 6, dtype=torch.float64)

    def hvp(fn):
        xr = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(xr, t, reduction="sum"), xr, create_graph=True)
        return torch.autograd.grad(g @ v, xr)[0]

    torch.testing.assert_close(hvp(ft.binary_cross_entropy), hvp(F.binary_cross_entropy))


# ---------------------------------------------------------------- fallbacks to torch


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_torchs_result(dtype):
    x, t = data((30,), dtype)
    a = loss_and_grad(ft.binary_cross_entropy, x, t)
    b = loss_and_grad(F.binary_cross_entropy, x, t)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].dtype == dtype
    xl, tl = data((30,), dtype, logits=True)
    a = loss_and_grad(ft.binary_cross_entropy_with_logits, xl, tl)
    b = loss_and_grad(F.binary_cross_entropy_with_logits, xl, tl)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_other_devices_go_to_torch():
    # the meta device stands in for CUDA/MPS here: any non-CPU tensor takes torch's path
    x = torch.empty(4, 3, device="meta", requires_grad=True)
    t = torch.empty(4, 3, device="meta")
    out = ft.binary_cross_entropy(x, t, reduction="none")
    assert out.device.type == "meta" and out.shape == (4, 3)
    assert ft.binary_cross_entropy_with_logits(x, t).device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_is_torchs_result():  # pragma: no cover - no GPU in CI
    x, t = data((64,), torch.float32)
    a = loss_and_grad(ft.binary_cross_entropy, x.cuda(), t.cuda())
    b = loss_and_grad(F.binary_cross_entropy, x.cuda(), t.cuda())
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_target_grad_is_torchs():
    x, t = data((12,), torch.float64, logits=True)
    for ours, ref in [(ft.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits),
                      (ft.binary_cross_entropy, F.binary_cross_entropy)]:
        xx = torch.sigmoid(x) if ref is F.binary_cross_entropy else x
        grads = []
        for fn in (ours, ref):
            xr, tr = xx.clone().requires_grad_(True), t.clone().requires_grad_(True)
            fn(xr, tr).backward()
            grads.append((xr.grad, tr.grad))
        torch.testing.assert_close(grads[0], grads[1])


def test_weight_or_pos_weight_requiring_grad_raises_torchs_error():
    x, t = data((5, 3), torch.float64)
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        ft.binary_cross_entropy(x.requires_grad_(), t, w).backward()
    with pytest.raises(RuntimeError, match="argument 'pos_weight'"):
        ft.BCEWithLogitsLoss(pos_weight=w)(x, t).backward()


def test_errors_are_torchs():
    x, t = data((6,), torch.float32)
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        ft.binary_cross_entropy(x + 1, t)
    with pytest.raises(RuntimeError, match="all elements of target should be between 0 and 1"):
        ft.binary_cross_entropy(x.requires_grad_(), t + 1)
    with pytest.raises(ValueError, match="different to the input size"):
        ft.binary_cross_entropy(x, t[:, None])
    with pytest.raises(ValueError, match="must be the same as input size"):
        ft.binary_cross_entropy_with_logits(x, t[:, None])
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        ft.binary_cross_entropy(x, t, reduction="avg")
    with pytest.raises(RuntimeError, match="Found dtype Double but expected Float"):
        ft.binary_cross_entropy(x, t.double())
    with pytest.raises(ValueError, match="label_smoothing"):
        ft.BCELoss(label_smoothing=1.0)


def test_logits_nan_and_targets_outside_0_1_are_torchs_values():
    x = torch.tensor([0.5, float("nan"), -2.0], requires_grad=True)
    t = torch.tensor([1.5, 0.2, -0.5])
    ours = ft.binary_cross_entropy_with_logits(x, t, reduction="none")
    torch.testing.assert_close(ours, F.binary_cross_entropy_with_logits(x, t, reduction="none"),
                               equal_nan=True)


# ---------------------------------------------------------------- what fastbce does itself


@pytest.fixture
def spy(monkeypatch):
    """Records the calls the adapter makes into fastbce's API as (logits, want_grad,
    num_threads, input array, target array)."""
    calls = []
    for name in ["binary_cross_entropy", "binary_cross_entropy_and_grad",
                 "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_and_grad"]:
        real = getattr(_api, name)

        def wrapper(*args, _real=real, _name=name, **kw):
            calls.append(("logits" in _name, _name.endswith("_and_grad"), kw["num_threads"],
                          args[0], args[1]))
            return _real(*args, **kw)

        monkeypatch.setattr(_api, name, wrapper)
    return calls


def test_no_gradient_when_nothing_requires_grad(spy):
    x, t = data((100,), torch.float32)
    ft.binary_cross_entropy(x, t)
    with torch.no_grad():
        ft.binary_cross_entropy_with_logits(x.requires_grad_(), t)
    out = ft.BCELoss(reduction="none")(x.detach(), t)
    assert out.grad_fn is None and not out.requires_grad
    assert [c[:2] for c in spy] == [(False, False), (True, False), (False, False)]


def test_fastbce_reads_the_tensors_memory_and_torchs_thread_count(spy):
    x, t = data((64, 3), torch.float32)
    x.requires_grad_(True)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ft.binary_cross_entropy(x, t)
        torch.set_num_threads(2)
        ft.binary_cross_entropy_with_logits(x, t, pos_weight=torch.ones(3))
    finally:
        torch.set_num_threads(before)
    (l1, g1, n1, x1, t1), (l2, g2, n2, _, _) = spy
    assert (l1, g1, l2, g2) == (False, True, True, True)
    assert (n1, n2) == (1, 2)
    assert x1.__array_interface__["data"][0] == x.data_ptr()  # a view, not a copy
    assert t1.__array_interface__["data"][0] == t.data_ptr()


def test_small_calls_are_torchs(spy, monkeypatch):
    monkeypatch.setattr(ft, "LOGITS_MIN_ELEMENTS", 32768)  # the default
    x, t = data((4095, 8), torch.float32, logits=True)
    a = loss_and_grad(ft.binary_cross_entropy_with_logits, x, t)
    assert spy == []
    b = loss_and_grad(F.binary_cross_entropy_with_logits, x, t)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ft.binary_cross_entropy_with_logits(*data((4096, 8), torch.float32, logits=True))
    ft.binary_cross_entropy(x.sigmoid(), t)  # 32760 probabilities: fastbce
    assert [c[0] for c in spy] == [True, False]
    # fastbce's additions on small calls: torch operations
    xs, ts = data((40, 3), torch.float64, logits=True)
    torch.testing.assert_close(
        ft.binary_cross_entropy_with_logits(xs, ts, label_smoothing=0.2),
        F.binary_cross_entropy_with_logits(xs, ts * 0.8 + 0.1), **TOL[torch.float64])
    torch.testing.assert_close(
        ft.binary_cross_entropy_with_logits(xs, ts, reduction="weighted_mean"),
        F.binary_cross_entropy_with_logits(xs, ts), **TOL[torch.float64])
    with pytest.raises(TypeError, match="label_smoothing"):
        ft.binary_cross_entropy_with_logits(xs, ts, label_smoothing=False)
    with pytest.warns(UserWarning):
        ft.binary_cross_entropy_with_logits(xs, ts, size_average=False)
    assert [c[0] for c in spy] == [True, False]
    monkeypatch.setattr(ft, "PROBS_MIN_ELEMENTS", 2048)  # the default
    ft.binary_cross_entropy(*data((2047,), torch.float32))
    ft.binary_cross_entropy(*data((2048,), torch.float32))
    assert [c[0] for c in spy] == [True, False, False]


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")  # the '\\ n'
@pytest.mark.parametrize("program", SEED_PROGRAMS, ids=["example1", "example2"])
def test_seed_programs_print_torchs_output_by_default(program, monkeypatch):
    """With the default limits the tutorial's few elements run torch's own function, so the
    printout is torch's, node name included."""
    monkeypatch.setattr(ft, "PROBS_MIN_ELEMENTS", 2048)
    changed = program.replace("import torch.nn as nn", "import fastbce.torch as nn")
    out, grad = _exec_seed(changed)
    ref_out, ref_grad = _exec_seed(program)
    assert out == ref_out
    assert torch.equal(grad, ref_grad)


# ---------------------------------------------------------------- the modules


def test_modules_behave_like_torchs():
    w, pw = torch.rand(3), torch.rand(3)
    for ours, ref in [(ft.BCELoss(weight=w), nn.BCELoss(weight=w)),
                      (ft.BCEWithLogitsLoss(weight=w, pos_weight=pw),
                       nn.BCEWithLogitsLoss(weight=w, pos_weight=pw)),
                      (ft.BCELoss(reduction="sum"), nn.BCELoss(reduction="sum"))]:
        assert isinstance(ours, type(ref))
        assert repr(ours) == repr(ref)
        assert ours.reduction == ref.reduction
        assert dict(ours.named_buffers()).keys() == dict(ref.named_buffers()).keys()
        sd, rsd = ours.state_dict(), ref.state_dict()
        assert sd.keys() == rsd.keys() and all(torch.equal(sd[k], rsd[k]) for k in sd)
        ours.load_state_dict(rsd)
        ours.to(torch.float64)
        assert all(b.dtype == torch.float64 for b in ours.buffers())
    assert repr(ft.BCEWithLogitsLoss(label_smoothing=0.1)) == "BCEWithLogitsLoss(label_smoothing=0.1)"
    crit = ft.BCEWithLogitsLoss(pos_weight=pw).to(torch.float64)
    x, t = data((8, 3), torch.float64, logits=True)
    torch.testing.assert_close(crit(x, t), nn.BCEWithLogitsLoss(pos_weight=pw.double())(x, t))


def _train(criterion, steps=40, dtype=torch.float32):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 3)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(64, 10, generator=g, dtype=dtype)
    y = (X[:, :3] + 0.5 * torch.randn(64, 3, generator=g, dtype=dtype) > 0).to(dtype)
    for _ in range(steps):
        opt.zero_grad()
        loss = criterion(model(X), y)
        loss.backward()
        opt.step()
    return loss.item(), [p.detach() for p in model.parameters()]


def test_training_with_pos_weight_ends_with_torchs_parameters():
    pw = torch.tensor([1.0, 3.0, 0.5])
    loss, params = _train(ft.BCEWithLogitsLoss(pos_weight=pw))
    ref_loss, ref_params = _train(nn.BCEWithLogitsLoss(pos_weight=pw))
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    for p, r in zip(params, ref_params):
        torch.testing.assert_close(p, r, rtol=1e-5, atol=1e-6)
    # the comparison can tell: a run of one step fewer is far from the reference
    _, fewer = _train(nn.BCEWithLogitsLoss(pos_weight=pw), steps=39)
    assert max((p - r).abs().max().item() for p, r in zip(fewer, ref_params)) > 1e-4


def _compiled_step(criterion, backend):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    X = torch.randn(16, 6)
    y = (torch.rand(16, 2) > 0.5).float()
    step = torch.compile(lambda: criterion(model(X), y), backend=backend, fullgraph=True)
    loss = step()
    loss.backward()
    return loss.detach(), [p.grad for p in model.parameters()]


def test_compiled_training_step():
    """fullgraph=True with aot_eager (inductor, and the graph's contents: test_torch_ops.py)."""
    torch._dynamo.reset()
    pw = torch.tensor([2.0, 0.5])
    loss, grads = _compiled_step(ft.BCEWithLogitsLoss(pos_weight=pw), "aot_eager")
    ref_loss, ref_grads = _compiled_step(nn.BCEWithLogitsLoss(pos_weight=pw), "eager")
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(grads, ref_grads)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_weighted_mean_reduction(logits, dtype):
    """fastbce's "weighted_mean" (sum(w l) / sum(w)) through the adapter, served (float32,
    float64) and computed by torch (bfloat16), forward and backward."""
    import fastbce.torch as ft

    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(40, 7, generator=gen) if logits else torch.rand(40, 7, generator=gen) * 0.9
         + 0.05).to(dtype).requires_grad_()
    t = torch.rand(40, 7, generator=gen).to(dtype)
    w = (torch.rand(40, 1, generator=gen) + 0.5).to(dtype)
    fn = ft.binary_cross_entropy_with_logits if logits else ft.binary_cross_entropy
    ref_fn = F.binary_cross_entropy_with_logits if logits else F.binary_cross_entropy
    loss = fn(x, t, w, reduction="weighted_mean")
    (grad,) = torch.autograd.grad(loss, x)
    x64 = x.detach().double().requires_grad_()
    per = ref_fn(x64, t.double(), w.double(), reduction="none")
    ref = per.sum() / w.double().expand_as(per).sum()
    (ref_grad,) = torch.autograd.grad(ref, x64)
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 2e-2}[dtype]
    assert loss.dtype == dtype
    torch.testing.assert_close(loss.double(), ref, rtol=tol, atol=tol)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=tol, atol=tol * ref_grad.abs().max())
    crit = (ft.BCEWithLogitsLoss if logits else ft.BCELoss)(weight=w, reduction="weighted_mean")
    torch.testing.assert_close(crit(x, t), loss)
