"""Thread-count control and build introspection."""

import operator
import os
import warnings

import numpy as np

from . import _kernels

_global_num_threads = None


def _select_isa_from_environment():
    choice = os.environ.get("FASTBCE_ISA", "auto")
    try:
        _kernels.select_isa(choice)
    except ValueError as exc:
        warnings.warn(f"FASTBCE_ISA ignored: {exc}", RuntimeWarning, stacklevel=3)
        _kernels.select_isa("auto")


_select_isa_from_environment()


def _check_num_threads(n):
    if isinstance(n, (bool, np.bool_)):
        raise TypeError(f"num_threads must be an integer, got {n!r}")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"num_threads must be an integer or None, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"num_threads must be at least 1, got {n}")
    return n


def set_num_threads(num_threads):
    """Set the thread count used when a call passes ``num_threads=None``.

    ``None`` restores the default: OpenMP's team size for the calling thread, which follows
    ``OMP_NUM_THREADS`` and threadpoolctl limits.
    """
    global _global_num_threads
    _global_num_threads = None if num_threads is None else _check_num_threads(num_threads)


def get_num_threads():
    """Thread count that a call with ``num_threads=None`` would use on this thread.

    Inputs smaller than ``fastbce.show_config()["parallel_threshold"]`` elements always run
    on the calling thread.
    """
    if _global_num_threads is not None:
        return _global_num_threads
    return _kernels.max_threads()


def resolve_num_threads(num_threads):
    return get_num_threads() if num_threads is None else _check_num_threads(num_threads)


def show_config(print_out=True):
    """Describe this build: OpenMP on or off, thread counts and the kernels in use.

    Returns the description as a dict; prints it too unless ``print_out`` is false.
    """
    from . import __version__

    info = {
        "fastbce": __version__,
        "numpy": np.__version__,
        "openmp": _kernels.HAVE_OPENMP,
        "num_threads": get_num_threads(),
        "num_threads_setting": _global_num_threads,
        "block_size": _kernels.BLOCK_SIZE,
        "parallel_threshold": _kernels.PARALLEL_THRESHOLD,
        "kernels": _kernels.isa(),
        "kernels_available": _kernels.available_isas(),
    }
    if print_out:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}} : {value}")
    return info
