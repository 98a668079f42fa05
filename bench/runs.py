"""Runs edgetrain's programs for the benchmark sections and turns their output into traces.

A trace is a list of points {epoch, total, fit, rel, objective, passes}: `total` is wall time
from the program start (data loading included), `fit` the training time alone, `rel` the
relative suboptimality (P - P*)/P* of the snapshot evaluated at that point, `gap` the certified
relative duality gap the program reports for it (None if it reports none), `passes` the data
passes so far (gradient passes, plus inner-step rows / n, plus one pass per Hessian block and per
line-search trial of the Newton epochs).
"""
import json
import math
import os
import signal
import subprocess
import tempfile
import time

import common


def display(cmd, tmp):
    """The command as the report shows it: paths relative to the repository, temporaries as TMP."""
    out = []
    for c in cmd:
        c = c.replace(tmp, "TMP")
        out.append(os.path.relpath(c, common.ROOT) if c.startswith(common.ROOT) else (c or "''"))
    return " ".join(out)


def train_local(name, pstar, extra=(), time_limit=120, max_epochs=200):
    """edgetrain-agent train-local on the dataset; the trace of its per-epoch lines."""
    ds = common.DATASETS[name]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [common.AGENT, "train-local", "--data", common.data_path(name), "--model", os.path.join(tmp, "m.etm"),
               "--l1", repr(ds["lam"]), "--reference-objective", repr(pstar), "--time-limit", str(time_limit),
               "--max-epochs", str(max_epochs)] + list(extra)
        wall, p = common.timed(cmd)
    load, trace, n, m, batch, reason = 0.0, [], None, None, 1, "?"
    newton_alpha = {}  # epoch -> alpha of the Newton step that led to it
    column = {"objective": 1, "seconds": 6}  # where the header puts them
    for line in p.stdout.splitlines():
        t = line.split()
        if t and t[0] == "epoch":
            column = {name: k for k, name in enumerate(t)}
        elif line.startswith("data ") and "loaded in" in line:
            load = float(line.split("loaded in")[1].split()[0])
            n = int(line.split(":")[1].split()[0])
        elif line.startswith("stopped:"):
            reason = t[1]
            m = int(line.split(" m ")[1].split(",")[0])
            batch = int(line.split(" batch ")[1].split(",")[0])
        elif len(t) >= 7 and t[0].isdigit():
            obj, seconds = float(t[column["objective"]]), float(t[column["seconds"]])
            trace.append({"epoch": int(t[0]), "objective": obj, "rel": (obj - pstar) / pstar, "fit": seconds,
                          "total": load + seconds,
                          "gap": float(t[column["rel_gap"]]) if "rel_gap" in column else None})
            if "Newton step (alpha " in line:
                newton_alpha[int(t[0])] = float(line.split("Newton step (alpha ")[1].split(",")[0])
    passes = 0.0
    for point in trace:  # every epoch: one gradient pass after m steps of `batch` rows, or a Newton step
        if point["epoch"] > 0:
            alpha = newton_alpha.get(point["epoch"])
            # A Newton step: one pass for the Hessian block, and one gradient pass for every trial
            # point the line search turned down before this one (alpha 1, 1/2, ...).
            passes += 1.0 + (1.0 + round(math.log2(1.0 / alpha)) if alpha else (m or 0) * batch / float(n or 1))
        point["passes"] = passes
        point["newton"] = point["epoch"] in newton_alpha
    return {"command": display(cmd, tmp), "reason": reason,
            "load": load, "wall": wall, "trace": trace, "stdout_tail": p.stdout.splitlines()[-3:]}


def distributed(name, pstar, agents=2, extra=(), agent_extra=(), time_limit=120, max_epochs=200, data=None):
    """Coordinator + `agents` agent processes on loopback (plain text), shards K/N of one file."""
    ds = common.DATASETS[name]
    data = data or common.data_path(name)
    with tempfile.TemporaryDirectory() as tmp:
        endpoints = os.path.join(tmp, "endpoints")
        log = os.path.join(tmp, "log.jsonl")
        coord_cmd = [common.COORDINATOR, "--insecure", "--bind", "tcp://127.0.0.1:0", "--log-bind", "",
                     "--endpoints-file", endpoints, "--min-agents", str(agents), "--l1", repr(ds["lam"]),
                     "--reference-objective", repr(pstar), "--time-limit", str(time_limit),
                     "--max-epochs", str(max_epochs), "--log-json", log, "--quiet",
                     "--model", os.path.join(tmp, "m.etm")] + list(extra)
        t0 = time.time()
        errors = open(os.path.join(tmp, "stderr"), "w+")
        coord = subprocess.Popen(coord_cmd, stdout=subprocess.DEVNULL, stderr=errors)
        procs = []
        try:
            for _ in range(200):
                if os.path.exists(endpoints) and "agents=" in open(endpoints).read():
                    break
                time.sleep(0.02)
            endpoint = [ln.split("=", 1)[1] for ln in open(endpoints).read().split() if ln.startswith("agents=")][0]
            for k in range(1, agents + 1):
                procs.append(subprocess.Popen(
                    [common.AGENT, "run", "--insecure", "--coordinator", endpoint, "--data", data,
                     "--shard", "%d/%d" % (k, agents), "--agent-id", "agent-%d" % k, "--quiet"] + list(agent_extra),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            coord.wait(timeout=time_limit + 120)
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGTERM)
                    p.wait(timeout=10)
        finally:
            for p in procs + [coord]:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        events = [json.loads(line) for line in open(log) if line.strip()]
        errors.seek(0)
        stderr_tail = errors.read().splitlines()[-3:]
        errors.close()
    trace, updates, n, batch, finished, hessians, joined = [], 0, None, 1, {}, 0, []
    for e in events:
        if e["event"] == "agent_joined":
            joined.append(e["time"] - t0)
        elif e["event"] == "newton":
            hessians += 1  # one pass over the rows for the Hessian blocks (the trial points are epochs)
        elif e["event"] == "epoch_end":
            updates += e["updates_applied"]
        elif e["event"] == "epoch_begin":
            n, batch = e["rows"], e["batch"]
            trace.append({"epoch": e["epoch"], "objective": e["objective"], "rel": (e["objective"] - pstar) / pstar,
                          "fit": e["seconds"], "total": e["time"] - t0, "gap": e.get("rel_gap"),
                          "passes": e["epoch"] + hessians + updates * batch / float(n)})
        elif e["event"] == "run_finished":
            finished = e
    return {"command": display(coord_cmd, tmp) + "  +  %d x edgetrain-agent run --insecure --shard K/%d %s" % (
        agents, agents, " ".join(agent_extra)), "trace": trace, "finished": finished,
        "stopped": finished["time"] - t0 if finished else None, "joined": joined, "stderr_tail": stderr_tail}
