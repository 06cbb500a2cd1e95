"""Reproduction command: ``reproduce``."""
from __future__ import annotations

from atomdata.cli.common import add_engine_options

__all__ = ["COMMANDS"]


def cmd_reproduce(args) -> int:
    import logging

    from atomdata.reproduce import reproduce, summary_lines

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    kwargs = {"models": args.models} if args.models else {}
    result = reproduce(args.out, version=args.version, dataset=args.dataset, quick=args.quick, data=args.data,
                       protocol=args.protocol, tolerance_A=args.tolerance_A, train_missing=not args.no_train,
                       n_boot=args.n_boot, max_seeds=args.max_seeds, reuse_predictions=not args.no_reuse,
                       compare_with=args.compare_with, progress=not args.quiet,
                       scheduler=args.scheduler, workers=args.workers, address=args.address, **kwargs)
    for line in summary_lines(result):
        print(line)
    print(f"report: {result.report_path} (the full comparison, plots and per-model reports are beside it)")
    return 0


def add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="Build the benchmark (1.1.0) if missing, run every model, compare cutoffs "
                                         "with the paper; or run on the published images (--dataset wei_atom_locating).")
    p.add_argument("--out", default=None,
                   help="Output folder (default ./reproduction, ./reproduction-quick, or ./reproduction-wei).")
    p.add_argument("--version", default=None,
                   help="Benchmark version (default 1.1.0, made the way Wei et al. made theirs; 1.0.0 still works).")
    p.add_argument("--dataset", default=None, choices=["atomdata-benchmark", "wei_atom_locating"],
                   help="wei_atom_locating: run on the published images (fetched from MDF/Foundry unless --data "
                        "gives a local wei_atom.h5).")
    p.add_argument("--quick", action="store_true", help="Use the quick build (minutes on 2 cores; coarse cutoffs).")
    p.add_argument("--data", default=None,
                   help="A dataset folder with manifest.json instead of the cached/built default, or a local "
                        "wei_atom.h5 (then as --dataset wei_atom_locating).")
    p.add_argument("--compare-with", default=None, metavar="DIR",
                   help="Published images only: an earlier reproduction folder on atomdata's benchmark, shown as "
                        "a third column.")
    p.add_argument("--models", nargs="+", default=None, help="Registry names to run (default: all three).")
    p.add_argument("--protocol", default=None, choices=["one_to_one", "wei2022"],
                   help="Matching protocol of the main table (default one_to_one; wei2022 on the published images); "
                        "the report also shows the other.")
    p.add_argument("--tolerance-A", type=float, default=None, help="Match tolerance [Å] (default: the protocol's).")
    p.add_argument("--no-train", action="store_true",
                   help="Skip lin-atomsegnet instead of training it when its weights are missing.")
    p.add_argument("--n-boot", type=int, default=1000, help="Bootstrap replicates for confidence intervals.")
    p.add_argument("--max-seeds", type=int, default=None,
                   help="Use only the first N seeds of every sweep point (faster; coarser confidence intervals).")
    p.add_argument("--no-reuse", action="store_true",
                   help="Predict everything again instead of reusing predictions saved in --out by an earlier run.")
    add_engine_options(p, what="the model predictions")
    p.add_argument("--quiet", action="store_true", help="No progress bars.")
    p.set_defaults(func=cmd_reproduce)


COMMANDS = [add_reproduce]
