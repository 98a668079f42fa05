#!/usr/bin/python3
"""Checks scripts/edgetrain_model.py against `edgetrain-agent predict` (run by tests/cli_test.cc).

usage: model_reader_check.py MODEL.etm SKLEARN.json FULL.json DATA PREDICTIONS [LABEL_COLUMN]
SKLEARN.json and FULL.json are `export --format sklearn` and `--format json`; DATA is libsvm, or
CSV when LABEL_COLUMN is given (features: every other column, in order); PREDICTIONS is predict's
--output. Checks that read_model() gives every field of the JSON export exactly, then the
estimators against predict. Prints "ok" or exits non-zero naming the first difference.
"""
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import edgetrain_model  # noqa: E402


def load_data(path, label_column, dim):
    if label_column is None:
        from sklearn.datasets import load_svmlight_file
        X, _ = load_svmlight_file(path, n_features=dim)
        return X
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    keep = [k for k, name in enumerate(header) if name != label_column]
    return np.array([[float(r[k]) for k in keep] for r in rows[1:]])


def check_fields(model_path, full_path):
    import json
    import math
    m = edgetrain_model.read_model(model_path)
    with open(full_path) as f:
        j = json.load(f)

    def same(what, a, b):
        if a != b:
            sys.exit("%s: %s differs: %r (Python reader) vs %r (export --format json)" % (model_path, what, a, b))

    same("task", m["task"], j["task"])
    same("loss", m["loss"], j["loss"])
    same("l1", m["l1"], j["penalties"]["l1"])
    same("l2", m["l2"], j["penalties"]["l2"])
    same("lower", None if math.isinf(m["lower"]) else m["lower"], j["penalties"]["lower"])
    same("upper", None if math.isinf(m["upper"]) else m["upper"], j["penalties"]["upper"])
    same("dimension", m["dimension"], j["dimension"])
    same("intercept", m["intercept"], j["intercept"])
    same("weights", m["weights"], [w["value"] for w in j["weights"]])
    same("labels", list(m["labels"]) if m["labels"] else None,
         [j["labels"]["negative"], j["labels"]["positive"]] if j["labels"] else None)
    same("feature_names", m["feature_names"], j["feature_names"])
    same("label_column", m["label_column"], j["label_column"])
    same("missing", m["missing"], j["missing"]["policy"])
    same("fill_values", m["fill_values"], j["missing"]["fill_values"])
    same("scaler", m["scaler"], j["scaler"])
    same("summary", m["summary"], j["summary"])


def main():
    model_path, sklearn_path, full_path, data_path, predictions_path = sys.argv[1:6]
    label_column = sys.argv[6] if len(sys.argv) > 6 else None
    check_fields(model_path, full_path)
    with open(predictions_path) as f:
        lines = [line.rstrip("\n").split("\t") for line in f]
    header, rows = lines[0], lines[1:]
    for path in (model_path, sklearn_path):
        est = edgetrain_model.load(path)
        X = load_data(data_path, label_column, est.n_features_in_)
        if header[0] == "prediction":
            want = np.array([float(r[0]) for r in rows])
            got = est.predict(X)
        else:
            want = np.array([float(r[1]) for r in rows])
            got = est.decision_function(X)
            labels = [str(v) for v in est.predict(X)]
            want_labels = [str(edgetrain_model._label_value(r[0]) if edgetrain_model._label_value(r[0]) is not None
                               else r[0]) for r in rows]
            if labels != want_labels:
                sys.exit("%s: predicted labels differ from edgetrain-agent predict" % path)
        err = np.max(np.abs(got - want) / (1 + np.abs(want)))
        if not err <= 1e-12:
            sys.exit("%s: decision values differ by %.3g (relative)" % (path, err))
    # One flipped byte anywhere in the model file: a clear error.
    with open(model_path, "rb") as f:
        good = f.read()
    damaged = model_path + ".damaged"
    for at in (len(good) // 2, len(good) - 9, 12):
        bad = bytearray(good)
        bad[at] ^= 0x01
        with open(damaged, "wb") as f:
            f.write(bad)
        try:
            edgetrain_model.load(damaged)
        except edgetrain_model.ModelFileError as e:
            if "checksum" not in str(e) and "valid" not in str(e) and "out of" not in str(e) and "identifier" not in str(e):
                sys.exit("unclear error for a flipped byte at %d: %s" % (at, e))
        else:
            sys.exit("a flipped byte at %d was not detected" % at)
    print("ok")


if __name__ == "__main__":
    main()
