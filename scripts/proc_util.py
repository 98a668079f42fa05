"""Helpers the Python drivers in scripts/ and bench/ share (soak.py, footprint.py, rounds.py)."""
import json
import os
import socket


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def json_lines(path):
    """The JSON objects of a --log-json file so far; a line cut short (being written, or by
    kill -9) is skipped."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out
