#!/usr/bin/python3
"""Reference optimum from scikit-learn for the optimality tests.

Usage: sklearn_objective.py DATA.svm MODEL ALPHA [L1_RATIO [LOWER UPPER]] [--positive]
                            [--no-intercept]
MODEL is lasso, elasticnet or box. Prints the objective in edgetrain's form
  P(w, b) = (1/2n) ||y - X w - b||^2 + l1 ||w||_1 + (l2/2) ||w||^2   (+ LOWER <= w <= UPPER)
with l1 = alpha * l1_ratio and l2 = alpha * (1 - l1_ratio) (scikit-learn's own parametrisation),
then the number of non-zero weights. scikit-learn has no box: for MODEL box the weights are split,
w = u - v with 0 <= u <= UPPER and 0 <= v <= -LOWER (the box must hold 0), which makes the l1 term
linear, and SciPy's L-BFGS-B solves the smooth bound-constrained problem.
"""
import sys

import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import ElasticNet, Lasso

args = [a for a in sys.argv[1:] if not a.startswith("--")]
positive = "--positive" in sys.argv
intercept = "--no-intercept" not in sys.argv
path, model, alpha = args[0], args[1], float(args[2])
ratio = float(args[3]) if len(args) > 3 else 1.0
X, y = load_svmlight_file(path)
X = X.toarray()
l1, l2 = alpha * ratio, alpha * (1 - ratio)
if model == "box":
    lower, upper = float(args[4]), float(args[5])
    n, d = X.shape

    def f(p):
        u, v, b = p[:d], p[d:2 * d], (p[-1] if intercept else 0.0)
        w = u - v
        r = y - X @ w - b
        value = 0.5 * np.mean(r ** 2) + l1 * (u.sum() + v.sum()) + 0.5 * l2 * (w ** 2).sum()
        gw = -(X.T @ r) / n + l2 * w
        grad = np.concatenate([gw + l1, -gw + l1, [-np.mean(r)] if intercept else []])
        return value, grad

    bounds = [(0, upper)] * d + [(0, -lower)] * d + ([(None, None)] if intercept else [])
    res = minimize(f, np.zeros(2 * d + (1 if intercept else 0)), jac=True, method="L-BFGS-B",
                   bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 100000,
                                           "maxcor": 50})
    w = res.x[:d] - res.x[d:2 * d]
    print(repr(f(res.x)[0]), int((w != 0).sum()))
    sys.exit(0)
if model == "lasso":
    m = Lasso(alpha=alpha, tol=1e-12, max_iter=10_000_000, positive=positive, fit_intercept=intercept)
else:
    m = ElasticNet(alpha=alpha, l1_ratio=ratio, tol=1e-12, max_iter=10_000_000, positive=positive,
                   fit_intercept=intercept)
m.fit(X, y)
r = y - X @ m.coef_ - m.intercept_
objective = 0.5 * np.mean(r ** 2) + l1 * np.abs(m.coef_).sum() + 0.5 * l2 * (m.coef_ ** 2).sum()
print(repr(objective), int((m.coef_ != 0).sum()))
