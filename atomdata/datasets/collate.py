"""Batching items whose column counts differ: :func:`collate_columns` (use it as the DataLoader's ``collate_fn``)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["collate_columns"]


def _pad(tensors: Sequence[torch.Tensor], fill) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (N_i, ...) tensors into (B, N_max, ...) padded with ``fill`` and a (B, N_max) validity mask."""
    n_max = max((t.shape[0] for t in tensors), default=0)
    first = tensors[0]
    out = torch.full((len(tensors), n_max, *first.shape[1:]), fill, dtype=first.dtype)
    valid = torch.zeros((len(tensors), n_max), dtype=torch.bool)
    for b, t in enumerate(tensors):
        out[b, : t.shape[0]] = t
        valid[b, : t.shape[0]] = True
    return out, valid


def _stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``torch.stack``; inside a DataLoader worker, straight into shared memory (as torch's default_collate).

    The batch then crosses to the main process without being copied into shared memory again.
    """
    out = None
    if torch.utils.data.get_worker_info() is not None:
        first = tensors[0]
        storage = first.untyped_storage()._new_shared(sum(t.numel() for t in tensors) * first.element_size())
        out = first.new(storage).view(-1)[:0].resize_(len(tensors), *first.shape)
    return torch.stack(list(tensors), 0, out=out)


def collate_columns(batch: Sequence[dict]) -> dict:
    """Collate items with different numbers of columns into one batch dict.

    ``image`` -> (B, 1, H, W) (all images of a batch must have one shape: crop them);
    ``label`` -> stacked (B, ...) for maps, or padded (B, M_max, 2) with
    ``label_valid`` (B, M_max) bool for the ``"coords"`` label;
    ``xy`` -> (B, N_max, 2) float32 (x, y) [px] padded with 0, ``column_mask``
    (B, N_max) bool (True for real columns), ``species`` (B, N_max) int64 padded
    with -1, ``target_mask`` (B, N_max) bool padded with False, ``n_columns`` (B,) int64;
    ``pixel_size_A`` -> (B,) float64 [Å/px]; ``index`` -> (B,) int64;
    strings (``image_id``, ``subset``) -> lists. Other keys are stacked when they are
    equal-shape tensors or numbers, and listed otherwise.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    keys = batch[0].keys()
    out: dict[str, Any] = {}
    shapes = {tuple(b["image"].shape) for b in batch}
    if len(shapes) > 1:
        raise ValueError(
            f"images in a batch have different shapes {sorted(shapes)}; add a RandomCrop/CenterCrop "
            "transform to the dataset or use batch_size=1"
        )
    out["image"] = _stack([b["image"] for b in batch])
    if "xy" in keys:
        out["xy"], out["column_mask"] = _pad([b["xy"] for b in batch], 0.0)
        out["n_columns"] = out["column_mask"].sum(dim=1)
    if "species" in keys:
        out["species"], _ = _pad([b["species"] for b in batch], -1)
    if "target_mask" in keys:
        out["target_mask"], _ = _pad([b["target_mask"] for b in batch], False)
    if "label" in keys:
        lab = [b["label"] for b in batch]
        if lab[0].ndim == 2:  # coordinate lists (M, 2)
            out["label"], out["label_valid"] = _pad(lab, 0.0)
        elif len({tuple(t.shape) for t in lab}) == 1:
            out["label"] = _stack(lab)
        else:
            raise ValueError(f"labels in a batch have different shapes {sorted({tuple(t.shape) for t in lab})}")
    if "pixel_size_A" in keys:
        out["pixel_size_A"] = torch.tensor([float(b["pixel_size_A"]) for b in batch], dtype=torch.float64)
    if "index" in keys:
        out["index"] = torch.tensor([int(b["index"]) for b in batch], dtype=torch.int64)
    for k in keys:
        if k in out:
            continue
        vals = [b[k] for b in batch]
        if all(isinstance(v, torch.Tensor) for v in vals) and len({tuple(v.shape) for v in vals}) == 1:
            out[k] = torch.stack(vals)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[k] = torch.tensor(vals)
        else:
            out[k] = vals
    return out
