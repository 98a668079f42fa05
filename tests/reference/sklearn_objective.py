#!/usr/bin/python3
"""Reference optimum from scikit-learn for the optimality tests.

Usage: sklearn_objective.py DATA.svm MODEL ALPHA [L1_RATIO] [--positive] [--no-intercept]
MODEL is lasso or elasticnet. Prints the objective in edgetrain's form
  P(w, b) = (1/2n) ||y - X w - b||^2 + l1 ||w||_1 + (l2/2) ||w||^2
with l1 = alpha * l1_ratio and l2 = alpha * (1 - l1_ratio) (scikit-learn's own parametrisation),
then the number of non-zero weights.
"""
import sys

import numpy as np
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import ElasticNet, Lasso

args = [a for a in sys.argv[1:] if not a.startswith("--")]
positive = "--positive" in sys.argv
intercept = "--no-intercept" not in sys.argv
path, model, alpha = args[0], args[1], float(args[2])
ratio = float(args[3]) if len(args) > 3 else 1.0
X, y = load_svmlight_file(path)
X = X.toarray()
if model == "lasso":
    m = Lasso(alpha=alpha, tol=1e-12, max_iter=10_000_000, positive=positive, fit_intercept=intercept)
else:
    m = ElasticNet(alpha=alpha, l1_ratio=ratio, tol=1e-12, max_iter=10_000_000, positive=positive,
                   fit_intercept=intercept)
m.fit(X, y)
r = y - X @ m.coef_ - m.intercept_
l1, l2 = alpha * ratio, alpha * (1 - ratio)
objective = 0.5 * np.mean(r ** 2) + l1 * np.abs(m.coef_).sum() + 0.5 * l2 * (m.coef_ ** 2).sum()
print(repr(objective), int((m.coef_ != 0).sum()))
