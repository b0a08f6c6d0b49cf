"""Kernel module choice (once, at import), thread-count control and build introspection."""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any, Literal, overload

import numpy as np

from ._checks import check_num_threads

# Best first. Each is the same _kernels.pyx compiled for one x86-64 level; level is what
# _kernels_baseline.cpu_level() must report for this CPU to run it.
_LEVELS = {"avx512": 2, "avx2": 1, "baseline": 0}


def _load_kernels():
    try:
        base = importlib.import_module("._kernels_baseline", __package__)
    except ImportError as exc:  # pragma: no cover - only from an unbuilt source tree
        raise ImportError(
            "fastbce's compiled extension is missing. Install the package (`pip install .`) "
            "and run from outside the source tree."
        ) from exc
    level = base.cpu_level()
    built = []
    for name in _LEVELS:
        if importlib.util.find_spec(f"._kernels_{name}", __package__) is not None:
            built.append(name)
    runnable = [name for name in built if _LEVELS[name] <= level]
    choice = os.environ.get("FASTBCE_ISA", "auto").strip().lower() or "auto"
    if choice == "auto":
        choice = runnable[0]
    elif choice not in _LEVELS:
        raise ImportError(
            f"FASTBCE_ISA={choice!r} is not a kernel set; use one of "
            f"{', '.join(['auto', *_LEVELS])}"
        )
    elif choice not in built:
        raise ImportError(f"FASTBCE_ISA={choice!r}: this build has no such module (built: {built})")
    elif choice not in runnable:
        raise ImportError(
            f"FASTBCE_ISA={choice!r}: this CPU cannot run those kernels (it runs: {runnable})"
        )
    # relative to this package: a copy imported under another name (a vendored package, or
    # benchmarks/compare_builds.py's other build) runs its own kernels
    if choice == "baseline":
        module = base
    else:
        module = importlib.import_module(f"._kernels_{choice}", __package__)
    return module, choice, runnable, built


kernels, kernels_name, kernels_runnable, kernels_built = _load_kernels()

_global_num_threads = None


def set_num_threads(num_threads: int | None) -> None:
    """Set the thread count used when a call passes ``num_threads=None``.

    ``None`` restores the default: OpenMP's team size for the calling thread, which follows
    ``OMP_NUM_THREADS`` and threadpoolctl limits.
    """
    global _global_num_threads
    _global_num_threads = None if num_threads is None else check_num_threads(num_threads)


def get_num_threads() -> int:
    """Thread count that a call with ``num_threads=None`` would use on this thread.

    Inputs smaller than ``fastbce.show_config()["parallel_threshold"]`` elements always run
    on the calling thread.
    """
    if _global_num_threads is not None:
        return _global_num_threads
    return kernels.max_threads()


def resolve_num_threads(num_threads):
    if num_threads is None:
        return _global_num_threads if _global_num_threads is not None else kernels.max_threads()
    return check_num_threads(num_threads)


@overload
def show_config(print_: Literal[False] = ...) -> dict[str, Any]: ...
@overload
def show_config(print_: Literal[True]) -> None: ...
@overload
def show_config(print_: bool) -> dict[str, Any] | None: ...
def show_config(print_: bool = False) -> dict[str, Any] | None:
    """Describe this build and what runs: the kernel module in use, the modules this CPU
    could run, the compiler that built them, OpenMP on or off, thread counts.

    Returns the description as a dict; or, when ``print_`` is true, prints it and returns
    None (as ``numpy.show_config`` does, so that a REPL shows it once).
    """
    from . import __version__

    info = {
        "fastbce": __version__,
        "numpy": np.__version__,
        "kernels": kernels_name,
        "kernels_runnable": list(kernels_runnable),
        "kernels_built": list(kernels_built),
        "compiler": kernels.COMPILER,
        "openmp": kernels.HAVE_OPENMP,
        "num_threads": get_num_threads(),
        "num_threads_setting": _global_num_threads,
        "block_size": kernels.BLOCK_SIZE,
        "parallel_threshold": kernels.PARALLEL_THRESHOLD,
        "nogil_threshold": kernels.NOGIL_THRESHOLD,
    }
    if print_:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}} : {value}")
        return None
    return info
