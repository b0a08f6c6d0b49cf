"""fastbce's grad_hess as an XGBoost custom objective, checked against binary:logistic.

    pip install xgboost && python examples/xgboost_objective.py

Prints the largest difference between the two boosters' margins (the trees are the same).
"""

import numpy as np
import xgboost as xgb

import fastbce


def bce_objective(predt, dtrain):
    """Custom objective: per-element gradient and hessian of BCE on logits."""
    return fastbce.binary_cross_entropy_with_logits_grad_hess(predt, dtrain.get_label())


rng = np.random.default_rng(0)
X = rng.standard_normal((10_000, 20))
y = (X[:, 0] + 0.5 * rng.standard_normal(10_000) > 0).astype(np.float32)
dtrain = xgb.DMatrix(X, label=y)

params = {"max_depth": 3, "eta": 0.3}
# a custom objective starts from margin base_score; binary:logistic takes a probability
custom = xgb.train({**params, "base_score": 0.0}, dtrain, num_boost_round=20, obj=bce_objective)
builtin = xgb.train(
    {**params, "base_score": 0.5, "objective": "binary:logistic"}, dtrain, num_boost_round=20
)

margin = custom.predict(dtrain, output_margin=True)
print(
    "max |margin difference|:", np.max(np.abs(margin - builtin.predict(dtrain, output_margin=True)))
)
