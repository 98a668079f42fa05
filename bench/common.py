"""Shared pieces of the benchmark sections (bench/*.py, run by scripts/bench).

Every section is a script that writes one markdown fragment bench/out/NN-name.md (and its SVG
charts into bench/); bench/make_report.py joins the fragments that exist into bench/report.md.
Run with /usr/bin/python3 (Debian's numpy, scipy, scikit-learn, matplotlib).
"""
import json
import os
import platform
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
OUT = os.path.join(HERE, "out")
DATA = os.path.join(HERE, "data")
BUILD = os.environ.get("EDGETRAIN_BENCH_BUILD", os.path.join(ROOT, "build", "release"))
AGENT = os.path.join(BUILD, "edge_agent", "edgetrain-agent")
COORDINATOR = os.path.join(BUILD, "coordinator", "edgetrain-coordinator")
COMMAND = os.environ.get("EDGETRAIN_BENCH_COMMAND", "scripts/bench")
THRESHOLDS = (1e-3, 1e-4, 1e-6)

# The benchmark problems: L1-logistic regression, P(w) = (1/n) sum log(1+exp(-y a.w)) + lam ||w||_1,
# no intercept. liblinear's C = 1/(n lam).
DATASETS = {
    "spam": {"title": "SpamAssassin (6 046 x 48 407, tf-idf, 0.5 % dense)", "file": "spam.svm", "lam": 1e-4,
             "d": None},
    "fmnist": {"title": "Fashion-MNIST (70 000 x 784, 50 % dense)", "file": "fmnist-all.svm", "lam": 1e-3,
               "d": 784},
    # issue 12's problem for the inner loops (section inner-loops; not in the solver sections)
    "shuttle": {"title": "Shuttle (58 000 x 9, every column min-max scaled to [-1, 1])", "file": "shuttle.svm",
                "lam": 1e-4, "d": 9},
}
SOLVER_SETS = ("spam", "fmnist")  # the problems of section time-to-accuracy


def data_path(name):
    return os.path.join(DATA, DATASETS[name]["file"])


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def machine():
    """One line naming the machine: CPU model, cores, memory, OS."""
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 2**20
    return "%s, %d cores, %.0f GiB RAM, %s" % (cpu_model(), os.cpu_count(), mem, platform.platform(terse=True))


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def today():
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def caption():
    """What every figure states: the command, the machine and the date."""
    return "%s | %s | %s | load %s" % (COMMAND, machine(), today(), loadavg())


def write_fragment(name, text):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".md")
    with open(path + ".tmp", "w") as f:
        f.write(text.rstrip() + "\n")
    os.replace(path + ".tmp", path)
    print("wrote", os.path.relpath(path, ROOT))


def save_json(name, obj):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(obj, f, indent=1)


def load_json(name):
    with open(os.path.join(OUT, name + ".json")) as f:
        return json.load(f)


def reference():
    """P* per dataset, from bench/reference.py (run first)."""
    return load_json("reference")


def timed(cmd, **kw):
    """Runs cmd, returns (seconds, CompletedProcess); raises on failure."""
    t = time.perf_counter()
    p = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    return time.perf_counter() - t, p


def first_time(trace, threshold, key="total"):
    """The first time in a trace (list of dicts with 'rel' and times) with rel <= threshold."""
    for point in trace:
        if point["rel"] is not None and point["rel"] <= threshold:
            return point[key]
    return None


def fmt_s(x):
    return "—" if x is None else ("%.3g s" % x if x < 100 else "%.0f s" % x)


def save_svg(fig, name):
    """Saves a matplotlib figure as bench/NAME.svg with the caption line at the bottom."""
    fig.text(0.01, 0.005, caption(), fontsize=6.5, color="#555555", ha="left", va="bottom")
    path = os.path.join(HERE, name + ".svg")
    fig.savefig(path, format="svg", metadata={"Date": None})
    print("wrote", os.path.relpath(path, ROOT))
    return os.path.basename(path)


def pyplot():
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 8, "svg.hashsalt": "edgetrain-bench"})
    return plt
