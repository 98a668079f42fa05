#!/usr/bin/python3
"""Section "unscaled": data in its own units, inner loops only (issue 12, point 2).

The raw files data/wdbc.csv (label diagnosis, l1 1e-3) and data/shuttle-train.csv (label Class,
l1 1e-4), with and without an intercept, trained to a certified relative duality gap of 1e-6
(--tol 1e-6 --kkt-tol 0) with inner loops only (--newton-max-support 0): train-local, and a
coordinator with 2 agent processes (shards 1/2 and 2/2 of the file, loopback, plain text). Each
raw run with the solver's preconditioner (the default), without it (--no-precondition), and the
same data standardised (--scale standard; on the agents: the coordinator fits the scaler on the
merged column statistics). Epochs and seconds to the stop, or the gap reached at the limit.
Writes bench/out/27-unscaled.md.
"""
import os
import subprocess
import sys
import tempfile
import time

import common

PROBLEMS = [
    # (name, file, label, l1, intercept)
    ("wdbc", "data/wdbc.csv", "diagnosis", 1e-3, False),
    ("wdbc", "data/wdbc.csv", "diagnosis", 1e-3, True),
    ("Shuttle", "data/shuttle-train.csv", "Class", 1e-4, False),
    ("Shuttle", "data/shuttle-train.csv", "Class", 1e-4, True),
]
MODES = [("raw, preconditioned", []), ("raw, --no-precondition", ["--no-precondition"]),
         ("--scale standard", ["--scale", "standard"])]
TIME_LIMIT = float(os.environ.get("EDGETRAIN_BENCH_UNSCALED_SECONDS", "60"))
MAX_EPOCHS = 100000


def problem_args(l1, intercept):
    return ["--l1", repr(l1), "--newton-max-support", "0", "--tol", "1e-6", "--kkt-tol", "0",
            "--max-epochs", str(MAX_EPOCHS), "--time-limit", str(TIME_LIMIT)] + (
        ["--intercept"] if intercept else [])


def serial(path, label, l1, intercept, mode):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [common.AGENT, "train-local", "--data", os.path.join(common.ROOT, path), "--label-column", label,
               "--model", os.path.join(tmp, "m.etm")] + problem_args(l1, intercept) + mode
        p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = [line.split() for line in p.stdout.splitlines() if line[:6].strip().isdigit()]
    stop = [line for line in p.stdout.splitlines() if line.startswith("stopped:")][0]
    # "stopped: tol after 855 epochs, 0.46 s; objective ..."
    reason = stop.split()[1]
    epochs = int(stop.split(" after ")[1].split()[0])
    seconds = float(stop.split(" epochs, ")[1].split()[0])
    gap = min(float(r[3]) for r in rows)
    objective = float(stop.split("objective ")[1].split(",")[0])
    return {"reason": reason, "epochs": epochs, "seconds": seconds, "gap": gap, "objective": objective,
            "command": " ".join(["edgetrain-agent"] + cmd[1:]).replace(tmp, "TMP").replace(common.ROOT + "/", "")}


def two_agents(path, label, l1, intercept, mode):
    with tempfile.TemporaryDirectory() as tmp:
        endpoints = os.path.join(tmp, "endpoints")
        ccmd = [common.COORDINATOR, "--insecure", "--bind", "tcp://127.0.0.1:0", "--log-bind", "",
                "--endpoints-file", endpoints, "--min-agents", "2", "--model", os.path.join(tmp, "m.etm")
                ] + problem_args(l1, intercept) + mode
        t0 = time.time()
        coord = subprocess.Popen(ccmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while not os.path.exists(endpoints):
            time.sleep(0.01)
        agents_at = dict(line.split("=", 1) for line in open(endpoints).read().split())["agents"]
        agents = [subprocess.Popen([common.AGENT, "run", "--insecure", "--coordinator", agents_at, "--data",
                                    os.path.join(common.ROOT, path), "--label-column", label, "--shard",
                                    "%d/2" % k, "--agent-id", "a%d" % k, "--quiet"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k in (1, 2)]
        out, _ = coord.communicate()
        wall = time.time() - t0
        for a in agents:
            a.wait()
    stops = [line for line in out.splitlines() if line.startswith("stopped:")]
    if not stops:  # the run failed: the error line, and the last epoch it printed
        error = [line for line in out.splitlines() if "error:" in line]
        epochs = [line.split()[0] for line in out.splitlines() if line[:6].strip().isdigit()]
        return {"reason": "failed", "error": error[-1].split("error: ", 1)[1] if error else out[-200:],
                "epochs": int(epochs[-1]) if epochs else 0, "seconds": wall, "gap": float("nan"),
                "command": " ".join(["edgetrain-coordinator"] + ccmd[1:]).replace(tmp, "TMP")}
    stop = stops[0]
    # "stopped: tol; best snapshot: epoch 106, objective ..., relative duality gap 9.3e-06, ...; 2.63 s"
    return {"reason": stop.split()[1].rstrip(";"), "epochs": int(stop.split("epoch ")[1].split(",")[0]) - 1,
            "seconds": float(stop.rsplit("; ", 1)[1].split()[0]), "wall": wall,
            "gap": float(stop.split("relative duality gap ")[1].split(",")[0]),
            "objective": float(stop.split("objective ")[1].split(",")[0]),
            "command": " ".join(["edgetrain-coordinator"] + ccmd[1:]).replace(tmp, "TMP")}


def cell(r):
    if r["reason"] == "failed":
        return "failed after %d epochs, %.1f s: %s" % (r["epochs"], r["seconds"], r["error"])
    if r["reason"] == "tol":
        return "%d epochs, %.2f s" % (r["epochs"], r["seconds"])
    return "not reached: gap %.1e after %d epochs, %.1f s (%s)" % (r["gap"], r["epochs"], r["seconds"], r["reason"])


def main():
    lines = ["## Unscaled data: inner loops only to a certified gap of 1e-6", "",
             "Epochs and seconds to a certified relative duality gap <= 1e-6 (`--tol 1e-6 --kkt-tol 0`), "
             "inner loops only (`--newton-max-support 0`), raw files as read beside the same data "
             "standardised; limit %g s or %d epochs a run. Serial: `train-local`; 2 agents: coordinator "
             "and 2 `edgetrain-agent run` processes (shards 1/2, 2/2; loopback, plain text). "
             "Generated by `bench/unscaled.py`; %s." % (TIME_LIMIT, MAX_EPOCHS, common.caption()), "",
             "| problem | mode | " + " | ".join(m for m, _ in MODES) + " | raw / standardised epochs |",
             "|---|---|" + "---|" * len(MODES) + "---|"]
    commands = []
    only = sys.argv[1:]  # problem names to run (default: all)
    for name, path, label, l1, intercept in PROBLEMS:
        if only and name not in only:
            continue
        title = "%s, l1 %g%s" % (name, l1, ", intercept" if intercept else "")
        for mode_name, run in (("serial", serial), ("2 agents", two_agents)):
            results = []
            for _, extra in MODES:
                r = run(path, label, l1, intercept, extra)
                results.append(r)
                print(title, mode_name, extra, cell(r), flush=True)
            if not commands:
                commands = [results[0]["command"]]
            elif mode_name == "2 agents" and len(commands) == 1:
                commands.append(results[0]["command"])
            ratio = (results[0]["epochs"] / results[2]["epochs"]) if results[0]["reason"] == "tol" and \
                results[2]["reason"] == "tol" else float("nan")
            lines.append("| %s | %s | %s | %s |" % (title, mode_name, " | ".join(cell(r) for r in results),
                                                     "%.1fx" % ratio if ratio == ratio else "-"))
    lines += ["", "Commands (one of each kind; TMP a temporary directory, agents: `edgetrain-agent run "
              "--insecure --coordinator ENDPOINT --data FILE --label-column LABEL --shard K/2`):", ""]
    lines += ["    " + c for c in commands]
    common.write_fragment("27-unscaled", "\n".join(lines))


if __name__ == "__main__":
    main()
