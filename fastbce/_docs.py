"""The docstrings' shared pieces: each parameter description written once; a function's
docstring lists the pieces of the parameters it has."""

# Parameter descriptions, each written once; a docstring lists the ones its function has.
_COMMON_HEAD = """
    Parameters
    ----------
    input : array_like
        Probabilities in [0, 1], any shape. Its dtype decides the computation: float32 and
        float64 stay as they are, float16 is computed in float32 and returned as float16,
        bool and integer inputs are computed in float64.
    target : array_like
        Same shape as ``input`` exactly (never broadcast), values in [0, 1]; any real dtype,
        cast to the computation dtype.
    weight : array_like, optional
        Rescaling weight that broadcasts to ``input``'s shape (NumPy rules) without enlarging
        it: a scalar, per-column ``(C,)``, per-row ``(N, 1)``, full-shape, ... It is never
        expanded to an input-sized temporary.
"""

_REDUCTION = """    reduction : {"mean", "sum", "none", "weighted_mean"}
        "none" returns an array of ``input``'s shape; the others a NumPy scalar: "sum" the
        sum, "mean" the sum over the number of counted elements (all but those ``where``
        excludes), "weighted_mean" the sum over the counted elements' summed ``weight``
        (``np.average``'s and scikit-learn's weighted mean; "mean" without a weight). A
        mean over nothing (no element counted, or weights summing to 0) is NaN. Sums
        accumulate in float64.
    axis : int or tuple of ints, optional
        Reduce over these axes only (NumPy's semantics: negative axes count from the end;
        ``None``, the default, reduces everything): "mean", "sum" and "weighted_mean" then
        return an array of the remaining axes' shape, each slot the mean, sum or weighted
        mean of its own slice (a slice with nothing counted is NaN). Computed in the same
        single pass, without an input-sized temporary. Not with "none".
    keepdims : bool, default False
        Keep the reduced axes as axes of length 1 (NumPy's ``keepdims``).
"""

_COMMON_TAIL = """    label_smoothing : float in [0, 1), default 0
        Targets become ``t * (1 - label_smoothing) + label_smoothing / 2`` (Keras' rule).
    where : array_like of bool, optional
        Which elements count (NumPy's ``where=``, broadcast to ``input``'s shape without
        enlarging it): where False an element has loss 0, gradient 0 (and hessian 0), is not
        range-checked (a NaN target there, the usual missing label, is fine) and is not
        counted by "mean". A ``numpy.ma.MaskedArray`` input or target adds ``~mask``.
    num_threads : int, optional
        Threads for this call. ``None`` uses ``fastbce.set_num_threads``'s value if set, else
        OpenMP's default (``OMP_NUM_THREADS``, threadpoolctl limits). Small inputs always run
        on the calling thread. The result is bit-identical for every thread count.
"""

_COMMON = _COMMON_HEAD + _REDUCTION + _COMMON_TAIL

_COMMON_NO_REDUCTION = _COMMON_HEAD + _COMMON_TAIL

_CLAMP = """    clamp_log : bool, default True
        True: each log is clamped at -100 and the gradient's denominator at 1e-12, as in
        PyTorch. False: the exact loss (+inf at a wrong saturated prediction, x = 0 with
        t > 0 or x = 1 with t < 1; 0 log 0 counts 0) and the exact gradient
        ``(1 - t) / (1 - x) - t / x`` (infinite there): a departure from PyTorch.
"""

_RAISES = """
    Raises
    ------
    ValueError
        An element of ``input`` or ``target`` outside [0, 1] or NaN (found during the same
        pass, not by an extra one), mismatched shapes, an unknown reduction, a ragged
        array-like, ``num_threads < 1``, an output of the wrong shape or read-only.
    TypeError
        Complex, string or object data; an output of the wrong dtype; a non-integer
        ``num_threads``.

    Inputs are never modified. The GIL is released while the kernel runs (on inputs of
    ``show_config()["nogil_threshold"]`` elements or more).
"""

_LOSS = "loss_i = -w_i * (t_i * max(log x_i, -100) + (1 - t_i) * max(log(1 - x_i), -100))"

_GRAD = "grad_i = g * w_i * (x_i - t_i) / max(x_i * (1 - x_i), 1e-12), divided by N for mean"

_LOGITS = """
    input : array_like
        Logits (any real value), any shape; the same dtype policy as the probability family.
        NaN raises ValueError (torch accepts it silently); +-inf is allowed.
    pos_weight : array_like, optional
        Weight of the positive class, broadcast like ``weight`` (typically ``(C,)`` over the
        last axis), never expanded to an input-sized temporary.
"""

_LOGIT_FORMULAS = """
        loss = w * ((1 - t) * x + (1 + (pw - 1) * t) * softplus(-x))
        grad = g * w * ((pw * t + 1 - t) * sigmoid(x) - pw * t), divided by N for mean
        hess = w * (pw * t + 1 - t) * sigmoid(x) * (1 - sigmoid(x))

    with softplus(-x) = max(-x, 0) + log1p(exp(-|x|)): finite for every finite logit."""

_FOCAL_HEAD = """
    input : array_like
        Logits, any shape (the dtype policy of the other functions).
    target : array_like
        Same shape as ``input``, values in [0, 1] (soft targets allowed).
    alpha : float, default 0.25
        Weight of the positive class: ``alpha_t = alpha t + (1 - alpha)(1 - t)``; a negative
        alpha turns the term off (``alpha_t = 1``), as in torchvision.
    gamma : float >= 0, default 2.0
        Focusing exponent; ``gamma = 0`` gives ``alpha_t`` times the BCE on logits.
"""

_FOCAL_REDUCTION = """    reduction : {"none", "mean", "sum", "weighted_mean"}, default "none"
        As in the other functions (torchvision's default is "none").
    axis, keepdims : optional
        As in the other functions: reduce over these axes only.
"""

_FOCAL_TAIL = """    weight : array_like, optional
        Per-element rescaling broadcast to ``input``'s shape (a fastbce extension).
    where : array_like of bool, optional
        As in the other functions.
    num_threads : int, optional
        As in the other functions.
"""

_FOCAL = _FOCAL_HEAD + _FOCAL_REDUCTION + _FOCAL_TAIL

_FOCAL_FORMULAS = """
        p = sigmoid(x),  ce = BCE with logits(x, t),  p_t = p t + (1 - p)(1 - t)
        loss = w * alpha_t * ce * (1 - p_t) ** gamma

    exactly torchvision.ops.sigmoid_focal_loss's definition, evaluated without overflow or
    cancellation for every finite logit (the derivation is in docs/design.md)."""
