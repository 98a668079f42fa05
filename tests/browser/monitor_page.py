#!/usr/bin/python3
"""edgetrain-monitor's page in a real browser, following a real run (docs/operations.md).

Usage: monitor_page.py BUILD_DIR SOURCE_DIR WORK_DIR [EMULATOR...]

Starts a coordinator (two agents needed, inner loops only) and
edgetrain-monitor --http on it, opens the page in headless chromium (Debian's chromium and
chromium-driver, driven by python3-selenium) and checks, as an operator would see it:
  1. before any agent: the run id and "waiting for agents (0 of 2 connected)" (state on connect);
  2. during the run (two throttled agents, a third joining later): the epoch count grows on the
     page while it runs, the agents' table fills, the third agent's arrival is marked on the
     chart (agent joined, new baseline);
  3. after the run (the test stops the coordinator with SIGTERM once it has seen all of the above,
     so a loaded machine makes it slower, never wrong): the final state (finished, interrupted),
     the epochs the coordinator logged, the
     event log with run_finished, no error in the browser's console (a Content-Security-Policy
     violation would be one);
  4. /healthz, and /metrics accepted by `promtool check metrics` with the run's final state.
EMULATOR (a cross build's qemu command) prefixes the programs. Exit code 0 when every check
passes; otherwise the failures on stderr and exit code 1.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BUILD, SOURCE, WORK = sys.argv[1:4]
EMULATOR = sys.argv[4:]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return ok


def program(name):
    return EMULATOR + [os.path.join(BUILD, name)]


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    check(False, "timed out waiting for " + what)
    return None


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


processes = []


def start(args, name):
    out = open(os.path.join(WORK, name + ".out"), "w")
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT if name != "monitor" else
                         open(os.path.join(WORK, "monitor.err"), "w"))
    processes.append(p)
    return p


# Throttled so that an epoch outlasts the coordinator's 1 s status interval: the epoch's ETA is in
# the status events sent during an inner phase (lazy agents run an epoch here in ~0.1 s).
def agent(shard, agent_id, data="data/spam/train.svm"):
    args = ["run", "--coordinator", endpoints["agents"], "--data", os.path.join(SOURCE, data),
            "--agent-id", agent_id, "--insecure", "--quiet", "--throttle", "150"]
    if shard:
        args += ["--shard", shard]
    return start(program("edge_agent/edgetrain-agent") + args, agent_id)


driver = None
try:
    # ---- a coordinator waiting for two agents, and the monitor serving the page
    coordinator = start(program("coordinator/edgetrain-coordinator") + [
        "--bind", "tcp://127.0.0.1:0", "--log-bind", "tcp://127.0.0.1:0",
        "--endpoints-file", os.path.join(WORK, "endpoints"), "--min-agents", "2", "--l1", "1e-3",
        "--newton-max-support", "0", "--tol", "1e-14", "--kkt-tol", "0", "--max-epochs", "100000",
        "--insecure", "--quiet", "--model", os.path.join(WORK, "model.etm"),
        "--log-json", os.path.join(WORK, "log.jsonl")], "coordinator")
    wait_for(lambda: read(os.path.join(WORK, "endpoints")).count("\n") >= 2, 20, "the endpoints file")
    endpoints = dict(line.split("=", 1) for line in read(os.path.join(WORK, "endpoints")).split())
    monitor = start(program("monitor/edgetrain-monitor") + [
        "--connect", endpoints["log"], "--http", "127.0.0.1:0", "--timeout", "60"], "monitor")
    url = wait_for(lambda: (re.search(r"serving (http://\S+/)", read(os.path.join(WORK, "monitor.err")))
                            or [None, None])[1], 20, "the monitor's URL on stderr")
    if url is None:
        raise RuntimeError("no URL: " + read(os.path.join(WORK, "monitor.err")))

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--user-data-dir=" + os.path.join(WORK, "chromium-profile")]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.get(url + "?interval=200")
    driver.set_script_timeout(10)  # next_render's deadline

    def next_render(after):
        # Waits in the page (a MutationObserver, no polling) until it has rendered a state.json
        # newer than render `after`; the script timeout is the deadline.
        return driver.execute_async_script(
            "const after = arguments[0], done = arguments[arguments.length - 1];"
            "const now = () => Number(document.body.dataset.renders || 0);"
            "if (now() > after) { done(now()); return; }"
            "new MutationObserver((m, o) => { if (now() > after) { o.disconnect(); done(now()); } })"
            ".observe(document.body, {attributes: true});", after)

    def text(element_id):
        # One script, so the page cannot replace the element between finding and reading it.
        return driver.execute_script(
            "const e = document.getElementById(arguments[0]); return e ? e.innerText.trim() : '';",
            element_id)

    # ---- 1. the state at once, before any agent
    check(wait_for(lambda: "waiting for agents (0 of 2 connected)" in text("state"), 10,
                   "the waiting state on the page"), "state on connect: " + text("state"))
    run_id = text("run-id")
    check(re.fullmatch(r"[0-9a-f]{16}", run_id) is not None, "the run id on the page: " + run_id)
    check(driver.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "waiting",
          "data-state waiting")
    # --insecure, known from the first status (run_started comes when the agents are there)
    check("INSECURE" in text("settings"), "the waiting page does not say INSECURE: %r" %
          text("settings"))

    # ---- 2. during the run
    agent("1/2", "press-1")
    agent("2/2", "press-2")
    renders = 0
    counts_while_running = set()
    max_agent_rows = 0
    healthy = {}  # agent -> its row once it had updates applied and a mean staleness
    etas = {"epoch-eta": set(), "run-eta": set()}
    live_metrics = None
    late = None
    deadline = time.monotonic() + 90  # a safety net; the run ends when everything was seen
    state = ""
    stopped = False
    while time.monotonic() < deadline:
        state = driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")
        count = int(text("epoch-count") or "0")
        if state == "running":
            counts_while_running.add(count)
            # In one script: the page redraws the table at every poll.
            rows = driver.execute_script(
                "return Array.from(document.querySelectorAll('#agents-table tbody tr'))"
                ".map(tr => Array.from(tr.cells).map(td => td.textContent));")
            max_agent_rows = max(max_agent_rows, len(rows))
            # agent, address, version, role, last message, rows, applied, refused, staleness,
            # round trip, heard, timeouts
            for row in rows:
                if len(row) == 12 and row[4] not in ("", "\u2013") and row[6].isdigit() and \
                        int(row[6]) > 0 and re.fullmatch(r"\d+\.\d\d", row[8]) and \
                        re.fullmatch(r"\d+\.\d ms", row[9]):
                    healthy.setdefault(row[0], row)
            for eta in etas:
                if text(eta) not in ("", "\u2013"):
                    etas[eta].add(text(eta))
            if live_metrics is None and len(healthy) >= 2 and etas["run-eta"]:
                with urllib.request.urlopen(url + "metrics", timeout=5) as r:
                    live_metrics = r.read().decode()
            if late is None and count >= 2:
                late = agent(None, "late-line", "data/spam/test.svm")
            # Everything seen, and two epochs after the late agent's new baseline: stop the run.
            baselines = [e["epoch"] for e in map(json.loads, read(os.path.join(
                WORK, "log.jsonl")).splitlines()) if e["event"] == "epoch_begin" and
                e["epoch"] > 0 and e["verdict"] == "baseline"]
            if not stopped and baselines and count >= baselines[0] + 3 and len(healthy) >= 2 \
                    and live_metrics is not None and all(etas.values()):
                coordinator.send_signal(signal.SIGTERM)
                stopped = True
        if state == "finished":
            break
        renders = next_render(renders)
    check(state == "finished", "the page never showed the run finished (last state %r)" % state)
    growing = sorted(c for c in counts_while_running if c > 0)
    check(len(growing) >= 3, "the epoch count did not grow on the page during the run: %s" % growing)
    check(max_agent_rows >= 2, "the agents' table had %d rows during the run" % max_agent_rows)
    check(late is not None, "the late agent was never started (the run ended too soon)")
    # Every agent's health from the coordinator's status events: rows as it announced them,
    # updates applied, a mean staleness, its software version.
    logged = [json.loads(line) for line in read(os.path.join(WORK, "log.jsonl")).splitlines()]
    joined_rows = {e["agent"]: e for e in logged if e["event"] == "agent_joined"}
    for name in ("press-1", "press-2"):
        row = healthy.get(name)
        if check(row is not None, "the agents' table never showed %s with its last message, "
                 "updates applied, a staleness and a round trip: %s" % (name, healthy)):
            check(row[5] == str(joined_rows[name]["rows"]) and
                  row[2] == joined_rows[name]["software_version"],
                  "%s's rows and version on the page: %s" % (name, row))
    check(etas["epoch-eta"] and etas["run-eta"], "the ETAs never showed: %s" % etas)
    # /metrics while the run ran: per-agent series with the run id, accepted by promtool.
    if check(live_metrics is not None, "no /metrics while two agents were healthy"):
        promtool = subprocess.run(["promtool", "check", "metrics"], input=live_metrics.encode(),
                                  capture_output=True, timeout=30)
        check(promtool.returncode == 0, "promtool check metrics (during the run): %s %s" % (
            promtool.stdout, promtool.stderr))
        for name in ("press-1", "press-2"):
            check(re.search(r'^edgetrain_agent_rows\{run_id="%s",agent="%s"\} %d$' % (
                run_id, name, joined_rows[name]["rows"]), live_metrics, re.M) is not None,
                "/metrics during the run: no rows for %s" % name)
            check(re.search(r'^edgetrain_agent_updates_applied_total\{run_id="%s",agent="%s"\} '
                            r'[1-9]' % (run_id, name), live_metrics, re.M) is not None,
                  "/metrics during the run: no updates applied for %s" % name)
            check(re.search(r'^edgetrain_agent_rtt_seconds\{run_id="%s",agent="%s"\} 0\.' % (
                run_id, name), live_metrics, re.M) is not None,
                "/metrics during the run: no round trip for %s" % name)
        check(re.search(r'^edgetrain_run_eta_seconds\{run_id="%s"\} ' % run_id, live_metrics,
                        re.M) is not None, "/metrics during the run: no run ETA")

    # ---- 3. the final state
    epochs = [e for e in logged if e["event"] == "epoch_begin"]
    # The page polls: wait (with a deadline) until it shows the last events, not a fixed time.
    wait_for(lambda: text("epoch-count") == str(len(epochs)), 10, "the page's final epoch count")
    finished = [e for e in logged if e["event"] == "run_finished"]
    check(len(finished) == 1 and finished[0]["reason"] == "interrupted", "run_finished: %s" % finished)
    check(text("epoch-count") == str(len(epochs)),
          "the page shows %s epochs, the coordinator logged %d" % (text("epoch-count"), len(epochs)))
    check(text("state").startswith("finished (interrupted) at epoch %d" % epochs[-1]["epoch"]),
          "final state: " + text("state"))
    final = driver.find_element(By.ID, "final")
    check(final.is_displayed() and final.text.startswith("Finished (interrupted)"),
          "the final banner: " + final.text)
    check(text("run-id") == run_id and run_id == finished[0]["run_id"], "the run id changed")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#chart circle.point.objective")) +
          len(driver.find_elements(By.CSS_SELECTOR, "#chart path.point.objective")) == len(epochs),
          "the chart does not show one objective point per epoch")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#chart polyline.measure")) >= 1,
          "the chart has no stop-measure line")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#chart line.tolerance")) == 1,
          "the chart has no tolerance line")
    if any(e["verdict"] == "baseline" and e["epoch"] > 0 for e in epochs):
        check(len(driver.find_elements(By.CSS_SELECTOR, "#chart line.marker-baseline")) >= 1,
              "the new baseline is not marked on the chart")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#chart polyline.objective")) >= 2,
              "the objective line is not broken at the new baseline")
    else:
        check(False, "the late agent's arrival made no new baseline: %s" %
              [(e["epoch"], e["verdict"]) for e in epochs])
    joined = [e for e in logged if e["event"] == "agent_joined"]
    check(len(driver.find_elements(By.CSS_SELECTOR, "#chart line.marker-agent_joined")) == len(joined),
          "the chart marks %d joins, the coordinator logged %d" % (
              len(driver.find_elements(By.CSS_SELECTOR, "#chart line.marker-agent_joined")), len(joined)))
    events = [li.get_attribute("data-event") for li in
              driver.find_elements(By.CSS_SELECTOR, "#events li")]
    check("run_finished" in events and "agent_joined" in events, "the event log: %s" % events[:10])
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    check(not errors, "errors in the browser's console: %s" % errors)

    # ---- 4. /healthz and /metrics
    with urllib.request.urlopen(url + "healthz", timeout=5) as r:
        check(r.status == 200 and r.read() == b"ok\n", "/healthz")
    with urllib.request.urlopen(url + "metrics", timeout=5) as r:
        metrics = r.read().decode()
        check(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), "/metrics type")
    promtool = subprocess.run(["promtool", "check", "metrics"], input=metrics.encode(),
                              capture_output=True, timeout=30)
    check(promtool.returncode == 0, "promtool check metrics: %s %s" % (promtool.stdout, promtool.stderr))
    check('edgetrain_run_state{run_id="%s",state="finished"} 1' % run_id in metrics,
          "/metrics does not say finished")
    # The current epoch as the coordinator's last status said (stopped in a gradient phase, that
    # is one past the last epoch_begin).
    statuses = [e for e in map(json.loads, read(os.path.join(WORK, "log.jsonl")).splitlines())
                if e["event"] == "status"]
    check('edgetrain_run_epoch{run_id="%s"} %d' % (run_id, statuses[-1]["epoch"]) in metrics,
          "/metrics: the last epoch (last status: epoch %d)" % statuses[-1]["epoch"])
except Exception as e:  # a failure of the harness (or selenium) is a failure too
    check(False, "%s: %s" % (type(e).__name__, e))
finally:
    if driver is not None:
        driver.quit()
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()

# The monitor serves on after run_finished and ends at SIGTERM with 0.
if len(processes) >= 2:
    check(processes[0].returncode == 0, "the coordinator's exit code: %s" % processes[0].returncode)
    check(processes[1].returncode == 0,
          "the monitor's exit code after SIGTERM: %s" % processes[1].returncode)
if failures:
    print("monitor log:\n" + read(os.path.join(WORK, "monitor.err")), file=sys.stderr)
    sys.exit(1)
print("the page followed the run: epoch counts seen while it ran %s, ETAs shown %s" % (
    sorted(counts_while_running), {k: len(v) for k, v in etas.items()}))
