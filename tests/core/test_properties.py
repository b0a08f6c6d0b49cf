"""Property tests: every public function of both families on drawn problems, against PyTorch
(CPU, the same dtype; the hessian by double backward) and against the extended-precision
truth of ``reference.py``.

One drawn problem crosses everything at once: dtype (float32, float64, and float16, integer
and bool storage), shape (0-d to 5-D, empty, a few hundred to a few thousand elements, and
above the parallel threshold), the layout of every operand (C, Fortran, transposed,
negative strides, strided, big-endian, read-only), weight and pos_weight broadcasts (none,
Python scalar, 0-d, every shape that broadcasts without enlarging), reduction, label
smoothing, grad_output (scalar or per element), thread count, kernel module, out= buffers
(C, strided, Fortran, the input itself), the function or the criterion object. Values are
random with edge values placed on purpose: +-0, subnormals, one ulp from 0 and 1, the
clamps and the product path's limits, huge and infinite logits.

Every result is checked against the truth within a few roundings of the size of its terms
(K below: 6 to 8 roundings), against PyTorch
within those roundings plus PyTorch's own, and for the properties the README promises:
result type, dtype, shape and memory order; out= filled and returned; one pass or several
give the same bits; every thread count gives the same bits; float16 is the float32 result
rounded; inputs are never modified.

Kernel modules: with FASTBCE_ISA set (CI runs the suite once per module), the module it
names; without it, each example draws one of the modules this CPU runs (the public path,
with ``fastbce._bce``'s module swapped; see ``helpers.kernels_module``).

The hypothesis profile (``conftest.py``) is deterministic; FASTBCE_HYPOTHESIS=thorough
draws thousands of random examples instead.
"""

import contextlib
import math

import numpy as np
import reference as ref
from helpers import fingerprint, isas_under_test, kernels_module
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastbce

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
THRESHOLD = fastbce.show_config()["parallel_threshold"]
BLOCK = fastbce.show_config()["block_size"]
THOROUGH = settings().max_examples > 1000

# Roundings allowed, in units of the dtype's u (2^-24, 2^-53) times the size of the terms.
# The worst cases measured over 1.2 million random elements per module and dtype (every
# module, weighted and not) were 3.6 (loss, without pos_weight), 4.7 (grad) and 6.7 (hess)
# roundings. PyTorch's own evaluation is allowed TORCH_ROUNDINGS of its terms on top.
K = {"loss": 6, "grad": 8, "hess": 8}
TORCH_ROUNDINGS = 8


def examples(n):
    return max(n, settings().max_examples) if THOROUGH else n


# ------------------------------------------------------------------ edge values


def _specials(cdt, logits):
    f = np.finfo(cdt)
    one_below = float(np.nextafter(cdt.type(1), cdt.type(0)))
    sub = float(f.smallest_subnormal)
    if logits:
        vals = [0.0, -0.0, sub, -sub, 1e-30, -1e-30, 13.8, -13.8, 13.9, -13.9, 20.0, -20.0,
                88.7, -88.7, 103.9, -103.9, 150.0, -150.0, 745.2, -745.2, 1100.0, -1100.0,
                1e4, -1e4, 1e20, -1e20, np.inf, -np.inf]
    else:
        vals = [0.0, -0.0, 1.0, sub, float(f.smallest_normal) - sub, float(f.smallest_normal),
                one_below, 0.5, float(np.nextafter(cdt.type(0.5), cdt.type(0))),
                math.exp(-100), 3.7e-44, 1e-12, 1 - 1e-12, 2.0**-20, 1 - 2.0**-20,
                1 - 2.0**-10, 2.0**-144, 1e-300]
    return [float(cdt.type(v)) for v in vals]


def _target_specials(cdt):
    return [0.0, -0.0, 1.0, 0.5, float(np.nextafter(cdt.type(1), cdt.type(0))),
            float(np.finfo(cdt).smallest_subnormal)]


# ------------------------------------------------------------------ layouts


def _layouts(ndim):
    if ndim == 0:
        return ["C", "bigendian", "readonly"]
    return ["C", "C", "F", "reversed", "strided", "transposed", "bigendian", "readonly"]


def relayout(a, layout):
    """The same values and shape in another memory layout (a new array)."""
    a = np.array(a, order="C")
    if layout == "C":
        return a
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "reversed":  # negative strides on every axis
        idx = (slice(None, None, -1),) * a.ndim
        return np.array(a[idx], order="C")[idx]
    if layout == "strided":
        if a.ndim == 0:
            return a
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype)
        big[..., 1::2] = a
        return big[..., 1::2]
    if layout == "transposed":
        return np.array(a.T, order="C").T
    if layout == "bigendian":
        return a.astype(a.dtype.newbyteorder(">"))
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    raise AssertionError(layout)


# ------------------------------------------------------------------ problems


@st.composite
def shapes(draw):
    size = draw(st.sampled_from(["small"] * 8 + ["medium"] * 3 + ["large"]))
    if size == "small":
        return draw(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5))
    lo, hi = (256, 3000) if size == "medium" else (THRESHOLD + 1, 2 * THRESHOLD)
    ndim = draw(st.integers(1, 3))
    lead = [draw(st.integers(1, 12)) for _ in range(ndim - 1)]
    last = max(1, draw(st.integers(lo, hi)) // max(1, math.prod(lead)))
    return tuple(lead) + (last,)


@st.composite
def broadcast_operand(draw, shape, cdt, lo, hi, specials):
    """None, a Python float, a 0-d array or an array of a shape that broadcasts to
    ``shape`` without enlarging it; its dtype the computation dtype or another real one."""
    kind = draw(st.sampled_from(["none", "none", "float", "0d", "array", "array", "array"]))
    if kind == "none":
        return None
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "float":
        return float(cdt.type(draw(st.sampled_from([rng.uniform(lo, hi)] + specials))))
    if kind == "0d":
        wshape = ()
    else:
        drop = draw(st.integers(0, len(shape)))
        wshape = tuple(s if draw(st.booleans()) else 1 for s in shape[drop:])
    w = rng.uniform(lo, hi, wshape)
    if w.size and specials:
        for _ in range(draw(st.integers(0, 3))):
            w.flat[draw(st.integers(0, w.size - 1))] = draw(st.sampled_from(specials))
    wdt = draw(st.sampled_from([cdt, cdt, cdt, F64, np.dtype(np.float16), np.dtype(np.int16)]))
    if wdt.kind == "i":
        w = np.round(w)
    w = w.astype(wdt)
    return relayout(w, draw(st.sampled_from(_layouts(w.ndim))))


@st.composite
def problems(draw, logits):
    cdt = draw(st.sampled_from([F32, F64]))
    shape = draw(shapes())
    n = math.prod(shape)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    # values: a distribution, then edge values at drawn places
    if logits:
        kind = draw(st.sampled_from(["normal1", "normal4", "normal20", "uniform15"]))
        x = {"normal1": lambda: rng.normal(0, 1, n), "normal4": lambda: rng.normal(0, 4, n),
             "normal20": lambda: rng.normal(0, 20, n),
             "uniform15": lambda: rng.uniform(-15, 15, n)}[kind]()
    else:
        kind = draw(st.sampled_from(["uniform", "edges", "confident"]))
        u = rng.uniform(0, 1, n)
        x = {"uniform": u, "edges": np.where(u < 0.5, u**8, 1 - u**8),
             "confident": np.where(rng.uniform(0, 1, n) < 0.5, u * 1e-6, 1 - u * 1e-6)}[kind]
    tkind = draw(st.sampled_from(["soft", "hard", "hard", "runs"]))
    t = rng.uniform(0, 1, n)
    if tkind == "hard":
        t = (t < 0.5).astype(float)
    elif tkind == "runs":  # chunks of hard and soft targets
        hard = (np.arange(n) // draw(st.sampled_from([16, 256, 300]))) % 2 == 0
        t = np.where(hard, np.round(t), t)
    if n:
        for _ in range(draw(st.integers(0, 8))):
            x[draw(st.integers(0, n - 1))] = draw(st.sampled_from(_specials(cdt, logits)))
        for _ in range(draw(st.integers(0, 4))):
            t[draw(st.integers(0, n - 1))] = draw(st.sampled_from(_target_specials(cdt)))
    x = x.astype(cdt).reshape(shape)
    t = t.astype(cdt).reshape(shape)
    # how the input is stored: float16 and integer data are cast by fastbce
    storage = draw(st.sampled_from(["native"] * 6 + ["float16", "integer"]))
    if storage == "float16" and cdt == F32:
        x = x.astype(np.float16).astype(F32)
    elif storage == "integer" and cdt == F64:
        x = np.asarray(np.clip(np.round(x), -1e9, 1e9) if logits else (x > 0.5), F64)
        x[np.isnan(x)] = 0
    else:
        storage = "native"

    weight = draw(broadcast_operand(shape, cdt, 0.25, 4.0, [0.0, 1.0, 1e-3, 1e4, 1e-40]))
    pos_weight = None
    if logits:
        pos_weight = draw(broadcast_operand(shape, cdt, 0.25, 4.0, [1.0, 1e-4, 1e-8, 0.0, 50.0]))

    reduction = draw(st.sampled_from(["none", "mean", "sum"]))
    ls = draw(st.sampled_from([0.0, 0.0, 0.0, 0.1, 0.5, 0.99, 2.0**-20]))
    if reduction == "none" and n and draw(st.booleans()):
        go = rng.uniform(-2, 2, shape).astype(cdt)
        go.flat[draw(st.integers(0, n - 1))] = draw(st.sampled_from([0.0, -0.0, 1e-30, 1e6]))
        go = relayout(go, draw(st.sampled_from(_layouts(go.ndim))))
    else:
        go = draw(st.sampled_from([1.0, 1.0, 2.5, -0.75, 0.0, 3e-36, 1e6, np.float32(0.3)]))

    tdt = draw(st.sampled_from([cdt, cdt, cdt, np.dtype(np.float16), np.dtype(np.bool_), F64]))
    if tdt == np.bool_:
        t = (t > 0.5).astype(cdt)
    elif tdt != cdt:
        t = t.astype(tdt).astype(cdt)  # the values the cast gives, in the computation dtype
    problem = {
        "logits": logits, "cdt": cdt, "x": x, "t": t, "storage": storage, "tdt": tdt,
        "x_layout": draw(st.sampled_from(_layouts(x.ndim))),
        "t_layout": draw(st.sampled_from(_layouts(x.ndim))),
        "weight": weight, "pos_weight": pos_weight, "reduction": reduction,
        "label_smoothing": ls, "grad_output": go,
        "num_threads": draw(st.sampled_from([None, 1, 2, 3, 8])),
        "isa": draw(st.sampled_from(isas_under_test())),
        "via": draw(st.sampled_from(["function", "function", "criterion"])),
        "outs": {k: draw(st.sampled_from(["none", "none", "C", "strided", "F", "alias"]))
                 for k in ("loss", "grad", "fused_loss", "fused_grad", "gh_grad", "gh_hess")},
    }
    return problem


# ------------------------------------------------------------------ calling fastbce


def _out(mode, shape, dt, x_alias):
    """An out buffer of the given kind, or None; "alias" is the input array itself."""
    if mode == "none":
        return None
    if shape == () and mode in ("strided", "F"):
        mode = "C"
    if mode == "alias":
        return x_alias
    base = np.full(shape, np.nan, dt)
    return relayout(base, mode) if mode != "C" else base


def run_fastbce(p):
    """Every function of the family on the problem, with its drawn out= buffers; returns
    {"loss", "grad", "fused", "grad_hess", "repeat"} and the outs' identity checks."""
    logits, cdt, red = p["logits"], p["cdt"], p["reduction"]
    x_call = relayout(p["x"] if p["storage"] == "native" else
                      p["x"].astype(np.float16 if p["storage"] == "float16" else
                                    (np.int32 if logits else np.bool_)),
                      p["x_layout"])
    t_call = relayout(p["t"].astype(p["tdt"]) if p["tdt"] != cdt else p["t"], p["t_layout"])
    rdt = x_call.dtype.newbyteorder("=") if x_call.dtype.kind == "f" else F64
    shape = p["x"].shape
    common = {"weight": p["weight"], "label_smoothing": p["label_smoothing"],
              "num_threads": p["num_threads"]}
    if logits:
        common["pos_weight"] = p["pos_weight"]
    if p["via"] == "criterion":
        cls = fastbce.BCEWithLogitsLoss if logits else fastbce.BCELoss
        crit = cls(reduction=red, **common)
        f_loss = lambda x, t, out: crit(x, t, out=out)
        f_grad = lambda x, t, go, out: crit.grad(x, t, grad_output=go, out=out)
        f_both = lambda x, t, lo, go: crit.loss_and_grad(x, t, loss_out=lo, grad_out=go)
        f_gh = (lambda x, t, g, h: crit.grad_hess(x, t, grad_out=g, hess_out=h)) if logits else None
    else:
        L = fastbce.binary_cross_entropy_with_logits if logits else fastbce.binary_cross_entropy
        G = (fastbce.binary_cross_entropy_with_logits_grad if logits
             else fastbce.binary_cross_entropy_grad)
        B = (fastbce.binary_cross_entropy_with_logits_and_grad if logits
             else fastbce.binary_cross_entropy_and_grad)
        f_loss = lambda x, t, out: L(x, t, reduction=red, out=out, **common)
        f_grad = lambda x, t, go, out: G(x, t, reduction=red, grad_output=go, out=out, **common)
        f_both = lambda x, t, lo, go: B(x, t, reduction=red, loss_out=lo, grad_out=go, **common)
        f_gh = None
        if logits:
            gh_kw = {k: v for k, v in common.items()}
            f_gh = lambda x, t, g, h: fastbce.binary_cross_entropy_with_logits_grad_hess(
                x, t, grad_out=g, hess_out=h, **gh_kw)

    can_alias = x_call.dtype == rdt and rdt == cdt
    arguments = [x_call, t_call, p["weight"], p["pos_weight"], p["grad_output"]]
    before = [fingerprint(a) for a in arguments]
    res, checks = {}, []

    def call(name, fn, modes, *args):
        """fn(x, t, *args, *outs): outs of the drawn kinds; an aliased out is the input
        (a private copy of it, so that the problem's arrays stay untouched)."""
        x = x_call
        outs = []
        for key, oshape in modes:
            mode = p["outs"][key]
            if mode == "alias" and not (can_alias and oshape == shape and x is x_call):
                mode = "C"
            if mode == "alias":
                x = x_call.copy(order="K")  # the same layout: sums follow memory order
            outs.append(_out(mode, oshape, rdt, x))
        value = fn(x, t_call, *args, *outs)
        values = value if isinstance(value, tuple) else (value,)
        for o, v in zip(outs, values):
            if o is not None:
                checks.append((name, v is o))
        return value

    lshape = shape if red == "none" else ()
    # float16 results beyond its range warn (BUG, test_regressions.py::
    # test_float16_results_overflow_silently); the values are checked all the same
    quiet = np.errstate(over="ignore") if p["storage"] == "float16" else contextlib.nullcontext()
    with kernels_module(p["isa"]), quiet:
        res["loss"] = call("loss", f_loss, [("loss", lshape)])
        res["grad"] = call("grad", lambda x, t, go, out: f_grad(x, t, go, out),
                           [("grad", shape)], p["grad_output"])
        res["fused"] = call("fused", f_both, [("fused_loss", lshape), ("fused_grad", shape)])
        if logits:
            res["grad_hess"] = call("grad_hess", f_gh, [("gh_grad", shape), ("gh_hess", shape)])
        # the same on one thread (bit-identical for every thread count)
        one = dict(common, num_threads=1)
        if logits:
            res["repeat"] = (
                fastbce.binary_cross_entropy_with_logits_and_grad(x_call, t_call, reduction=red, **one)
                + fastbce.binary_cross_entropy_with_logits_grad_hess(x_call, t_call, **one))
        else:
            res["repeat"] = fastbce.binary_cross_entropy_and_grad(x_call, t_call, reduction=red, **one)
        if p["storage"] == "float16":  # the float32 result, rounded
            res["float32"] = (fastbce.binary_cross_entropy_with_logits_and_grad if logits else
                              fastbce.binary_cross_entropy_and_grad)(
                x_call.astype(np.float32), t_call, reduction=red, **common)
    assert [fingerprint(a) for a in arguments] == before, "an input was modified"
    res["x_call"], res["rdt"] = x_call, rdt
    return res, checks


# ------------------------------------------------------------------ the expected values


def _canonical(value, cdt, shape):
    if value is None:
        return np.ones(shape, cdt)
    return np.broadcast_to(np.asarray(value).astype(cdt), shape)


def expectations(p):
    """Per output: (truth, tolerance against the truth, torch, tolerance against torch)."""
    logits, cdt, red = p["logits"], p["cdt"], p["reduction"]
    x, shape, n = p["x"], p["x"].shape, p["x"].size
    ls = p["label_smoothing"]
    # label smoothing in the computation dtype, the documented rule t (1 - ls) + ls / 2
    t = p["t"] if ls == 0 else p["t"] * cdt.type(1 - ls) + cdt.type(0.5 * ls)
    w = _canonical(p["weight"], cdt, shape)
    pw = _canonical(p["pos_weight"], cdt, shape) if logits else None
    go = p["grad_output"]
    go_c = np.asarray(go).astype(cdt)  # fastbce and torch round grad_output to the dtype
    g_el = np.broadcast_to(np.asarray(go_c, ref.LD), shape)
    if red == "mean" and n:
        g_el = g_el / n
    g1 = np.full(shape, ref.LD(1) / n if red == "mean" and n else 1, ref.LD)

    tr = ref.truth_logits(x, t, pw) if logits else ref.truth_probs(x, t)
    torch_out = ref.torch_reference(
        logits, x, t, None if p["weight"] is None else w, red,
        None if pw is None or p["pos_weight"] is None else pw,
        grad_outputs=(go_c, np.ones((), cdt)), hess=logits)

    u, tiny = ref.U[cdt], ref.TINY[cdt]
    wl = np.asarray(w, ref.LD)
    pwl = 1 if pw is None else np.abs(np.asarray(pw, ref.LD))
    # results that end in (or pass through) subnormals: a rounding of the smallest spacing,
    # times whatever multiplies them after
    floor = 4 * tiny * (1 + np.abs(wl)) * (1 + pwl)
    torch_u = u
    exp = {}

    # the loss
    el, sc, rs = wl * tr["loss"], np.abs(wl) * tr["loss_scale"], np.abs(wl) * tr["loss_ref_scale"]
    if red == "none":
        exp["loss"] = (el, K["loss"] * u * sc + floor, torch_out["loss"],
                       K["loss"] * u * sc + TORCH_ROUNDINGS * torch_u * rs + floor)
    else:
        with np.errstate(invalid="ignore"):
            total, stotal, rtotal = el.sum(), sc.sum(), rs.sum()
        nblocks = -(-n // BLOCK)
        # float64 sums: each element's rounding plus the accumulation (16 lanes of at most
        # 512 terms, then the blocks; 0/1 targets summed as a product lose at most 2^-53 in
        # log space per factor, each loss being at least 2^-10 there: 2^10 roundings)
        acc = (2**10 + nblocks + 16) * 2.0**-53
        tol = K["loss"] * u * stotal + acc * stotal + n * np.max(floor, initial=0)
        ttol = tol + (TORCH_ROUNDINGS + math.log2(n + 1)) * torch_u * rtotal
        if red == "mean":
            total, tol, ttol = (total / n, tol / n, ttol / n) if n else (ref.LD("nan"), 0, 0)
        exp["loss"] = (total, tol, torch_out["loss"], ttol)
    # torch's loss is NaN at x = -inf (inf - inf in its sum) where the limit is inf: there
    # the limit is what fastbce documents, and the truth's
    truth, tol, tv, ttol = exp["loss"]
    with np.errstate(invalid="ignore"):
        exp["loss"] = (truth, tol, np.where(np.isnan(tv) & ~np.isnan(truth), truth, tv), ttol)

    def grad_expect(g, torch_grad):
        gw = np.abs(g * wl)
        gfloor = 4 * tiny * (1 + np.abs(wl) * (1 + np.abs(g))) * (1 + pwl)
        tol = K["grad"] * u * gw * tr["grad_scale"] + gfloor
        with np.errstate(invalid="ignore"):
            truth = g * wl * tr["grad"]
        return (truth, tol, torch_grad, tol + TORCH_ROUNDINGS * torch_u * gw * tr["grad_ref_scale"])

    exp["grad"] = grad_expect(g_el, torch_out["grads"][0])
    exp["fused_grad"] = grad_expect(g1, torch_out["grads"][1])
    if logits:
        unit = np.ones(shape, ref.LD)
        exp["gh_grad"] = grad_expect(unit, torch_out["grad_hess"][0])
        h_tol = K["hess"] * u * np.abs(wl) * tr["hess_scale"] + floor
        exp["gh_hess"] = (wl * tr["hess"], h_tol, torch_out["grad_hess"][1],
                          h_tol + TORCH_ROUNDINGS * torch_u * np.abs(wl) * tr["hess_ref_scale"])
    return exp


# ------------------------------------------------------------------ the checks


def _describe(p):
    keep = ("cdt", "storage", "tdt", "x_layout", "t_layout", "reduction", "label_smoothing",
            "num_threads", "isa", "via", "outs")
    text = {k: str(p[k]) for k in keep}
    text["shape"] = p["x"].shape
    for k in ("weight", "pos_weight", "grad_output"):
        v = p[k]
        text[k] = None if v is None else (v if np.ndim(v) == 0 and not isinstance(v, np.ndarray)
                                          else f"array{np.shape(v)} {np.asarray(v).dtype}")
    return text


def _flags(a):
    return f"{a.shape} {a.strides} C={a.flags.c_contiguous} F={a.flags.f_contiguous}"


def _same_bits(a, b):
    return np.asarray(a).tobytes() == np.asarray(b).tobytes() and np.shape(a) == np.shape(b)


def check_problem(p):
    res, out_checks = run_fastbce(p)
    exp = expectations(p)
    red, shape, rdt = p["reduction"], p["x"].shape, res["rdt"]
    x_call = res["x_call"]
    ctx = {"problem": _describe(p), "x": p["x"], "t": p["t"]}
    for name, ok in out_checks:
        assert ok, f"{name}: the out= buffer given is not the array returned"

    loss, grad = res["loss"], res["grad"]
    fused_loss, fused_grad = res["fused"]
    # types, dtypes, shapes, memory order
    fortran = x_call.ndim > 1 and x_call.flags.f_contiguous and not x_call.flags.c_contiguous
    for value in (loss, fused_loss):
        if red == "none":
            assert isinstance(value, np.ndarray) and value.shape == shape
        else:
            assert np.shape(value) == () and isinstance(value, (np.generic, np.ndarray))
        assert value.dtype == rdt
    arrays = [grad, fused_grad] + ([loss, fused_loss] if red == "none" else [])
    if p["logits"]:
        arrays += list(res["grad_hess"])
    for value in arrays:
        assert value.shape == shape and value.dtype == rdt
    if p["outs"]["grad"] == "none" and grad.size > 1:
        assert (grad.flags.f_contiguous if fortran else grad.flags.c_contiguous), \
            f"outputs follow the input's memory order: input {_flags(x_call)}, grad {_flags(grad)}"

    # one pass or several: the same bits
    assert _same_bits(fused_loss, loss), "loss: and_grad differs from the loss function"
    go = p["grad_output"]
    if np.ndim(go) == 0 and float(np.asarray(go).astype(p["cdt"])) == 1.0:
        assert _same_bits(fused_grad, grad), "grad: and_grad differs from the grad function"
    if p["logits"] and red in ("none", "sum"):
        assert _same_bits(res["grad_hess"][0], fused_grad), "grad_hess's gradient differs"
    # any thread count: the same bits
    repeat = res["repeat"]
    mine = (fused_loss, fused_grad) + (tuple(res["grad_hess"]) if p["logits"] else ())
    for a, b in zip(mine, repeat):
        assert _same_bits(a, b), f"num_threads={p['num_threads']} and 1 differ"
    if p["storage"] == "float16":
        l32, g32 = res["float32"]
        with np.errstate(over="ignore"):
            assert _same_bits(fused_loss, np.asarray(l32).astype(np.float16))
            assert _same_bits(fused_grad, g32.astype(np.float16))
        return  # the float32 values are checked through the float32 storage examples

    got = {"loss": loss, "grad": grad, "fused_grad": fused_grad}
    if p["logits"]:
        got["gh_grad"], got["gh_hess"] = res["grad_hess"]
    for key, value in got.items():
        truth, tol, torch_value, torch_tol = exp[key]
        if ref.LD_IS_WIDE or p["cdt"] == F32:
            ref.assert_within(f"{key} against the truth", value, truth, tol, ctx)
        ref.assert_within(f"{key} against torch", value, torch_value, torch_tol, ctx)


@settings(max_examples=examples(100))
@given(problems(logits=False))
def test_probabilities(problem):
    check_problem(problem)


@settings(max_examples=examples(100))
@given(problems(logits=True))
def test_logits(problem):
    check_problem(problem)
