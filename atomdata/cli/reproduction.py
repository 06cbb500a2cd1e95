"""Reproduction command: ``reproduce``."""
from __future__ import annotations

from atomdata.cli.common import add_engine_options

__all__ = ["COMMANDS"]


def cmd_reproduce(args) -> int:
    import logging

    from atomdata.reproduce import reproduce, summary_lines

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    kwargs = {"models": args.models} if args.models else {}
    result = reproduce(args.out, quick=args.quick, data=args.data, protocol=args.protocol,
                       tolerance_A=args.tolerance_A, train_missing=not args.no_train, n_boot=args.n_boot,
                       max_seeds=args.max_seeds, reuse_predictions=not args.no_reuse, progress=not args.quiet,
                       scheduler=args.scheduler, workers=args.workers, address=args.address, **kwargs)
    for line in summary_lines(result):
        print(line)
    print(f"report: {result.report_path} (the full comparison, plots and per-model reports are beside it)")
    return 0


def add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="Build the benchmark if missing, run every model, compare cutoffs with the paper.")
    p.add_argument("--out", default=None, help="Output folder (default ./reproduction or ./reproduction-quick).")
    p.add_argument("--quick", action="store_true", help="Use the quick build (minutes on 2 cores; coarse cutoffs).")
    p.add_argument("--data", default=None, help="A dataset folder with manifest.json instead of the cached/built default.")
    p.add_argument("--models", nargs="+", default=None, help="Registry names to run (default: all three).")
    p.add_argument("--protocol", default="one_to_one", choices=["one_to_one", "wei2022"])
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
