"""Type aliases of the public signatures (imported under TYPE_CHECKING only: nothing here runs
when fastbce is imported)."""

from typing import Any, Literal

import numpy as np
from typing_extensions import TypeAlias

Reduction: TypeAlias = Literal["none", "mean", "sum", "weighted_mean"]
Reduced: TypeAlias = Literal["mean", "sum", "weighted_mean"]  # a reduced loss: a scalar
Floating: TypeAlias = np.floating[Any]
