"""fastbce's grad_hess as XGBoost custom objectives: BCE (checked against binary:logistic)
and the focal loss (which XGBoost does not have).

    pip install xgboost && python examples/xgboost_objective.py

Prints the largest difference between the BCE booster's margins and binary:logistic's (the
trees are the same), then the focal booster's log loss and accuracy next to the BCE one's on
an imbalanced problem.
"""

import numpy as np
import xgboost as xgb

import fastbce


def bce_objective(predt, dtrain):
    """Custom objective: per-element gradient and hessian of BCE on logits."""
    return fastbce.binary_cross_entropy_with_logits_grad_hess(predt, dtrain.get_label())


def focal_objective(alpha=0.25, gamma=2.0):
    """Custom objective: the focal loss's gradient and hessian. The focal loss is not convex
    in the logit, so its hessian can be negative or tiny: boosters need it positive, and it
    is floored here (a common choice; LightGBM users do the same)."""

    def objective(predt, dtrain):
        grad, hess = fastbce.sigmoid_focal_loss_grad_hess(predt, dtrain.get_label(), alpha, gamma)
        return grad, np.maximum(hess, 1e-6)

    return objective


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

# an imbalanced problem (about 6% positives: 637 of the 10,000 rows), where the focal loss
# is meant to help
y_rare = (X[:, 0] + 0.5 * rng.standard_normal(10_000) > 1.7).astype(np.float32)
d_rare = xgb.DMatrix(X, label=y_rare)
for name, obj in (("bce", bce_objective), ("focal", focal_objective(alpha=0.75, gamma=2.0))):
    booster = xgb.train({**params, "base_score": 0.0}, d_rare, num_boost_round=50, obj=obj)
    m = booster.predict(d_rare, output_margin=True)
    logloss = fastbce.binary_cross_entropy_with_logits(m, y_rare)
    accuracy = np.mean((m > 0) == (y_rare > 0.5))
    print(f"{name:5s} objective: log loss {logloss:.4f}, accuracy {accuracy:.4f}, "
          f"positives found {np.sum((m > 0) & (y_rare > 0.5))} of {int(y_rare.sum())}")
