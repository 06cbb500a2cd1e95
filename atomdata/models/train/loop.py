"""Training atomdata's own model weights (``atomdata train lin-atomsegnet``).

The published ``gaussianMask+`` weights of the Lin/Xin AtomSegNet are not reachable, so atomdata
re-trains that U-Net (:class:`~atomdata.models.atomsegnet.AtomSegUNet`) on the benchmark's
``train`` split and validates it on ``val``.  Everything that decides the weights is in a
:class:`TrainRecipe` (steps, batch, crop, learning rate, target width, seed); the recipe, the
seed and the identity of the training data (dataset name, version, SHA-256 of the train split)
are stored in the weights file, and :meth:`LinAtomSegNet.describe()
<atomdata.models.atomsegnet.LinAtomSegNet.describe>` reports them.

Recipe (Gaussian-mask targets, after Lin et al., Sci. Rep. 11, 5386 (2021))
-----------------------------------------------------------------------------
* Input: a random ``crop_px`` square crop of a training image, randomly flipped and rotated
  by multiples of 90 degrees, min-max scaled to [0, 1] (as the locator scales whole images).
* Target: a Gaussian mask, one round Gaussian of peak 1 and width ``sigma_px`` [px] at every
  scoring-target column (:func:`atomdata.datasets.labels.gaussian_heatmap`), drawn after the
  augmentation so it stays sub-pixel exact.  The width is fixed in pixels, like the masks of
  an image library drawn at the image's own sampling; 1.5 px keeps neighbouring masks apart
  down to about 7 px column spacing, so the published watershed (markers at 30 and 100 of
  255) separates them.
* Loss: mean squared error between the sigmoid output and the mask; Adam, linear warm-up then
  cosine decay of the learning rate; BatchNorm in training mode; 400 steps of 4 crops of 64 px.
* Validation: the loss on ``val_images`` centre crops of the ``val`` split, every
  ``val_every`` steps and at the end.

Reproducibility
---------------
Sample ``g`` of the run (``g = step * batch_size + b``) is image ``perm_e[g mod N]`` of epoch
``e = g // N``, where ``perm_e`` is a permutation drawn from ``(seed, e)``; its augmentation is
drawn from ``(seed, e, image index)`` by :class:`~atomdata.datasets.AtomColumnDataset`.  The
data stream is therefore a pure function of the recipe and the step, whatever the number of
DataLoader workers.  Checkpoints (every ``checkpoint_every`` steps, written atomically) hold
the network, the optimiser, the step, the validation history and the torch / numpy / Python
RNG states, so a resumed run continues exactly where the checkpoint left off: on CPU, the
weights after N steps are identical whether or not the run was interrupted and resumed.

Positions are (x, y) in pixels, x = column index, y = row index, origin at the centre of the
top-left pixel.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Optional, Union

import numpy as np

from atomdata._version import __version__
from atomdata.models.train.recipe import DEFAULT_RECIPE, QUICK_RECIPE, TrainRecipe
from atomdata.storage import atomic_path, cache_dir, file_lock, folder_lock, remove_stale_temporaries, sha256_file

__all__ = [
    "TrainRecipe",
    "DEFAULT_RECIPE",
    "QUICK_RECIPE",
    "CHECKPOINT_FORMAT",
    "trainable",
    "train",
    "checkpoint_dir_for",
]

#: Format tag stored in every training checkpoint.
CHECKPOINT_FORMAT = "atomdata-train-checkpoint/1"


def _lin_factory():
    from atomdata.models.atomsegnet import LIN_ATOMSEGNET_WEIGHTS, AtomSegUNet

    return AtomSegUNet, LIN_ATOMSEGNET_WEIGHTS


#: model name -> callable returning (network class, WeightsSpec of its output file)
_TRAINABLE = {"lin-atomsegnet": _lin_factory}


def trainable() -> list[str]:
    """Names of the models ``atomdata train`` can train.

    Examples
    --------
    >>> trainable()
    ['lin-atomsegnet']
    """
    return sorted(_TRAINABLE)


def checkpoint_dir_for(model_name: str, fingerprint: str, root=None) -> Path:
    """Default checkpoint folder of one training run: ``<cache>/train/<model>-<fingerprint[:12]>/``."""
    return cache_dir(root) / "train" / f"{model_name}-{fingerprint[:12]}"


def _finished(out: Path, fingerprint: str, device) -> bool:
    """True when ``out`` holds the final weights of the run with this fingerprint on this kind of device."""
    if not out.is_file():
        return False
    from atomdata.models.weights import load_state_dict_file

    try:
        _, meta = load_state_dict_file(out)
    except Exception:  # unreadable or foreign: train and replace it
        return False
    return meta.get("fingerprint") == fingerprint and meta.get("device") == device.type


def _write_run_log(out: Path, **facts) -> None:
    """Facts of the run that differ between identical runs (wall time, device name), beside the weights."""

    log_path = out.with_name(out.name + ".run.json")
    facts["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    facts["atomdata_version"] = __version__
    with atomic_path(log_path) as tmp:
        tmp.write_text(json.dumps(facts, indent=2) + "\n")


# -- the public entry point ------------------------------------------------------------------------
def train(
    model_name: str = "lin-atomsegnet",
    data=None,
    *,
    out: Union[None, str, os.PathLike] = None,
    recipe: Optional[TrainRecipe] = None,
    quick: bool = False,
    steps: Optional[int] = None,
    batch_size: Optional[int] = None,
    crop_px: Optional[int] = None,
    lr: Optional[float] = None,
    sigma_px: Optional[float] = None,
    seed: Optional[int] = None,
    val_every: Optional[int] = None,
    checkpoint_every: Optional[int] = None,
    val_data=None,
    device=None,
    resume: bool = True,
    checkpoint_dir: Union[None, str, os.PathLike] = None,
    stop_at: Optional[int] = None,
    workers: int = 0,
    progress: bool = True,
) -> Path:
    """Train a model's weights on the ``train`` split; write them as ``{"state_dict", "meta"}``.

    Parameters
    ----------
    model_name : str
        One of :func:`trainable` (``"lin-atomsegnet"``).
    data : path or SplitLike, optional
        A dataset folder (``manifest.json`` + ``train.h5`` + ``val.h5``), a cache root, a train
        split file or a ``SplitLike`` train split.  Default: the benchmark, fetched or built by
        :func:`atomdata.sources.load`.
    out : path, optional
        Where to write the weights.  Default: ``<cache>/weights/<file name of the model>``
        (``lin-atomsegnet-gaussianmask.pt``), where ``atomdata.models.get`` finds them.
    recipe : TrainRecipe, optional
        All settings (default :data:`DEFAULT_RECIPE`, or :data:`QUICK_RECIPE` with ``quick``);
        the keyword options below replace single fields of it.
    quick : bool
        Train the short :data:`QUICK_RECIPE` (seconds; for CI and the quick benchmark build) and,
        unless ``out`` is given, write ``<cache>/weights/<name>-quick.pt``, so quick weights never
        take the place of the full ones in the cache.
    steps, batch_size, crop_px, lr, sigma_px, seed, val_every, checkpoint_every
        Override the recipe field of the same name (``crop_px`` and ``sigma_px`` in [px]).
    val_data : path or SplitLike, optional
        The validation split, when ``data`` is not a dataset folder holding ``val.h5``.
        Without any, training runs without validation.
    device : str or torch.device, optional
        Default CUDA when available, else CPU.  Bit-exact resumption is guaranteed on CPU.
    resume : bool
        Continue from this run's checkpoint when one exists (same model, recipe and data).
        False starts over (the old checkpoint is overwritten).
    checkpoint_dir : path, optional
        Folder of this run's ``checkpoint.pt``.  Default
        ``<cache>/train/<model>-<fingerprint>/`` (:func:`checkpoint_dir_for`), where the
        fingerprint hashes the model, the recipe and the train split.
    stop_at : int, optional
        Stop after this many steps, write a checkpoint and return its path without writing the
        weights (to split a long run over several sessions; call again to continue).
    workers : int
        DataLoader worker processes (0: load in the training process).
    progress : bool
        Show a tqdm progress bar and print a summary line to stderr.

    Returns
    -------
    pathlib.Path
        The weights file (or, with ``stop_at`` before the last step, the checkpoint file).

    Raises
    ------
    ValueError
        Unknown model (the valid names are listed), invalid recipe values, an empty split,
        or a CUDA device requested without CUDA.
    atomdata.sources.DatasetNotFoundError
        ``data`` does not hold a train split.

    Notes
    -----
    See the module docstring for the recipe and the reproducibility guarantees.  The weights'
    ``meta`` records the recipe, the seed, the dataset (name, version, SHA-256 of the train
    split), the steps, the final validation loss, the device type and the torch version; the
    wall time goes to ``<out>.run.json``, so a run repeated with the same settings writes the same
    bytes. When ``out`` already holds the weights of this run (same fingerprint and device type),
    nothing is trained and ``out`` is returned as it is.

    Examples
    --------
    >>> path = train("lin-atomsegnet", "/path/to/dataset", steps=400)  # doctest: +SKIP
    >>> from atomdata import models
    >>> models.get("lin-atomsegnet", weights=path).describe()["weights"]["training"]["steps"]  # doctest: +SKIP
    400
    """
    from atomdata.models.train import data as _data
    from atomdata.models.train import state as _state
    from atomdata.models.weights import weights_cache_dir

    if model_name not in _TRAINABLE:
        raise ValueError(f"Unknown trainable model {model_name!r}. Trainable models: {', '.join(trainable())} "
                         "(ziatdinov-atomnet-cubic uses the published weights; baseline-peaks needs none).")
    overrides = {k: v for k, v in dict(steps=steps, batch_size=batch_size, crop_px=crop_px, lr=lr, sigma_px=sigma_px,
                                        seed=seed, val_every=val_every, checkpoint_every=checkpoint_every).items()
                 if v is not None}
    recipe = dataclasses.replace(recipe or (QUICK_RECIPE if quick else DEFAULT_RECIPE), **overrides)
    if stop_at is not None and not (isinstance(stop_at, int) and stop_at >= 1):
        raise ValueError(f"stop_at must be an integer >= 1 (a step number), got {stop_at!r}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers!r}")
    net_class, spec = _TRAINABLE[model_name]()
    if out is not None:
        out = Path(out).expanduser()
    else:
        name = Path(spec.filename)
        out = weights_cache_dir() / (f"{name.stem}-quick{name.suffix}" if quick else spec.filename)
    dev = _state.resolve_device(device)

    train_reader, train_path, val_reader = _data.open_data(data, val_data, progress)
    dataset = _data.dataset_record(train_reader, train_path)
    fingerprint = _state.fingerprint(model_name, recipe, dataset)
    ckpt_dir = Path(checkpoint_dir).expanduser() if checkpoint_dir is not None else checkpoint_dir_for(
        model_name, fingerprint)
    # one run at a time per weights file and per checkpoint folder (always taken in this order)
    with file_lock(out, what="training"), folder_lock(ckpt_dir, what="training"):
        remove_stale_temporaries(out.parent, of=out.name)  # also <out>.run.json's
        remove_stale_temporaries(ckpt_dir)
        if stop_at is None and _finished(out, fingerprint, dev):
            if progress:
                print(f"atomdata train: {out} already holds the weights of this run (same model, recipe, data and "
                      "device); nothing to do", file=sys.stderr)
            return out
        return _train_locked(model_name, recipe, net_class, dev, out, ckpt_dir, fingerprint, dataset, train_reader,
                             val_reader, resume=resume, stop_at=stop_at, workers=workers, progress=progress)


def _train_locked(model_name, recipe, net_class, dev, out: Path, ckpt_dir: Path, fingerprint: str, dataset: dict,
                  train_reader, val_reader, *, resume: bool, stop_at, workers: int, progress: bool) -> Path:
    """The training run proper, while holding the locks of ``out`` and ``ckpt_dir``."""
    import torch
    from torch.utils.data import DataLoader

    from atomdata.datasets.collate import collate_columns
    from atomdata.models.train import data as _data
    from atomdata.models.train import state as _state

    ckpt_path = ckpt_dir / "checkpoint.pt"
    train_ds, val_ds = _data.make_datasets(recipe, train_reader, val_reader)
    val = _data.val_batch(recipe, val_ds)
    loss_fn = _state.loss_fn(recipe.loss, recipe.fg_weight)

    deterministic_before = (torch.are_deterministic_algorithms_enabled(),
                            torch.is_deterministic_algorithms_warn_only_enabled())
    cudnn_before = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        torch.manual_seed(recipe.seed)
        np.random.seed(recipe.seed)
        random.seed(recipe.seed)
        net = net_class()
        _state.init_head(net, recipe)
        net = net.to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        start, history, elapsed, running = 0, [], 0.0, None
        if resume and ckpt_path.is_file():
            ck = _state.read_checkpoint(ckpt_path, fmt=CHECKPOINT_FORMAT, fingerprint=fingerprint)
            net.load_state_dict(ck["state_dict"])
            opt.load_state_dict(ck["optimizer"])
            start, history, elapsed = int(ck["step"]), list(ck["history"]), float(ck["elapsed_s"])
            running = ck.get("train_loss")
            _state.set_rng_states(ck["rng"])
        net.train()

        def checkpoint(step: int) -> None:
            _state.save({"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "model": model_name,
                   "recipe": recipe.to_dict(), "dataset": dataset, "step": step,
                   "state_dict": net.state_dict(), "optimizer": opt.state_dict(), "history": history,
                   "elapsed_s": elapsed + time.perf_counter() - t0, "train_loss": running,
                   "rng": _state.rng_states()}, ckpt_path)

        t0 = time.perf_counter()
        last = recipe.steps if stop_at is None else min(stop_at, recipe.steps)
        loader = DataLoader(_data.StepStream(train_ds, recipe.seed), batch_size=recipe.batch_size,
                            sampler=range(start * recipe.batch_size, last * recipe.batch_size),
                            collate_fn=collate_columns, num_workers=workers)
        from tqdm.auto import tqdm

        bar = tqdm(total=recipe.steps, initial=start, disable=not progress, desc=f"train {model_name}",
                   unit="step", dynamic_ncols=True)
        step = start
        try:
            for batch in loader:
                for group in opt.param_groups:
                    group["lr"] = recipe.lr_at(step)
                x = batch["image"].to(dev, non_blocking=True)
                y = batch["label"].to(dev, non_blocking=True)
                loss = loss_fn(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                value = float(loss.detach())
                running = value if running is None else 0.95 * running + 0.05 * value
                if val is not None and (step % recipe.val_every == 0 or step == recipe.steps):
                    history.append({"step": step, "val_loss": _state.validate(net, val, loss_fn, dev, recipe.batch_size),
                                    "train_loss": running})
                    bar.set_postfix(loss=f"{running:.4g}", val=f"{history[-1]['val_loss']:.4g}")
                else:
                    bar.set_postfix(loss=f"{running:.4g}")
                bar.update(1)
                if step % recipe.checkpoint_every == 0 or step == last:
                    checkpoint(step)
        finally:
            bar.close()
        if step < recipe.steps:
            return ckpt_path
        wall = elapsed + time.perf_counter() - t0
        final_val = history[-1]["val_loss"] if history and history[-1]["step"] == step else (
            _state.validate(net, val, loss_fn, dev, recipe.batch_size))
        meta = {
            "trained_by": "atomdata.models.train.train",
            "model": model_name,
            "architecture": net_class.__name__,
            "recipe": recipe.to_dict(),
            "seed": recipe.seed,
            "label": f"Gaussian mask, sigma {recipe.sigma_px} px, target (scored) columns",
            "dataset": dataset,
            "val_images": 0 if val is None else len(val[0]),
            "steps": step,
            "final_val_loss": final_val,
            "final_train_loss": running,
            "val_history": history,
            "device": dev.type,
            "torch_version": str(torch.__version__),
            "fingerprint": fingerprint,
        }
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        _state.save({"state_dict": state, "meta": meta}, out)  # no time or wall clock inside: same run, same bytes
        _write_run_log(out, wall_time_s=round(wall, 1), device=str(dev))
        if progress:
            val_txt = "n/a" if final_val is None else f"{final_val:.4g}"
            print(f"atomdata train: wrote {out} (sha256 {sha256_file(out)}; {step} steps, val loss {val_txt}, "
                  f"{wall:.0f} s on {dev})", file=sys.stderr)
        return out
    finally:
        torch.use_deterministic_algorithms(deterministic_before[0], warn_only=deterministic_before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn_before
