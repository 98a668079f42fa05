#!/usr/bin/python3
"""Section 50: the loader benchmark (bench/load_speed.py) as a report fragment."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

out = subprocess.run(["/usr/bin/python3", os.path.join(common.HERE, "load_speed.py")], check=True,
                     stdout=subprocess.PIPE, text=True, env=dict(os.environ, EDGETRAIN_BENCH_BUILD=common.BUILD)).stdout
common.write_fragment("50-load", "## Loading a libsvm file\n\nTarget: at least 2x faster than liblinear's loader on "
                      "the same file (bench/load_speed.py: best of 3, page cache warm).\n\n```text\n%s```\n" % out)
