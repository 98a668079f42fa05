#!/usr/bin/python3
"""Loader speed: edgetrain's libsvm reader against liblinear-train's, on the same 200 MB file.

liblinear-train has no load-only mode; it is run with a stopping tolerance so loose that the
solver stops after computing its first gradient (one pass over the data), so its time is the
load plus one cheap pass. edgetrain is timed with `edgetrain-agent inspect` (load plus a count
of the labels). Each is run 3 times after a warm-up read (the file is in the page cache for
both); the best time counts. Prints the measurements and the ratio.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import prepare_data  # noqa: E402


def best_of(cmd, runs=3):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    path = prepare_data.load_file()
    agent = common.AGENT
    size = os.path.getsize(path)
    with open(path, "rb") as f:  # warm the page cache
        while f.read(1 << 24):
            pass
    ours = best_of([agent, "inspect", "--data", path])
    theirs = best_of(["liblinear-train", "-s", "6", "-B", "-1", "-e", "1e30", "-c", "1", path, "/dev/null"])
    print("# loader speed, %s, %d cores, %s" % (common.cpu_model(), os.cpu_count(), time.strftime("%Y-%m-%d")))
    print("# command: bench/load-speed")
    print("file %s (%.0f MB)" % (os.path.relpath(path, common.ROOT), size / 1e6))
    print("edgetrain-agent inspect        %.2f s  (%.0f MB/s)" % (ours, size / 1e6 / ours))
    print("liblinear-train (load + 1 pass) %.2f s  (%.0f MB/s)" % (theirs, size / 1e6 / theirs))
    print("speed-up over liblinear: %.2fx" % (theirs / ours))


if __name__ == "__main__":
    main()
