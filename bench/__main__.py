"""`make bench`: every benchmark in turn, each in a fresh process (so memory figures are its own);
each prints a table and writes bench/results/*.json."""

import subprocess
import sys

for name in ("planner", "wave", "telegram_load", "capacity"):
    subprocess.run([sys.executable, "-m", f"bench.{name}"], check=True)
