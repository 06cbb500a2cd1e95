"""Model command: ``train``."""
from __future__ import annotations

__all__ = ["COMMANDS"]


def cmd_train(args) -> int:
    from atomdata.models.train import train
    from atomdata.storage import sha256_file

    if args.model == "hrtem-unet":  # the HRTEM segmentation task's U-Net
        from atomdata.models.train.segment import train_segmenter

        path = train_segmenter(args.data, out=args.out, quick=args.quick, device=args.device, resume=args.resume,
                               checkpoint_dir=args.checkpoint_dir, stop_at=args.stop_at, progress=not args.quiet,
                               steps=args.steps, batch_size=args.batch_size, crop_px=args.crop_px, lr=args.lr,
                               seed=args.seed)
        print(path)
        print(f"sha256 {sha256_file(path)}")
        return 0

    path = train(args.model, args.data, out=args.out, steps=args.steps, batch_size=args.batch_size,
                 crop_px=args.crop_px, lr=args.lr, sigma_px=args.sigma_px, seed=args.seed, val_every=args.val_every,
                 checkpoint_every=args.checkpoint_every, device=args.device, resume=args.resume,
                 checkpoint_dir=args.checkpoint_dir, stop_at=args.stop_at, workers=args.workers,
                 quick=args.quick, progress=not args.quiet)
    print(path)
    print(f"sha256 {sha256_file(path)}")
    return 0


def add_train(sub) -> None:
    p = sub.add_parser("train", help="Train a model's weights on the train split (default recipe: a few minutes "
                                     "on 2 CPU cores); checkpoints, resume, fixed seeds.")
    p.add_argument("model", help="Model to train: lin-atomsegnet (atom columns) or hrtem-unet (nanoparticle masks).")
    p.add_argument("--data", default=None,
                   help="Dataset folder with train.h5 and val.h5 (default: the benchmark in the cache, built if missing).")
    p.add_argument("--out", default=None,
                   help="Weights file to write (default: <cache>/weights/lin-atomsegnet-gaussianmask.pt).")
    p.add_argument("--quick", action="store_true",
                   help="The short CI recipe (seconds); writes <cache>/weights/<name>-quick.pt unless --out is given.")
    p.add_argument("--steps", type=int, default=None, help="Optimiser steps (default: the recipe's, 400).")
    p.add_argument("--batch-size", type=int, default=None, help="Crops per step (default 4).")
    p.add_argument("--crop-px", type=int, default=None, help="Training crop side in px, a multiple of 4 (default 64).")
    p.add_argument("--lr", type=float, default=None, help="Peak learning rate (default 2e-3).")
    p.add_argument("--sigma-px", type=float, default=None, help="Gaussian mask width in px (default 1.5).")
    p.add_argument("--seed", type=int, default=None,
                   help="Seed of initialisation, sample order and augmentation (default 0).")
    p.add_argument("--val-every", type=int, default=None, help="Validate every N steps (default 100).")
    p.add_argument("--checkpoint-every", type=int, default=None, help="Checkpoint every N steps (default 100).")
    p.add_argument("--checkpoint-dir", default=None, help="Checkpoint folder (default: <cache>/train/<model>-<hash>/).")
    p.add_argument("--stop-at", type=int, default=None, help="Stop after this step, keeping a checkpoint to resume from.")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available).")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0).")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="Start over instead of resuming.")
    p.add_argument("--quiet", action="store_true", help="No progress bar or summary line.")
    p.set_defaults(func=cmd_train)


COMMANDS = [add_train]
