#!/usr/bin/python3
"""Read an edgetrain model into scikit-learn.

    import edgetrain_model
    est = edgetrain_model.load("line.etm")          # a model file (.etm), CRC checked
    est = edgetrain_model.load("line.sklearn.json") # or `edgetrain-agent export --format sklearn`
    est.predict(X); est.decision_function(X)

Returns a fitted estimator: LogisticRegression (logistic loss) or LinearSVC (squared hinge) for
classification, with classes_ = [negative label, positive label] as written in the training
data (numbers when both labels are numbers), so decision_function > 0 predicts classes_[1]
exactly as `edgetrain-agent predict` does; Lasso, ElasticNet, Ridge or LinearRegression for
regression. A scaler stored in the model is folded into coef_ and intercept_ (the weights on raw
features, computed in the same order as the C++ runtime), so X is passed as read from the data
file. The penalty parameters (C, alpha, l1_ratio) are set to the ones the model was trained with,
for reference; the estimator is not refitted. Also: read_model(path) -> dict of every field.

How the FlatBuffer is read: with the flatbuffers runtime's table API (Debian python3-flatbuffers),
field slots taken from schemas/model.fbs, so this file works alone, without generated code. The
file's CRC32C (Castagnoli, as runtime/src/crc32c.cc) is checked over the nested Model buffer
before anything is used, and every offset is bounds-checked: a damaged file raises
ModelFileError. Run it as a script to print the model as JSON: edgetrain_model.py FILE.
"""
import json
import math
import struct
import sys

__all__ = ["ModelFileError", "crc32c", "read_model", "load"]


class ModelFileError(ValueError):
    """The file is not a valid edgetrain model file."""


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data, crc=0):
    """CRC32C (Castagnoli), as edgetrain::Crc32c."""
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


class _Table:
    """A FlatBuffers table over bytes, with bounds checks (the Python runtime has no verifier)."""

    def __init__(self, buf, pos):
        self.buf = buf
        self.pos = pos
        self.vtable = pos - self._i32(pos)
        self.vsize = self._u16(self.vtable)

    def _check(self, at, size):
        if at < 0 or at + size > len(self.buf):
            raise ModelFileError("offset %d out of the buffer (%d bytes)" % (at, len(self.buf)))

    def _u16(self, at):
        self._check(at, 2)
        return struct.unpack_from("<H", self.buf, at)[0]

    def _i32(self, at):
        self._check(at, 4)
        return struct.unpack_from("<i", self.buf, at)[0]

    def _field(self, slot):
        off = 4 + 2 * slot
        if off >= self.vsize:
            return 0
        return self._u16(self.vtable + off)

    def scalar(self, slot, fmt, default):
        o = self._field(slot)
        if not o:
            return default
        self._check(self.pos + o, struct.calcsize(fmt))
        return struct.unpack_from("<" + fmt, self.buf, self.pos + o)[0]

    def _indirect(self, slot):
        o = self._field(slot)
        if not o:
            return None
        at = self.pos + o
        self._check(at, 4)
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, slot):
        at = self._indirect(slot)
        return None if at is None else _Table(self.buf, at)

    def vector(self, slot, fmt):
        at = self._indirect(slot)
        if at is None:
            return None
        self._check(at, 4)
        n = struct.unpack_from("<I", self.buf, at)[0]
        size = struct.calcsize("<" + fmt)
        self._check(at + 4, n * size)
        return list(struct.unpack_from("<%d%s" % (n, fmt), self.buf, at + 4))

    def bytes_vector(self, slot):
        at = self._indirect(slot)
        if at is None:
            return None
        self._check(at, 4)
        n = struct.unpack_from("<I", self.buf, at)[0]
        self._check(at + 4, n)
        return bytes(self.buf[at + 4:at + 4 + n])

    @staticmethod
    def _string_at(buf, at):
        if at + 4 > len(buf):
            raise ModelFileError("string out of the buffer")
        n = struct.unpack_from("<I", buf, at)[0]
        if at + 4 + n > len(buf):
            raise ModelFileError("string out of the buffer")
        return bytes(buf[at + 4:at + 4 + n]).decode("utf-8", errors="surrogateescape")

    def string(self, slot):
        at = self._indirect(slot)
        return None if at is None else self._string_at(self.buf, at)

    def strings(self, slot):
        at = self._indirect(slot)
        if at is None:
            return []
        self._check(at, 4)
        n = struct.unpack_from("<I", self.buf, at)[0]
        self._check(at + 4, 4 * n)
        out = []
        for k in range(n):
            elem = at + 4 + 4 * k
            out.append(self._string_at(self.buf, elem + struct.unpack_from("<I", self.buf, elem)[0]))
        return out


_TASKS = {0: "classification", 1: "regression"}
_LOSSES = {0: "logistic", 1: "squared", 2: "squared-hinge"}
_SCALERS = {0: "none", 1: "standard", 2: "minmax", 3: "maxabs"}
_MISSING = {0: "error", 1: "skip", 2: "zero", 3: "mean"}


def _parse(buf, source):
    if len(buf) < 8:
        raise ModelFileError("%s: only %d bytes" % (source, len(buf)))
    if buf[4:8] != b"ETMD":
        raise ModelFileError("%s: missing the 'ETMD' file identifier" % source)
    outer = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
    crc = outer.scalar(0, "I", 0)
    nested = outer.bytes_vector(1)
    if nested is None:
        raise ModelFileError("%s: no model inside" % source)
    if crc32c(nested) != crc:
        raise ModelFileError("%s: checksum mismatch (the file was damaged after it was written)" % source)
    if len(nested) < 8:
        raise ModelFileError("%s: nested model too short" % source)
    t = _Table(nested, struct.unpack_from("<I", nested, 0)[0])
    if t.scalar(0, "I", 1) != 1:
        raise ModelFileError("%s: format version %d, expected 1" % (source, t.scalar(0, "I", 1)))
    m = {"task": _TASKS.get(t.scalar(1, "b", 0)), "loss": _LOSSES.get(t.scalar(2, "b", 0))}
    if m["task"] is None or m["loss"] is None:
        raise ModelFileError("%s: unknown task or loss" % source)
    reg = t.table(3)
    m["l1"] = reg.scalar(0, "d", 0.0) if reg else 0.0
    m["l2"] = reg.scalar(1, "d", 0.0) if reg else 0.0
    m["lower"] = reg.scalar(2, "d", -math.inf) if reg else -math.inf
    m["upper"] = reg.scalar(3, "d", math.inf) if reg else math.inf
    d = t.scalar(4, "i", 0)
    if d < 0 or d > (1 << 26):
        raise ModelFileError("%s: dimension %d out of range" % (source, d))
    m["dimension"] = d
    m["fit_intercept"] = bool(t.scalar(5, "B", 0))
    m["intercept"] = t.scalar(6, "d", 0.0)
    index = t.vector(7, "i") or []
    value = t.vector(8, "d") or []
    if len(index) != len(value):
        raise ModelFileError("%s: weight_index and weight_value differ in length" % source)
    weights = [0.0] * d
    prev = -1
    for j, v in zip(index, value):
        if j <= prev or j >= d or not math.isfinite(v):
            raise ModelFileError("%s: bad weight at index %d" % (source, j))
        weights[j] = v
        prev = j
    m["weights"] = weights
    labels = t.table(9)
    m["labels"] = (labels.string(0), labels.string(1)) if labels else None
    if m["task"] == "classification" and (m["labels"] is None or None in m["labels"]):
        raise ModelFileError("%s: classification model without labels" % source)
    scaler = t.table(10)
    m["scaler"] = None
    if scaler:
        kind = _SCALERS.get(scaler.scalar(0, "b", 0))
        offset, factor = scaler.vector(1, "d"), scaler.vector(2, "d")
        if kind is None or offset is None or factor is None or len(offset) != d or len(factor) != d:
            raise ModelFileError("%s: bad scaler" % source)
        m["scaler"] = {"kind": kind, "offset": offset, "factor": factor}
    m["feature_names"] = t.strings(11)
    s = t.table(12)
    m["summary"] = {} if s is None else {
        "mode": s.string(0), "epochs": s.scalar(1, "q", 0), "updates": s.scalar(2, "q", 0),
        "rows": s.scalar(3, "q", 0), "agents": s.scalar(4, "i", 0), "objective": s.scalar(5, "d", 0.0),
        "kkt_violation": s.scalar(6, "d", 0.0), "seconds": s.scalar(7, "d", 0.0),
        "step_size": s.scalar(8, "d", 0.0), "inner_steps": s.scalar(9, "q", 0),
        "batch_size": s.scalar(10, "i", 0), "stop_reason": s.string(11),
        "created_unix": s.scalar(12, "q", 0), "software_version": s.string(13)}
    m["missing"] = _MISSING.get(t.scalar(13, "b", 0), "error")
    m["fill_values"] = t.vector(14, "d") or []
    m["label_column"] = t.string(15)
    return m


def read_model(path):
    """Every field of an edgetrain model file (.etm) as a dict; raises ModelFileError."""
    with open(path, "rb") as f:
        buf = f.read()
    try:
        return _parse(buf, path)
    except (struct.error, IndexError) as e:
        raise ModelFileError("%s: not a valid edgetrain model file: %s" % (path, e)) from None


def _effective(m):
    """Weights and intercept on raw features: w_j * factor_j, b - sum w'_j offset_j (in order)."""
    w = list(m["weights"])
    b = m["intercept"]
    sc = m["scaler"]
    if sc and sc["kind"] != "none":
        for j in range(m["dimension"]):
            w[j] = m["weights"][j] * sc["factor"][j]
            b -= w[j] * sc["offset"][j]
    return w, b


def _label_value(text):
    try:
        v = float(text)
    except ValueError:
        return None
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def _classes(labels):
    values = [_label_value(x) for x in labels]
    return list(labels) if None in values else values


def _from_sklearn_json(doc):
    import numpy as np
    from sklearn import linear_model, svm
    name, p = doc["estimator"], doc["params"]
    coef = np.asarray(doc["coef"], dtype=np.float64)
    if name in ("LogisticRegression", "LinearSVC"):
        if name == "LogisticRegression":
            est = linear_model.LogisticRegression(C=p["C"], penalty=p["penalty"], fit_intercept=p["fit_intercept"],
                                                  solver="saga")
        else:
            est = svm.LinearSVC(C=p["C"], penalty="l1" if p["penalty"] == "l1" else "l2", loss="squared_hinge",
                                dual=False, fit_intercept=p["fit_intercept"])
        est.coef_ = coef.reshape(1, -1)
        est.intercept_ = np.array([float(doc["intercept"])])
        est.classes_ = np.array(_classes(doc["classes"]))
    else:
        if name == "Lasso":
            est = linear_model.Lasso(alpha=p["alpha"], fit_intercept=p["fit_intercept"])
        elif name == "ElasticNet":
            est = linear_model.ElasticNet(alpha=p["alpha"], l1_ratio=p["l1_ratio"], fit_intercept=p["fit_intercept"])
        elif name == "Ridge":
            est = linear_model.Ridge(alpha=p["alpha"], fit_intercept=p["fit_intercept"])
        else:
            est = linear_model.LinearRegression(fit_intercept=p["fit_intercept"])
        est.coef_ = coef
        est.intercept_ = float(doc["intercept"])
    est.n_features_in_ = coef.shape[0]
    est.edgetrain_feature_names_ = list(doc.get("feature_names") or [])
    return est


def sklearn_document(m):
    """The `export --format sklearn` document for a model read by read_model."""
    w, b = _effective(m)
    rows = max(1, m["summary"].get("rows", 1) or 1)
    l1, l2 = m["l1"], m["l2"]
    if m["task"] == "classification":
        lam = l1 if l1 > 0 else l2
        name = "LogisticRegression" if m["loss"] == "logistic" else "LinearSVC"
        params = {"penalty": "elasticnet" if l1 > 0 and l2 > 0 else ("l1" if l1 > 0 else "l2"),
                  "C": 1.0 / (rows * lam) if lam > 0 else 1e300, "fit_intercept": m["fit_intercept"]}
        classes = list(m["labels"])
    else:
        alpha = l1 + l2
        name = ("ElasticNet" if l2 > 0 else "Lasso") if l1 > 0 else ("Ridge" if l2 > 0 else "LinearRegression")
        params = {"alpha": alpha if l1 > 0 else rows * l2, "l1_ratio": l1 / alpha if alpha > 0 else 0.0,
                  "fit_intercept": m["fit_intercept"]}
        classes = None
    return {"format": "edgetrain-sklearn", "format_version": 1, "estimator": name, "params": params,
            "coef": w, "intercept": b, "classes": classes, "feature_names": m["feature_names"],
            "label_column": m["label_column"]}


def load(path):
    """A fitted scikit-learn estimator from an .etm model file or an `export --format sklearn` file."""
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) >= 8 and head[4:8] == b"ETMD":
        return _from_sklearn_json(sklearn_document(read_model(path)))
    with open(path, "r", encoding="utf-8") as f:
        try:
            doc = json.load(f)
        except ValueError as e:
            raise ModelFileError("%s: neither an edgetrain model file nor JSON: %s" % (path, e)) from None
    if doc.get("format") != "edgetrain-sklearn" or doc.get("format_version") != 1:
        raise ModelFileError("%s: not an 'edgetrain-sklearn' version 1 document" % path)
    return _from_sklearn_json(doc)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: edgetrain_model.py MODEL.etm")
    try:
        print(json.dumps(read_model(sys.argv[1]), indent=1, default=str))
    except ModelFileError as e:
        sys.exit("edgetrain_model.py: error: %s" % e)
