"""The optimisation side of training: losses, the head initialisation, validation, RNG states, checkpoints."""
from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from atomdata.models.train.recipe import TrainRecipe
from atomdata.storage import atomic_path

__all__ = ["loss_fn", "init_head", "validate", "rng_states", "set_rng_states", "fingerprint", "save",
           "read_checkpoint", "resolve_device"]


def loss_fn(name: str, fg_weight: float = 0.0):
    """The training loss ``"bce"`` or ``"mse"``, optionally weighting foreground pixels by ``1 + fg_weight * label``."""
    def loss(out, target):
        weight = None if fg_weight == 0 else 1 + fg_weight * target
        if name == "bce":
            return F.binary_cross_entropy(out.clamp(1e-6, 1 - 1e-6), target, weight=weight)
        err = (out - target) ** 2
        return err.mean() if weight is None else (err * weight).mean()

    return loss


def init_head(net, recipe: TrainRecipe) -> None:
    """Set the affine parameters of the last BatchNorm before the sigmoid (see ``head_gain``)."""
    head = getattr(net, "bn9", None)
    if head is None:
        return
    with torch.no_grad():
        head.weight.fill_(recipe.head_gain)
        head.bias.fill_(recipe.head_bias)


def validate(net, val, loss_fn, device, batch_size: int) -> Optional[float]:
    """Mean validation loss over the fixed batch ``val`` (None without one)."""
    if val is None:
        return None
    images, targets = val
    was_training = net.training
    net.eval()
    total = 0.0
    with torch.no_grad():
        for a in range(0, len(images), batch_size):
            x, y = images[a:a + batch_size].to(device), targets[a:a + batch_size].to(device)
            total += float(loss_fn(net(x), y)) * len(x)
    net.train(was_training)
    return total / len(images)


def rng_states() -> dict:
    """Every random generator state training touches (torch, CUDA, numpy, Python), for a checkpoint."""
    np_state = np.random.get_state()
    return {
        "torch": torch.random.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "python": list(random.getstate()[1]) + [random.getstate()[0]],
        "python_gauss": random.getstate()[2],
    }


def set_rng_states(states: dict) -> None:
    """Restore the states saved by :func:`rng_states`."""
    torch.random.set_rng_state(states["torch"])
    if states.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, key, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    py = states["python"]
    random.setstate((int(py[-1]), tuple(int(v) for v in py[:-1]), states["python_gauss"]))


def fingerprint(model_name: str, recipe: TrainRecipe, dataset: dict) -> str:
    """Hash of what decides the weights: the model, the recipe (not its bookkeeping) and the data."""
    fields = recipe.to_dict()
    for k in ("val_every", "checkpoint_every"):
        fields.pop(k)
    blob = json.dumps({"model": model_name, "recipe": fields, "data": dataset}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def save(obj: dict, path: Path) -> None:
    """``torch.save`` to ``path`` atomically, with bytes that do not depend on the file name.

    ``torch.save`` to a path names the zip archive's top folder after the file (here a random
    temporary name); saving to a buffer gives the fixed name ``archive``, so the same object
    always gives the same bytes.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def read_checkpoint(path: Path, *, fmt: str, fingerprint: str) -> dict:
    """Read a training checkpoint (``weights_only`` unpickling: tensors and plain containers only).

    Raises ``ValueError`` (one line naming the file) when it cannot be read, is not a checkpoint
    of ``fmt`` or belongs to another run (another ``fingerprint``), or lacks a field.
    """
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is not a readable training checkpoint ({type(e).__name__}: {str(e)[:200]}); "
                         "delete it or pass resume=False (--no-resume) to start over") from None
    if not isinstance(ck, dict) or ck.get("format") != fmt:
        raise ValueError(f"{path} is not an atomdata training checkpoint ({fmt}); delete it or pass resume=False "
                         "(--no-resume) to start over")
    if ck.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{path} is not a checkpoint of this run (model, recipe and data differ). "
            "Pass resume=False (--no-resume) to start over, or another checkpoint_dir.")
    missing = [k for k in ("state_dict", "optimizer", "step", "history", "elapsed_s", "rng") if k not in ck]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}; delete it or pass resume=False (--no-resume)")
    return ck


def resolve_device(device):
    """``device`` as a ``torch.device`` (default CUDA when available); CUDA asked for but absent is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was requested but CUDA is not available; use device='cpu'")
    return dev
