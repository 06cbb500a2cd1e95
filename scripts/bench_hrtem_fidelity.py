"""Fidelity and speed of atomdata's HRTEM image model against abTEM (needs the `abtem` extra).

    python scripts/bench_hrtem_fidelity.py [--repeats 3] [--json out.json]

For each case of atomdata.sim.hrtem.fidelity.CASES both simulators image the same atoms (particles on
amorphous carbon) on the same grid with the same optics; atomdata runs its benchmark settings (5 Å slices
through the particles, 10 Å through the support), abTEM 2 Å slices everywhere. Prints a Markdown table:
Pearson r of the two lens intensities over the field, the time per image of each (best of --repeats, in
one process, abTEM warmed up) and the speed ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from atomdata.sim.hrtem.fidelity import CASES, compare_case


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    rows = [compare_case(c, repeats=args.repeats) for c in CASES]
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    print("| case | atoms | grid | Pearson r | atomdata [s] | abTEM [s] | speed ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['n_atoms']} | {r['grid'][0]}² at {r['sampling_A']} Å | {r['pearson_r']:.4f} | "
              f"{r['atomdata_s']:.2f} | {r['abtem_s']:.2f} | {r['speed_ratio']:.1f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
