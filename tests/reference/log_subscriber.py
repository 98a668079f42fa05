#!/usr/bin/python3
"""A log-stream client written against docs/log-stream.md, with pyzmq (Debian python3-zmq).

Usage: log_subscriber.py ENDPOINT OUT.json [TIMEOUT_SECONDS]
Subscribes to everything, writes OUT.json.ready once subscribed (so a test can start the run), checks every event against the documented topics and fields until
run_finished (or the timeout), then writes a summary to OUT.json:
  {"counts": {event: n}, "errors": [...], "epochs": [...], "finished": {...}}
Exit code 0 when the stream was well-formed and the run finished, 1 otherwise.
"""
import json
import sys
import time

import zmq

# Every event carries these.
COMMON = ["event", "time", "run_id"]
REQUIRED = {
    ("status", "status"): ["state", "why", "phase", "epoch", "agents", "agents_needed", "rows",
                           "steps_applied", "inner_steps", "seconds", "evaluated", "objective", "kkt",
                           "rel_gap", "tolerance", "epoch_eta_seconds", "run_eta_seconds", "agent_status"],
    ("run", "run_started"): ["agents", "dimension", "loss", "l1", "l2", "intercept", "max_epochs", "kkt_tolerance",
                             "tolerance", "insecure", "secure_log"],
    ("run", "waiting_for_agents"): ["agents", "needed", "why"],
    ("run", "run_resumed"): ["epoch", "version", "step_factor", "updates_applied", "agents_before"],
    ("run", "checkpoint_error"): ["detail"],
    ("run", "insecure"): ["detail"],
    ("run", "run_finished"): ["reason", "evaluated", "epoch", "objective", "kkt", "rel_gap", "nnz", "updates_applied", "updates_refused",
                              "messages_refused", "agents_joined", "seconds", "bytes_in", "bytes_out", "model",
                              "refused", "refused_by_sender", "duplicates", "repeats", "newton_steps",
                              "newton_rejected"],
    ("epoch", "epoch_begin"): ["epoch", "objective", "kkt", "gap_bound", "rel_gap", "nnz", "rows", "agents",
                               "version", "eta", "inner_steps", "batch", "seconds", "best", "verdict", "action",
                               "step_factor", "rolled_back", "final"],
    ("epoch", "progress"): ["epoch", "updates_applied", "steps_applied", "inner_steps", "updates_per_second", "agents", "seconds"],
    ("epoch", "epoch_end"): ["epoch", "updates_applied", "steps_applied", "inner_steps", "updates_per_second", "inner_seconds",
                             "staleness_histogram", "refused", "guarded_refused", "guarded_clipped", "bytes_in",
                             "bytes_out", "version", "seconds"],
    ("epoch", "newton"): ["epoch", "support", "rows", "declined", "taken", "decrease", "sweeps", "solve_seconds",
                          "curvature_seconds", "reused", "bytes", "seconds"],
    ("epoch", "newton_backtrack"): ["epoch", "objective", "best_objective", "next_alpha", "seconds"],
    ("epoch", "newton_rejected"): ["epoch", "objective", "best_objective", "seconds"],
    ("agent", "agent_joined"): ["agent", "peer", "key", "key_name", "rows", "dimension", "row_norm_sq_max", "software_version", "agents"],
    ("agent", "agent_left"): ["agent", "reason", "agents"],
    ("agent", "agent_refused"): ["agent", "reason", "detail"],
    ("agent", "message_refused"): ["agent", "peer", "reason", "detail"],
    ("agent", "gradient_timeout"): ["agent", "rows", "epoch"],
    ("agent", "key_refused"): ["domain", "peer", "key"],
    ("agent", "handshake_failed"): ["detail"],
    ("agent", "allow_list_reloaded"): ["keys"],
    ("agent", "allow_list_error"): ["detail"],
}


def main():
    endpoint, out = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 120
    sub = zmq.Context().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.connect(endpoint)
    time.sleep(0.5)  # the subscription travels to the publisher (ZeroMQ's slow joiner)
    with open(out + ".ready", "w") as f:
        f.write("subscribed\n")
    counts, errors, epochs, finished = {}, [], [], None
    deadline = time.time() + timeout
    while finished is None and time.time() < deadline:
        try:
            frames = sub.recv_multipart()
        except zmq.Again:
            continue
        if len(frames) != 2:
            errors.append("expected 2 frames, got %d" % len(frames))
            continue
        topic, body = frames[0].decode(), frames[1]
        try:
            event = json.loads(body)
        except ValueError as e:
            errors.append("not JSON: %s" % e)
            continue
        name = event.get("event")
        counts[name] = counts.get(name, 0) + 1
        if not isinstance(event.get("time"), float):
            errors.append("%s: time is not a number" % name)
        fields = REQUIRED.get((topic, name))
        if fields is None:
            errors.append("undocumented event %s on topic %s" % (name, topic))
            continue
        missing = [f for f in COMMON + fields if f not in event]
        if missing:
            errors.append("%s lacks %s" % (name, missing))
        if name == "status" and not all("agent" in a and "role" in a for a in event["agent_status"]):
            errors.append("status: an agent_status entry lacks agent or role")
        if name == "epoch_end" and len(event["staleness_histogram"]) != 8:
            errors.append("staleness_histogram has %d buckets" % len(event["staleness_histogram"]))
        if name == "epoch_begin":
            epochs.append({"epoch": event["epoch"], "objective": event["objective"], "kkt": event["kkt"]})
        if name == "run_finished":
            finished = event
    with open(out, "w") as f:
        json.dump({"counts": counts, "errors": errors, "epochs": epochs, "finished": finished}, f)
    sys.exit(0 if finished is not None and not errors else 1)


if __name__ == "__main__":
    main()
