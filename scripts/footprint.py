#!/usr/bin/python3
"""Measures the stripped edgetrain-agent programs given as ARCH=PATH=RUNNER (scripts/footprint):
size, the shared libraries they need (readelf -d), and the peak RSS (VmHWM) of
each agent training its whole data file against a native coordinator on loopback.
Writes OUT/report.md and prints it."""
import argparse
import os
import re
import subprocess
import sys
import time

from proc_util import free_port


def needed(path):
    r = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", r.stdout)


def inspect(agent_cmd, data):
    r = subprocess.run(agent_cmd + ["inspect", "--data", data], capture_output=True, text=True, check=True)
    features = re.search(r"^features (\d+)$", r.stdout, re.M)
    csr = re.search(r"^bytes in memory (\d+)$", r.stdout, re.M)
    if not features or not csr:
        sys.exit("unexpected 'inspect' output:\n" + r.stdout)
    return int(features.group(1)), int(csr.group(1))


def peak_rss_kb(agent_cmd, coordinator, data, out, arch):
    """Runs one coordinator and the agent (its whole file as its shard); returns the agent's peak
    RSS in kB."""
    port = free_port()
    endpoint = "tcp://127.0.0.1:%d" % port
    with open(os.path.join(out, "coordinator-%s.out" % arch), "w") as log:
        c = subprocess.Popen([coordinator, "--insecure", "--bind", endpoint, "--log-bind", "", "--min-agents", "1",
                              "--l1", "1e-3", "--max-epochs", "15", "--heartbeat", "1", "--heartbeat-patience", "30",
                              "--model", os.path.join(out, "model-%s.etm" % arch)], stdout=log, stderr=log)
    time.sleep(0.3)
    with open(os.path.join(out, "agent-%s.out" % arch), "w") as log:
        a = subprocess.Popen(agent_cmd + ["run", "--coordinator", endpoint, "--data", data, "--agent-id", arch,
                                          "--insecure", "--quiet"], stdout=log, stderr=log)
        # The kernel's high-water mark of this process image (VmHWM), read until it exits. Not
        # wait4's ru_maxrss: exec() carries the forking parent's (Python's) RSS into it.
        peak = 0
        while a.poll() is None:
            try:
                with open("/proc/%d/status" % a.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.02)
    c.wait(timeout=60)
    if a.returncode != 0:
        sys.exit("the %s agent failed (exit %d): see %s" % (arch, a.returncode, log.name))
    return peak


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--coordinator", required=True)
    p.add_argument("--command", default="scripts/footprint", help="how the run was started (for the report)")
    p.add_argument("agents", nargs="+", help="ARCH=PATH=RUNNER")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    native = None
    d = csr = 0
    for spec in a.agents:
        arch, path, runner = spec.split("=", 2)
        cmd = runner.split() + [path]
        d, csr = inspect(cmd, a.data)
        target_mb = (csr + 4 * 8 * (d + 1)) / 2**20 + 10
        rss = peak_rss_kb(cmd, a.coordinator, a.data, a.out, arch) / 1024
        rows.append((arch, os.path.getsize(path) / 2**20, ", ".join(needed(path)), runner or "native", rss, target_mb))
        if not runner:
            native = (rss, target_mb)
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lines = [
        "# edgetrain-agent footprint",
        "",
        "Command: `%s`; %s; %s, %d cores." % (
            a.command, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpu, os.cpu_count()),
        "",
        "Data: `%s` as the agent's whole shard: %d features, CSR %.2f MB in memory; target peak RSS = CSR + 4 "
        "model vectors (%.2f MB) + 10 MB = %.2f MB." % (
            os.path.relpath(a.data), d, csr / 2**20, 4 * 8 * (d + 1) / 2**20, rows[-1][5]),
        "",
        "| architecture | stripped size | shared libraries needed | run | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for arch, size, libs, how, rss, target in rows:
        lines.append("| %s | %.2f MB | %s | %s | %.1f MB%s |" % (
            arch, size, libs, how, rss, "" if how == "native" else " (includes qemu-user)"))
    lines.append("")
    ok = True
    for arch, size, _, _, _, _ in rows:
        if size > 3:
            ok = False
            lines.append("FAILED: the %s agent is %.2f MB stripped (target <= 3 MB)." % (arch, size))
    if native:
        rss, target = native
        verdict = "holds" if rss <= target else "FAILED"
        ok = ok and rss <= target
        lines.append("Native peak RSS %.1f MB vs target %.1f MB: %s." % (rss, target, verdict))
    lines.append("")
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
