"""What 'not modified' means for an argument (no torch: the hostile-input child uses it)."""

import numpy as np


def fingerprint(a):
    """What 'not modified' means for an argument: its type, dtype, shape, strides, flags and
    the hash of its bytes (a masked array's mask too; anything else as its repr)."""
    import hashlib

    if not isinstance(a, np.ndarray):
        return repr(a)
    mask = None
    if isinstance(a, np.ma.MaskedArray):
        mask = hashlib.sha256(np.ma.getmaskarray(a).tobytes()).hexdigest()
        a = a.data
    return (type(a).__name__, a.dtype.str, a.shape, a.strides, a.flags.writeable, mask,
            hashlib.sha256(a.tobytes()).hexdigest())
