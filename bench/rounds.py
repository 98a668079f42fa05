"""Training rounds (issue 13): a warm round on data grown by 10 % against a cold round on the same
data, and how long after a round ends every agent holds the published model.

The coordinator runs as the packaged service does (--rounds 0, --model-dir, --round-new-rows)
with 2 agent processes, each on a file that grows by appends. Round 1 trains cold on the first
N rows; then 10 % more rows are appended to the files, which starts round 2 (new rows), warm from
round 1's model. A cold round on the grown files (a fresh coordinator, an empty model directory)
is the reference. Times are the coordinator's `round_finished.seconds` (training start to the
stop rule, as in the log stream; data loading excluded), each the median of --repeat runs; the
delivery time is `model_delivered.seconds` of the event that completes the set of agents (from
the round's end to the heartbeat in which the last agent says it saved the model).

Usage: bench/rounds.py [--data FILE] [--rows N] [--repeat K] [--lam L] [--out NAME]
(default: Fashion-MNIST from bench/data, first 22 000 rows: 20 000 + 10 %; 3 repeats).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common

sys.path.insert(0, os.path.join(common.ROOT, "scripts"))
from proc_util import json_lines as events  # noqa: E402  (scripts/ is not a package)


def wait_for(path, pred, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        for e in events(path):
            if pred(e):
                return e
        time.sleep(0.05)
    raise RuntimeError("timed out waiting in %s" % path)


def delivered(log, round_, agents):
    return wait_for(log, lambda e: e["event"] == "model_delivered" and e["model_round"] == round_
                    and e["holding"] == agents and e["agents"] == agents, 120)


class Service:
    """A coordinator and 2 agents, as the packaged units run them."""

    def __init__(self, tmp, tag, files, lam, new_rows):
        self.dir = os.path.join(tmp, tag)
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "log.jsonl")
        ep = os.path.join(self.dir, "endpoints")
        self.procs = [subprocess.Popen(
            [common.COORDINATOR, "--insecure", "--bind", "tcp://127.0.0.1:0", "--log-bind", "",
             "--endpoints-file", ep, "--log-json", self.log, "--quiet", "--min-agents", str(len(files)),
             "--l1", str(lam), "--rounds", "0", "--round-new-rows", str(new_rows),
             "--model-dir", os.path.join(self.dir, "models"), "--heartbeat", "0.2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        while not os.path.exists(ep):
            time.sleep(0.02)
        agents = open(ep).read().split("\n")[0].split("=", 1)[1]
        for k, f in enumerate(files):
            self.procs.append(subprocess.Popen(
                [common.AGENT, "run", "--insecure", "--coordinator", agents, "--data", f,
                 "--agent-id", "device-%d" % (k + 1), "--model-dir",
                 os.path.join(self.dir, "device-%d" % (k + 1)), "--quiet"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=30)


def finished(log, round_):
    return wait_for(log, lambda e: e["event"] == "round_finished" and e["round"] == round_, 600)


def split(lines, rows, agents=2):
    """The first `rows` lines: each agent's initial part and its 10 % growth."""
    base = int(round(rows / 1.1))
    initial = [lines[k:base:agents] for k in range(agents)]
    grown = [lines[base + k:rows:agents] for k in range(agents)]
    return initial, grown


def one_run(tmp, lines, rows, lam, run):
    initial, grown = split(lines, rows)
    files = [os.path.join(tmp, "run%d-device-%d.svm" % (run, k + 1)) for k in range(len(initial))]
    for f, part in zip(files, initial):
        with open(f, "w") as out:
            out.writelines(part)
    new_rows = sum(len(g) for g in grown)
    warm = Service(tmp, "run%d-warm" % run, files, lam, new_rows)
    try:
        r1 = finished(warm.log, 1)
        d1 = delivered(warm.log, 1, len(files))
        for f, part in zip(files, grown):  # the plant's logger appends
            with open(f, "a") as out:
                out.writelines(part)
        r2 = finished(warm.log, 2)
        d2 = delivered(warm.log, 2, len(files))
        started = [e for e in events(warm.log) if e["event"] == "round_started" and e["round"] == 2][0]
    finally:
        warm.stop()
    cold = Service(tmp, "run%d-cold" % run, files, lam, new_rows)
    try:
        rc = finished(cold.log, 1)
    finally:
        cold.stop()
    epochs = {}
    for tag, log in (("warm", warm.log), ("cold", cold.log)):
        for e in events(log):
            if e["event"] == "run_finished":
                epochs[(tag, e["round"])] = e["epoch"]
    return {"cold1": r1["seconds"], "warm2": r2["seconds"], "cold_grown": rc["seconds"],
            "deliver1": d1["seconds"], "deliver2": d2["seconds"], "trigger": started["trigger"],
            "new_rows": started["new_rows"], "published": r2["published"] and rc["published"],
            "epochs_warm": epochs.get(("warm", 2)), "epochs_cold": epochs.get(("cold", 1)),
            "reasons": (r2["reason"], rc["reason"])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=common.data_path("fmnist"))
    ap.add_argument("--rows", type=int, default=22000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lam", type=float, default=1e-3)
    ap.add_argument("--out", default="56-rounds")
    args = ap.parse_args()
    with open(args.data) as f:
        lines = [line for _, line in zip(range(args.rows), f)]
    tmp = tempfile.mkdtemp(prefix="edgetrain-rounds-")
    load = common.loadavg()
    try:
        runs = [one_run(tmp, lines, args.rows, args.lam, k) for k in range(args.repeat)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(r[k] for r in runs) for k in ("cold1", "warm2", "cold_grown", "deliver1",
                                                                  "deliver2")}
    fraction = med["warm2"] / med["cold_grown"]
    base = int(round(args.rows / 1.1))
    lines_out = [
        "## Training rounds: a warm round on grown data, the model on every agent",
        "",
        "Command: `/usr/bin/python3 bench/rounds.py --data %s --rows %d --repeat %d --lam %g` "
        "(%s; load average at the start %s). 2 agent processes and the coordinator on this machine, "
        "as the packaged services run them (`--rounds 0 --round-new-rows %d --model-dir`, agents with "
        "`--model-dir`); L1-logistic regression, λ = %g, the default stop rule (relative duality gap "
        "1e-6 or KKT 1e-8). Round 1 is cold on %d rows; %d rows (10 %%) are then appended to the two "
        "files, which starts round 2 (trigger `new rows`), warm from round 1's model; the reference "
        "is a cold round on the same grown files. Seconds: `round_finished.seconds` from the log "
        "stream (training start to the stop rule), median of %d runs."
        % (os.path.relpath(args.data, common.ROOT), args.rows, args.repeat, args.lam, common.machine(), load,
           args.rows - base, args.lam, base, args.rows - base, args.repeat),
        "",
        "| run | cold round 1 | warm round 2 (+10 %) | cold round on the grown data | warm / cold | epochs warm / cold | every agent holds round 1's model | round 2's model |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(runs):
        lines_out.append("| %d | %.3f s | %.3f s | %.3f s | %.1f %% | %s / %s | %.0f ms | %.0f ms |" % (
            k + 1, r["cold1"], r["warm2"], r["cold_grown"], 100 * r["warm2"] / r["cold_grown"],
            r["epochs_warm"], r["epochs_cold"], 1e3 * r["deliver1"], 1e3 * r["deliver2"]))
    lines_out.append("| median | %.3f s | %.3f s | %.3f s | **%.1f %%** | | %.0f ms | **%.0f ms** |" % (
        med["cold1"], med["warm2"], med["cold_grown"], 100 * fraction, 1e3 * med["deliver1"],
        1e3 * med["deliver2"]))
    lines_out += [
        "",
        "Targets (issue 13): the warm round reaches the stop rule in ≤ 25 %% of the cold round's time: "
        "**%.1f %%** (%s); every agent holds the new model ≤ 1 s after the round ends: **%.0f ms** at "
        "worst over the runs (%s). All rounds were published (stop reasons %s)."
        % (100 * fraction, "met" if fraction <= 0.25 else "NOT met",
           1e3 * max(max(r["deliver1"], r["deliver2"]) for r in runs),
           "met" if all(max(r["deliver1"], r["deliver2"]) <= 1 for r in runs) else "NOT met",
           sorted({x for r in runs for x in r["reasons"]})),
        "",
    ]
    common.write_fragment(args.out, "\n".join(lines_out))
    print("\n".join(lines_out))


if __name__ == "__main__":
    main()
