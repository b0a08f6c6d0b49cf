"""The implementations a case can be timed with, and how each is loaded.

A *peer* is one package (fastbce, torch, NumPy, Numba, numexpr, scikit-learn, and the
``np.dot`` floor): how to import it, which distribution's version the machine record names,
how it is given a thread count. A *row* (``Row``) is one way of computing a case's result
with one peer; the ``*_call`` helpers below make rows and ``cases.py`` lists them per case.
The peers' own formulas (NumPy expressions, Numba kernels, ...) are in ``formulas.py``.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np

from .formulas import compile_numba

FASTBCE = "fastbce"
FASTBCE_NONE = "fastbce (none)"  # reduction="none" into preallocated arrays, as sklearn does
FASTBCE_OUT = "fastbce (grad_out)"  # the gradient into a preallocated array
FASTBCE_FULL = "fastbce (full mean)"  # the mean over every axis, beside a mean over one
TORCH = "torch"
TORCH_OPS = "torch (ops)"  # plain tensor ops where torch has no single call
SKLEARN = "sklearn"
FLOOR = "np.dot floor"

XT = ("x", "t")  # the arrays most calls take, in order


@dataclass(frozen=True)
class Peer:
    name: str  # as --impls spells it
    load: Callable[[], object]  # the backend its rows are made from; raises if unusable
    dist: str | None = None  # the distribution whose version the machine record names
    set_threads: Callable[[object, int], None] | None = None  # untimed, before each sample
    check: bool = True  # compare its result with fastbce's before timing
    note: str = ""  # said in the report when it runs


@dataclass(frozen=True)
class Row:
    peer: str  # a key of PEERS
    label: str  # the row's name in the table, the JSON and the plot
    make: Callable  # (backend, arrays, config) -> a zero-argument call, the thing timed
    compare: str = FASTBCE  # the fastbce row this row's time is compared with


@dataclass
class Impl:
    """A row made for one configuration, ready to time."""

    label: str
    call: Callable[[], object]  # returns the loss, (loss, grad) or (grad, hess)
    prepare: Callable[[], None]  # untimed, before every sample
    check: bool
    compare: str


# --------------------------------------------------------------------------- loading


def _load_numba():
    numba = importlib.import_module("numba")
    return SimpleNamespace(numba=numba, **compile_numba(numba))


def _load_sklearn():
    # a private API (sklearn._loss): the caller treats any exception as "unusable"
    return importlib.import_module("sklearn._loss.loss").HalfBinomialLoss()


def _numba_threads(backend, threads):
    backend.numba.set_num_threads(min(threads, backend.numba.config.NUMBA_NUM_THREADS))


PEERS = {  # in table order
    "fastbce": Peer("fastbce", lambda: importlib.import_module("fastbce")),
    "torch": Peer(
        "torch",
        lambda: importlib.import_module("torch"),
        "torch",
        lambda torch, n: torch.set_num_threads(n),
    ),
    "numpy": Peer(
        "numpy",
        lambda: np,
        "numpy",
        note="numpy is single-threaded: its rows run the same code at every thread count",
    ),
    "numba": Peer("numba", _load_numba, "numba", _numba_threads),
    "numexpr": Peer(
        "numexpr",
        lambda: importlib.import_module("numexpr"),
        "numexpr",
        lambda numexpr, n: numexpr.set_num_threads(n),
    ),
    "sklearn": Peer("sklearn", _load_sklearn, "scikit-learn"),  # HalfBinomialLoss
    "floor": Peer("floor", lambda: np, check=False),
}


def load(names):
    """Load the peers ``names``: ({name: backend}, {name: why it is unusable})."""
    loaded, missing = {}, {}
    for name in names:
        try:
            loaded[name] = PEERS[name].load()
        except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install raising anything
            missing[name] = f"{type(exc).__name__}: {exc}"
    return loaded, missing


def build(rows, loaded, arrays, cfg):
    """The rows whose peer is loaded, made for one configuration, as ``Impl``s."""
    impls = []
    for row in rows:
        if row.peer not in loaded:
            continue
        peer, backend = PEERS[row.peer], loaded[row.peer]
        prepare = (
            functools.partial(peer.set_threads, backend, cfg.threads)
            if peer.set_threads
            else _nothing
        )
        call = row.make(backend, arrays, cfg)
        impls.append(Impl(row.label, call, prepare, peer.check, row.compare))
    return impls


def _nothing():
    pass


# --------------------------------------------------------------------------- rows


def _pick(arrays, names):
    return [getattr(arrays, name) for name in names]


def fastbce_call(fn, label=FASTBCE, args=XT, outs=(), array_kwargs=(), **kwargs):
    """``fastbce.<fn>(*args, num_threads=..., **kwargs)``, each name in ``outs`` given a
    preallocated array of x's shape and dtype, and each ``(keyword, array name)`` of
    ``array_kwargs`` one of the case's arrays (``where=`` its mask, say)."""

    def make(fastbce, arrays, cfg):
        buffers = {name: np.empty_like(arrays.x) for name in outs}
        named = {key: getattr(arrays, name) for key, name in array_kwargs}
        return functools.partial(
            getattr(fastbce, fn),
            *_pick(arrays, args),
            num_threads=cfg.fastbce_threads,
            **kwargs,
            **buffers,
            **named,
        )

    return Row("fastbce", label, make)


def numpy_call(fn, args=XT, **kwargs):
    """``fn(*args, **kwargs)``: a NumPy expression."""
    return Row(
        "numpy",
        "numpy",
        lambda np_, arrays, cfg: functools.partial(fn, *_pick(arrays, args), **kwargs),
    )


def torch_call(fn, label=TORCH, args=XT, **kwargs):
    """``torch.nn.functional.<fn>`` on tensors sharing the arrays' memory; ``fn`` may also be
    a function ``fn(torch, *tensors)``."""

    def make(torch, arrays, cfg):
        tensors = [torch.from_numpy(a) for a in _pick(arrays, args)]
        f = (
            getattr(torch.nn.functional, fn)
            if isinstance(fn, str)
            else functools.partial(fn, torch)
        )
        return functools.partial(f, *tensors, **kwargs)

    return Row("torch", label, make)


def torch_autograd(fn, args=XT, **kwargs):
    """``torch.nn.functional.<fn>`` (or ``fn(torch, *tensors)``) forward and ``backward()``:
    (loss, input's gradient)."""

    def make(torch, arrays, cfg):
        first, *rest = _pick(arrays, args)
        leaf = torch.from_numpy(first).requires_grad_()
        others = [torch.from_numpy(a) for a in rest]
        f = (
            getattr(torch.nn.functional, fn)
            if isinstance(fn, str)
            else functools.partial(fn, torch)
        )

        def loss_and_grad():
            leaf.grad = None
            loss = f(leaf, *others, **kwargs)
            loss.backward()
            return loss, leaf.grad

        return loss_and_grad

    return Row("torch", TORCH, make)


def numba_call(kernel, args=XT):
    """One of the kernels ``compile_numba`` makes."""
    return Row(
        "numba",
        "numba",
        lambda b, arrays, cfg: functools.partial(getattr(b, kernel), *_pick(arrays, args)),
    )


def numexpr_mean(expression):
    """The mean of a numexpr expression over x and t."""

    def make(numexpr, arrays, cfg):
        local = {"x": arrays.x, "t": arrays.t}
        return lambda: numexpr.evaluate(expression, local_dict=local).mean()

    return Row("numexpr", "numexpr", make)


def sklearn_call(method, outs, compare=FASTBCE):
    """``HalfBinomialLoss().<method>`` on logits x and labels t, on its own OpenMP threads,
    into preallocated arrays named by ``outs``."""

    def make(loss, arrays, cfg):
        buffers = {name: np.empty_like(arrays.x) for name in outs}
        return functools.partial(
            getattr(loss, method),
            y_true=arrays.t,
            raw_prediction=arrays.x,
            n_threads=cfg.threads,
            **buffers,
        )

    return Row("sklearn", SKLEARN, make, compare)


FLOOR_ROW = Row(
    "floor", FLOOR,
    # (flat views: the axis cases' inputs are 2-D)
    lambda np_, arrays, cfg: functools.partial(np.dot, arrays.x.ravel(), arrays.t.ravel()),
)
