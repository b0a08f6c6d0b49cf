"""Test helpers: the torch reference and data makers. torch is imported directly, so the
suite fails (not skips) where it is missing."""

import numpy as np
import torch
import torch.nn.functional as F

# tolerances against torch: float64 evaluates torch's own formula in the same order, float32
# is evaluated in float64 and rounded once (at least as accurate as torch's float32 math)
TOL = {np.float64: {"rtol": 1e-12, "atol": 0.0}, np.float32: {"rtol": 1e-5, "atol": 1e-7}}


def torch_bce(x, t, weight=None, reduction="mean", grad_output=1.0):
    """(loss, grad) from torch CPU autograd, as NumPy."""
    xt = torch.tensor(np.asarray(x), requires_grad=True)
    tt = torch.tensor(np.asarray(t))
    wt = None if weight is None else torch.tensor(np.asarray(weight))
    loss = F.binary_cross_entropy(xt, tt, weight=wt, reduction=reduction)
    g = np.asarray(grad_output, dtype=np.asarray(x).dtype)
    gt = torch.tensor(np.broadcast_to(g, loss.shape).copy())
    loss.backward(gt)
    return loss.detach().numpy(), xt.grad.numpy()


def make(shape, dtype, seed=0, lo=0.0, hi=1.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def assert_close(actual, expected, dtype):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), **TOL[np.dtype(dtype).type])


# ------------------------------------------------------------------ kernel modules and inputs


def isas_under_test():
    """The kernel modules a test should run: the one FASTBCE_ISA names when it names one
    (CI runs the whole suite once per module), else every module this CPU runs."""
    import os

    import fastbce._config as config

    chosen = os.environ.get("FASTBCE_ISA", "auto").strip().lower() or "auto"
    return list(config.kernels_runnable) if chosen == "auto" else [config.kernels_name]


class kernels_module:
    """Context manager: the public functions run on kernel module ``name`` (the module that
    ``fastbce._bce``, the single route to the kernels, calls) until exit."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        import importlib

        import fastbce._bce as bce

        self.saved = bce.kernels
        bce.use_kernels(importlib.import_module(f"fastbce._kernels_{self.name}"))
        return bce.kernels

    def __exit__(self, *exc):
        import fastbce._bce as bce

        bce.use_kernels(self.saved)
        return False


from fingerprint import fingerprint  # noqa: F401 (re-exported; torch-free module)


class Child:
    """A Python child process started now, its result (stdout, parsed as JSON) awaited later:
    the slow subprocess tests start theirs when their module is imported, so that they run
    beside the rest of the suite. Killed at exit if nobody waited for it."""

    def __init__(self, code, *args, env=None):
        import atexit
        import os
        import subprocess
        import sys
        import tempfile

        import fastbce

        # the fastbce these tests imported (an installed package, or an in-place build),
        # never a source tree without its compiled modules that the working directory
        # would put first on sys.path
        root = os.path.dirname(os.path.dirname(os.path.abspath(fastbce.__file__)))
        env = dict(os.environ if env is None else env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env,
                                     cwd=tempfile.gettempdir(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        atexit.register(self._kill)

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()

    def result(self, timeout=600):
        import json

        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise AssertionError(f"child failed ({self.proc.returncode}):\n{err[-4000:]}")
        return json.loads(out)
