"""Run the robustness suite (tests/test_robust_*.py) and print its summary: cases tried by class, all passing.

Usage (the figures in docs/reliability.md were made with the first line):

    .venv/bin/python scripts/robustness_summary.py --runslow
    .venv/bin/python scripts/robustness_summary.py            # the default (fast) part only

Every test counts the cases it tries (hypothesis examples included) through tests/robust.py;
this script collects the counts through ATOMDATA_ROBUSTNESS_TALLY and prints one table row per
class, then pytest's verdict.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as d:
        tally = Path(d) / "tally.json"
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               *sorted(str(p) for p in (ROOT / "tests").glob("test_robust_*.py")), *argv],
                              cwd=ROOT, env={**os.environ, "ATOMDATA_ROBUSTNESS_TALLY": str(tally)},
                              capture_output=True, text=True)
        wall = time.monotonic() - t0
        counts = json.loads(tally.read_text()) if tally.exists() else {}
    groups: dict[str, dict[str, int]] = defaultdict(dict)
    for name, n in counts.items():
        cls, _, sub = name.partition(":")
        groups[cls][sub.strip() or cls] = n
    print("| class | cases tried | of which |")
    print("|---|---:|---|")
    for cls in sorted(groups):
        parts = groups[cls]
        detail = ", ".join(f"{k} {v}" for k, v in sorted(parts.items()))
        print(f"| {cls} | {sum(parts.values())} | {detail} |")
    print(f"| **all** | **{sum(counts.values())}** | |")
    verdict = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    print(f"\npytest: {verdict} ({wall:.0f} s wall; `pytest tests/test_robust_*.py {' '.join(argv)}`)")
    if proc.returncode:
        print(proc.stdout[-3000:])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
