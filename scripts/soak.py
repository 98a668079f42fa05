#!/usr/bin/python3
"""Soak run (scripts/soak): one coordinator and many agent processes on loopback for a long time,
with agents killed (-9 or SIGTERM) and restarted at random, and the coordinator itself killed -9
and resumed from its checkpoint. Samples the coordinator's resident memory, then checks the run's
books and writes out/soak/report.md (plus rss.csv and the logs).

Checks (exit 1 if one fails):
  - the coordinator's RSS after warm-up stays flat (growth <= --rss-growth-mb over the run);
  - the model version equals the updates applied plus the model's replacements by the epoch
    policy (a rollback to the best snapshot bumps it too, so agents see the change): each applied
    update bumps it exactly once; the epoch_end counts add up to run_finished's updates_applied;
  - the final objective is within --max-gap (relative) of the serial optimum (train-local);
  - the coordinator and every agent exit cleanly at the end (exit code 0).
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time

from proc_util import free_port, json_lines as events

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Soak:
    def __init__(self, args):
        self.a = args
        self.bin = os.path.abspath(args.build)
        self.out = os.path.abspath(args.out)
        os.makedirs(self.out, exist_ok=True)
        for name in os.listdir(self.out):
            path = os.path.join(self.out, name)
            if os.path.isfile(path):
                os.remove(path)
        self.ckpt = os.path.join(self.out, "checkpoints")
        os.makedirs(self.ckpt, exist_ok=True)
        for name in os.listdir(self.ckpt):
            os.remove(os.path.join(self.ckpt, name))
        self.port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.rng = random.Random(args.seed)
        self.agents = {}        # id -> (shard, Popen)
        self.starts = {}        # shard -> processes started (log file suffix)
        self.restart_at = {}    # id -> time to restart
        self.kills = {"SIGKILL": 0, "SIGTERM": 0}
        self.restarts = 0
        self.rss = []           # (seconds, incarnation, kB)
        self.incarnation = 0
        self.coordinator = None
        self.t0 = time.time()

    def log(self, msg):
        print("[soak %7.1f s] %s" % (time.time() - self.t0, msg), flush=True)

    def start_coordinator(self, resume, time_limit):
        self.incarnation += 1
        cmd = [self.bin + "/coordinator/edgetrain-coordinator", "--insecure",
               "--bind", self.endpoint, "--log-bind", "",
               "--min-agents", str(self.a.agents), "--l1", str(self.a.l1),
               "--kkt-tol", "0", "--tol", "0", "--max-epochs", "1000000", "--time-limit", "%.1f" % time_limit,
               # Inner loops only: the soak drives the update path (millions of applied updates
               # under churn); Newton epochs would reach the optimum in seconds and then move x
               # outside updates, which the version == updates-applied check below does not count.
               "--newton-max-support", "0",
               "--heartbeat", "0.5", "--heartbeat-patience", "6", "--gradient-timeout", "5",
               "--checkpoint-dir", self.ckpt, "--checkpoint-interval", "5",
               "--model", os.path.join(self.out, "model.etm"),
               "--log-json", os.path.join(self.out, "log-%d.jsonl" % self.incarnation)]
        if resume:
            cmd.append("--resume")
        out = open(os.path.join(self.out, "coordinator-%d.out" % self.incarnation), "w")
        self.coordinator = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        self.log("coordinator %d started (pid %d%s)" % (self.incarnation, self.coordinator.pid,
                                                        ", --resume" if resume else ""))

    def start_agent(self, k):
        aid = "soak-%02d" % k
        cmd = [self.bin + "/edge_agent/edgetrain-agent", "run", "--coordinator", self.endpoint,
               "--data", self.a.data, "--shard", "%d/%d" % (k, self.a.agents), "--agent-id", aid,
               "--insecure", "--quiet", "--heartbeat-patience", "20"]
        self.starts[k] = self.starts.get(k, 0) + 1
        out = open(os.path.join(self.out, "agent-%02d.%d.out" % (k, self.starts[k])), "w")
        self.agents[aid] = (k, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT))

    def chaos_restarts_only(self, now):
        for aid, when in list(self.restart_at.items()):
            if now >= when:
                del self.restart_at[aid]
                self.start_agent(int(aid.split("-")[1]))
                self.restarts += 1

    def chaos(self, now):
        self.chaos_restarts_only(now)
        alive = [aid for aid, (_, p) in self.agents.items() if p.poll() is None and aid not in self.restart_at]
        if alive and self.rng.random() < self.a.kill_rate:
            aid = self.rng.choice(alive)
            sig = signal.SIGKILL if self.rng.random() < 0.5 else signal.SIGTERM
            self.agents[aid][1].send_signal(sig)
            self.agents[aid][1].wait()
            self.kills[sig.name] += 1
            self.restart_at[aid] = now + self.rng.uniform(0, 5)

    def run(self):
        a = self.a
        deadline = self.t0 + a.seconds
        kill_coordinator_at = self.t0 + a.seconds / 2 if a.kill_coordinator else None
        self.start_coordinator(False, a.seconds)
        for k in range(1, a.agents + 1):
            self.start_agent(k)
        last_sample = 0
        while True:
            now = time.time()
            if self.coordinator.poll() is not None:
                break
            if now - last_sample >= a.sample:
                kb = rss_kb(self.coordinator.pid)
                if kb is not None:
                    self.rss.append((now - self.t0, self.incarnation, kb))
                last_sample = now
            if now < deadline - 30:  # the last 30 s: everyone back, the final snapshot covers all rows
                self.chaos(now)
            else:
                self.chaos_restarts_only(now)
            if kill_coordinator_at and now >= kill_coordinator_at:
                kill_coordinator_at = None
                self.coordinator.send_signal(signal.SIGKILL)
                self.coordinator.wait()
                self.log("coordinator killed -9")
                time.sleep(2)
                self.start_coordinator(True, max(20.0, deadline - time.time()))
            time.sleep(0.5)
        self.log("coordinator exited with %s" % self.coordinator.returncode)
        # The agents stop when the coordinator says Stop. One that missed it cannot tell a finished
        # run from a crashed coordinator (which --resume brings back), so it keeps trying to
        # reconnect: the operator stops it, and it must then exit cleanly.
        agent_codes, self.operator_stopped = {}, []
        grace = time.time() + 15
        for aid, (_, p) in self.agents.items():
            try:
                agent_codes[aid] = p.wait(timeout=max(0.1, grace - time.time()))
            except subprocess.TimeoutExpired:
                self.operator_stopped.append(aid)
                p.send_signal(signal.SIGTERM)
                try:
                    agent_codes[aid] = p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    agent_codes[aid] = "hung after SIGTERM"
        return self.coordinator.returncode, agent_codes

    def total_rows(self):
        with open(self.a.data) as f:
            return sum(1 for line in f if line.strip() and not line.startswith("#"))

    def serial_optimum(self):
        r = subprocess.run([self.bin + "/edge_agent/edgetrain-agent", "train-local", "--data", self.a.data,
                            "--l1", str(self.a.l1), "--kkt-tol", "1e-10", "--quiet",
                            "--model", os.path.join(self.out, "serial.etm")],
                           capture_output=True, text=True, check=True)
        for line in r.stdout.splitlines():
            if line.startswith("stopped"):
                return float(line.split("objective ")[1].split(",")[0])
        raise RuntimeError("train-local printed no objective:\n" + r.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build/default"), help="build tree with the programs")
    p.add_argument("--minutes", type=float, default=10, help="length of the run (default 10)")
    p.add_argument("--agents", type=int, default=32, help="agent processes (default 32)")
    p.add_argument("--data", default=os.path.join(ROOT, "data/spam/train.svm"))
    p.add_argument("--l1", type=float, default=1e-3)
    p.add_argument("--kill-rate", type=float, default=0.1,
                   help="probability per 0.5 s tick that a random agent is killed (default 0.1)")
    p.add_argument("--no-coordinator-kill", dest="kill_coordinator", action="store_false",
                   help="do not kill -9 and resume the coordinator half-way")
    p.add_argument("--sample", type=float, default=5, help="RSS sampling interval, seconds")
    p.add_argument("--rss-growth-mb", type=float, default=8, help="allowed RSS growth after warm-up")
    p.add_argument("--max-gap", type=float, default=1e-6, help="allowed final relative gap to the serial optimum")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=os.path.join(ROOT, "out/soak"))
    a = p.parse_args()
    a.seconds = a.minutes * 60
    s = Soak(a)
    serial = s.serial_optimum()
    s.log("serial optimum %.15g; %d agents for %.1f min" % (serial, a.agents, a.minutes))
    code, agent_codes = s.run()

    logs = [events(os.path.join(s.out, "log-%d.jsonl" % i)) for i in range(1, s.incarnation + 1)]
    last = logs[-1]
    finished = [e for e in last if e["event"] == "run_finished"]
    failures = []
    if code != 0:
        failures.append("coordinator exit code %s" % code)
    bad_agents = {k: v for k, v in agent_codes.items() if v != 0}
    if bad_agents:
        failures.append("agents that did not exit cleanly: %s" % bad_agents)
    if not finished:
        failures.append("no run_finished event")
        fin = {}
    else:
        fin = finished[0]
    resumed = [e for e in last if e["event"] == "run_resumed"]
    base = resumed[0]["updates_applied"] if resumed else 0
    ends = [e for e in last if e["event"] == "epoch_end"]
    summed = base + sum(e["updates_applied"] for e in ends)
    versions = [e["version"] for e in last if e["event"] in ("epoch_begin", "epoch_end")]
    version = max(versions) if versions else -1
    applied = fin.get("updates_applied", -1)
    # Replacements of the model outside updates (RevertToBest, Newton trial points) bump the
    # version once each; the last one shows only if an epoch began after it.
    jump_actions = ("roll-back", "newton-rejected", "trial-point")
    begins = [e for e in last if e["event"] == "epoch_begin"]
    jumps = sum(1 for e in begins[:-1] if e.get("action") in jump_actions)
    base_jumps = resumed[0]["version"] - resumed[0]["updates_applied"] if resumed else 0
    if version != applied + base_jumps + jumps:
        failures.append("model version %s != updates applied %s + model replacements %s" % (
            version, applied, base_jumps + jumps))
    if resumed:
        earlier = sum(1 for log in logs[:-1] for e in log
                      if e["event"] == "epoch_begin" and e.get("action") in jump_actions)
        if base_jumps > earlier:
            failures.append("the checkpoint's version is %d ahead of its updates, more than the %d "
                            "model replacements before it" % (base_jumps, earlier))
    if summed != applied:
        failures.append("checkpointed %d + epoch_end sums %d != run_finished %s" % (base, summed - base, applied))
    begins = [e for e in last if e["event"] == "epoch_begin"]
    final_rows = begins[-1]["rows"] if begins else 0
    total_rows = s.total_rows()  # reads the data file
    if final_rows != total_rows:
        failures.append("the final snapshot covers %d of %d rows" % (final_rows, total_rows))
    gap = abs(fin.get("objective", float("nan")) - serial) / abs(serial)
    if not gap <= a.max_gap:
        failures.append("final relative gap %.3g > %.3g" % (gap, a.max_gap))
    # RSS: per coordinator incarnation, growth from the first sample after warm-up (30 s) to the end.
    rss_lines, growth = [], {}
    for inc in range(1, s.incarnation + 1):
        series = [(t, kb) for t, i, kb in s.rss if i == inc]
        if not series:
            continue
        start = series[0][0]
        warm = [(t, kb) for t, kb in series if t - start >= 30] or series
        g = (max(kb for _, kb in warm) - warm[0][1]) / 1024
        growth[inc] = (warm[0][1] / 1024, max(kb for _, kb in series) / 1024, series[-1][1] / 1024, g)
        if g > a.rss_growth_mb:
            failures.append("coordinator %d RSS grew %.1f MB after warm-up" % (inc, g))
    with open(os.path.join(s.out, "rss.csv"), "w") as f:
        f.write("seconds,coordinator,rss_kb\n")
        for t, i, kb in s.rss:
            f.write("%.1f,%d,%d\n" % (t, i, kb))

    refused = {}
    for log in logs:
        for e in log:
            if e["event"] == "epoch_end":
                for k, v in e["refused"].items():
                    refused[k] = refused.get(k, 0) + v
    joined = sum(1 for log in logs for e in log if e["event"] == "agent_joined")
    left = {}
    for log in logs:
        for e in log:
            if e["event"] == "agent_left":
                left[e["reason"]] = left.get(e["reason"], 0) + 1
    cmdline = "scripts/soak " + " ".join(sys.argv[1:])
    lines = [
        "# Soak run",
        "",
        "Command: `%s`; %s; %d cores; load average at the end %s." % (
            cmdline.strip(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(s.t0)), os.cpu_count(),
            open("/proc/loadavg").read().split()[0]),
        "",
        "| measured | value |",
        "|---|---|",
        "| length, agents | %.1f min, %d agent processes on %s (l1 %g) |" % (a.minutes, a.agents,
                                                                         os.path.relpath(a.data, ROOT), a.l1),
        "| agents killed | %d with SIGKILL, %d with SIGTERM; %d restarts (same id, new session) |" % (
            s.kills["SIGKILL"], s.kills["SIGTERM"], s.restarts),
        "| coordinator | %d incarnation(s)%s; exit code %s |" % (
            s.incarnation, " (kill -9 half-way, then --resume)" if s.incarnation > 1 else "", code),
        "| agents still running 15 s after the run ended (missed the Stop; stopped with SIGTERM) | %s |" % (
            ", ".join(s.operator_stopped) or "none"),
        "| joins / departures | %d agent_joined; agent_left by reason %s |" % (joined, json.dumps(left, sort_keys=True)),
        "| epochs | %s |" % fin.get("epoch"),
        "| updates applied | %s (model version %s = applied + %d rollbacks and trial points; "
        "checkpoint %d + epoch_end sums %d) |" % (applied, version, version - applied, base,
                                                   summed - base),
        "| refused (all incarnations) | %s |" % json.dumps(refused, sort_keys=True),
        "| duplicates / repeats | %s / %s |" % (fin.get("duplicates"), fin.get("repeats")),
        "| final objective | %.15g (serial optimum %.15g; relative gap %.2e) |" % (
            fin.get("objective", float("nan")), serial, gap),
        "| final KKT violation | %s |" % fin.get("kkt"),
    ]
    for inc, (w, mx, end, g) in growth.items():
        lines.append("| coordinator %d RSS | %.1f MB after warm-up, max %.1f MB, end %.1f MB: growth %.2f MB |" % (
            inc, w, mx, end, g))
    lines += ["", "Verdict: " + ("**passed**" if not failures else "**FAILED**: " + "; ".join(failures)), ""]
    with open(os.path.join(s.out, "report.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
