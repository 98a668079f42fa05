"""P(w) = (1/n) sum_i log(1 + exp(-y_i a_i.w)) + lam ||w||_1 and its KKT residual, for weights
from any source (liblinear model files, scikit-learn coefficients, edgetrain's liblinear export).

Labels follow edgetrain's convention: the larger of the two labels is +1. A liblinear model's
weights score the first label on its `label` line, so they are negated when that label is the
smaller one. Run with /usr/bin/python3 (Debian's numpy/scipy/scikit-learn).
"""
import numpy as np
import scipy.sparse as sp


def load_libsvm(path, n_features=None):
    """(X as CSR float64, y in {-1,+1}); the larger label becomes +1."""
    from sklearn.datasets import load_svmlight_file
    X, y = load_svmlight_file(path, n_features=n_features, dtype=np.float64)
    labels = np.unique(y)
    assert len(labels) == 2, "binary data expected, got labels %s" % labels
    return sp.csr_matrix(X), np.where(y == labels[1], 1.0, -1.0)


def read_liblinear_weights(path, d):
    """Weights of a liblinear model file (no bias), oriented so that w scores the larger label."""
    labels, w, in_w = None, [], False
    with open(path) as f:
        for line in f:
            if in_w:
                w.append(float(line.split()[0]))
            elif line.startswith("label"):
                labels = [float(t) for t in line.split()[1:]]
            elif line.startswith("bias"):
                assert float(line.split()[1]) < 0, "models with a bias term are not handled"
            elif line.strip() == "w":
                in_w = True
    w = np.array(w + [0.0] * (d - len(w)))[:d]
    if labels and labels[0] < labels[-1]:
        w = -w  # liblinear's w scores the first label; ours scores the larger one
    return w


def objective(X, y, w, lam):
    z = y * (X @ w)
    return float(np.mean(np.logaddexp(0.0, -z)) + lam * np.abs(w).sum())


def kkt(X, y, w, lam):
    """Infinity norm of the minimum-norm subgradient of P at w."""
    z = y * (X @ w)
    g = X.T @ (-y * 0.5 * (1.0 - np.tanh(0.5 * z))) / X.shape[0]  # d/dz log(1+e^-z) = -sigmoid(-z)
    r = np.where(w > 0, g + lam, np.where(w < 0, g - lam, np.sign(g) * np.maximum(np.abs(g) - lam, 0)))
    return float(np.max(np.abs(r)))
