#!/usr/bin/python3
"""Section 52: `edgetrain-agent score` throughput against liblinear-predict, one core, from a pipe.

Target (issue 13): score >= 3x liblinear-predict on the same sparse SpamAssassin rows and model.
The rows are data/spam/train.svm + test.svm repeated to --rows rows (labels kept: liblinear
needs them); the model is train-local's L1-logistic model on train.svm, exported with
`edgetrain-agent export --format liblinear`. Both programs read the rows from a pipe (`cat FILE |`,
liblinear through /dev/stdin), are pinned to one core (taskset, when there are two) and write
their predictions to a file; best of --repeat runs, page cache warm. Both outputs are checked to
agree on the predicted label of every row. Writes bench/out/52-score.md; prints the same text.

    bench/score_speed.py [--rows 300000] [--repeat 3]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def best_time(cmd, repeat):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    predict = shutil.which("liblinear-predict")
    if predict is None:
        sys.exit("score_speed.py: liblinear-predict not found (Debian liblinear-tools)")
    spam = [os.path.join(common.ROOT, "data", "spam", n) for n in ("train.svm", "test.svm")]
    tmp = tempfile.mkdtemp(prefix="edgetrain-score-")
    try:
        model = os.path.join(tmp, "spam.etm")
        lib_model = os.path.join(tmp, "spam.liblinear")
        subprocess.run([common.AGENT, "train-local", "--data", spam[0], "--l1", "1e-4", "--quiet", "--model", model],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([common.AGENT, "export", model, "--format", "liblinear", "--output", lib_model], check=True)
        lines = []
        for p in spam:
            with open(p) as f:
                lines += [line for line in f if line.strip()]
        rows = os.path.join(tmp, "rows.svm")
        with open(rows, "w") as f:
            for k in range(args.rows):
                f.write(lines[k % len(lines)])
        size_mb = os.path.getsize(rows) / 1e6
        nnz = sum(line.count(":") for line in lines) * args.rows / len(lines)
        pin = "taskset -c 1 " if os.cpu_count() and os.cpu_count() > 1 and shutil.which("taskset") else ""
        ours_out, lib_out = os.path.join(tmp, "ours.tsv"), os.path.join(tmp, "lib.txt")
        ours_cmd = "cat %s | %s%s score --model %s --output %s" % (rows, pin, common.AGENT, model, ours_out)
        lib_cmd = "cat %s | %s%s /dev/stdin %s %s" % (rows, pin, predict, lib_model, lib_out)
        load_before = common.loadavg()
        t_ours = best_time(ours_cmd, args.repeat)
        t_lib = best_time(lib_cmd, args.repeat)
        load_after = common.loadavg()
        with open(ours_out) as f:
            ours_labels = [line.split("\t")[0] for line in f][1:]
        with open(lib_out) as f:
            lib_labels = [line.strip() for line in f]
        agree = sum(float(a) == float(b) for a, b in zip(ours_labels, lib_labels))
        if len(ours_labels) != args.rows or len(lib_labels) != args.rows:
            sys.exit("score_speed.py: expected %d predictions, got %d and %d" % (args.rows, len(ours_labels),
                                                                                   len(lib_labels)))
        ratio = t_lib / t_ours
        text = ("## Scoring from a pipe: `score` against liblinear-predict\n\n"
                "Target: `edgetrain-agent score` at least 3x `liblinear-predict` on one core (bench/score_speed.py).\n\n"
                "```text\n"
                "rows %d (SpamAssassin train+test repeated), %.1f MB, %.0f non-zeros, one core\n"
                "edgetrain-agent score   %.3f s  %9.0f rows/s  (label, decision, probability per row)\n"
                "liblinear-predict       %.3f s  %9.0f rows/s  (label per row)\n"
                "ratio %.2fx (target >= 3x: %s); predicted labels agree on %d of %d rows\n"
                "load average before %s, after %s; %s\n"
                "reproduce: bench/score_speed.py --rows %d --repeat %d\n"
                "  %s\n  %s\n"
                "```\n") % (args.rows, size_mb, nnz, t_ours, args.rows / t_ours, t_lib, args.rows / t_lib, ratio,
                            "met" if ratio >= 3 else "NOT met", agree, args.rows, load_before, load_after,
                            common.machine(), args.rows, args.repeat, ours_cmd.replace(tmp, "$TMP"),
                            lib_cmd.replace(tmp, "$TMP"))
        print(text)
        common.write_fragment("52-score", text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
