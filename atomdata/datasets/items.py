"""Turning one image and its columns into a training item: transform, normalise, draw the label, to tensors.

The item keys are listed in :mod:`atomdata.datasets.atoms`. Positions are (x, y) in pixels
(x = column index, y = row index, origin at the centre of the top-left pixel).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Optional

import numpy as np
import torch

from atomdata.datasets.labels import LABELS, render_label
from atomdata.datasets.transforms import apply_transform

__all__ = ["NORMALIZATIONS", "LABEL_OPTIONS", "ItemBuilder", "normalise", "species_names_of", "subset_indices",
           "unknown_choice"]

#: Image normalisation rules (applied after the transforms).
NORMALIZATIONS = ("minmax", "zscore", "none")

#: Options each label kind takes.
LABEL_OPTIONS = {
    "heatmap": ("sigma_px", "sigma_A", "truncate"),
    "disk": ("radius_A", "radius_px"),
    "species": ("draw", "radius_A", "radius_px", "sigma_px", "sigma_A", "truncate"),
    "coords": (),
    "none": (),
}


def unknown_choice(kind: str, value, valid: Iterable[str]) -> ValueError:
    """The error for a value that is not one of ``valid`` (the message lists them)."""
    return ValueError(f"Unknown {kind} {value!r}. Valid {kind}s: {', '.join(map(str, valid))}.")


def normalise(img: np.ndarray, rule: str) -> np.ndarray:
    img = img.astype(np.float32, copy=False)
    if rule == "minmax":
        lo, hi = float(img.min()), float(img.max())
        if not hi > lo:
            return np.zeros_like(img)
        out = np.subtract(img, np.float32(lo))
        out *= np.float32(1.0 / (hi - lo))
        return out
    if rule == "zscore":
        mu, sd = float(img.mean()), float(img.std())
        return (img - mu) / sd if sd > 0 else np.zeros_like(img)
    return img


class ItemBuilder:
    """Turns one image + its columns into an item: transform -> normalise -> label -> tensors (picklable)."""

    def __init__(self, *, label: Optional[str], transform, normalize: str, seed: Optional[int],
                 species_names: Sequence[str], only_targets: Optional[bool], label_kwargs: dict):
        label = "none" if label is None else label
        if label not in LABEL_OPTIONS:
            raise unknown_choice("label", label, LABELS)
        if normalize not in NORMALIZATIONS:
            raise unknown_choice("normalize", normalize, NORMALIZATIONS)
        bad = sorted(set(label_kwargs) - set(LABEL_OPTIONS[label]))
        if bad:
            raise TypeError(
                f"option(s) {bad} do not apply to label {label!r}; valid options: "
                f"{', '.join(LABEL_OPTIONS[label] + ('only_targets',))}"
            )
        self.label = label
        self.transform = transform
        self.normalize = normalize
        self.seed = seed
        self.epoch = 0
        self.species_names = list(species_names)
        self._codes = {s: k for k, s in enumerate(self.species_names)}
        self.only_targets = (label != "species") if only_targets is None else bool(only_targets)
        self.label_kwargs = dict(label_kwargs)
        # fail now, not in a worker: draw the label once for an empty image
        render_label(self.label, xy=np.zeros((0, 2)), shape=(1, 1), species=np.zeros(0, np.int64),
                               species_names=self.species_names, pixel_size_A=1.0, **self.label_kwargs)

    def describe_label(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.label_kwargs.items())
        return f"{self.label}({opts})" if opts else self.label

    def rng(self, key: Sequence[int]) -> Optional[np.random.Generator]:
        if self.transform is None:
            return None
        if self.seed is None:  # torch's global RNG: seeded per worker and per epoch by the DataLoader
            base = int(torch.randint(0, 2**62, (1,)).item())
            return np.random.default_rng([base, *key])
        return np.random.default_rng([int(self.seed), int(self.epoch), *key])

    def codes(self, names: np.ndarray) -> np.ndarray:
        try:
            return np.fromiter((self._codes[s] for s in names.tolist()), dtype=np.int64, count=len(names))
        except KeyError as e:
            raise ValueError(
                f"species {e.args[0]!r} is not in species_names {self.species_names}; pass species_names "
                "listing every species of the data"
            ) from None

    def build(self, reader, j: int, *, rng_key: Sequence[int]) -> dict:
        cols = reader.columns(j)
        sample = {
            "image": np.asarray(reader.image(j), dtype=np.float32),
            "xy": cols.xy,
            "species": self.codes(cols.species),
            "target_mask": cols.target,
            "pixel_size_A": float(reader.pixel_sizes_A[j]),
            "image_id": reader.image_ids[j],
            "subset": str(reader.subsets[j]),
            "index": int(j),
        }
        sample = apply_transform(self.transform, sample, self.rng(rng_key))
        return self.finish(sample)

    def finish(self, sample: dict) -> dict:
        img = sample["image"]
        if isinstance(img, torch.Tensor):
            img = img.numpy()
        img = np.asarray(img)
        if img.ndim == 3 and img.shape[0] == 1:
            img = img[0]
        xy = np.asarray(sample["xy"], dtype=np.float64).reshape(-1, 2)
        mask = np.asarray(sample["target_mask"], dtype=bool)
        species = np.asarray(sample["species"], dtype=np.int64)
        sel = mask if self.only_targets else slice(None)
        lab = render_label(self.label, xy=xy[sel], shape=img.shape, species=species[sel],
                                     species_names=self.species_names, pixel_size_A=sample["pixel_size_A"],
                                     **self.label_kwargs)
        if lab.ndim == 2 and self.label in ("heatmap", "disk"):
            lab = lab[None]
        out = dict(sample)
        out.update(
            image=torch.from_numpy(np.ascontiguousarray(normalise(img, self.normalize))[None]),
            label=torch.from_numpy(np.ascontiguousarray(lab)),
            xy=torch.from_numpy(xy.astype(np.float32)),
            species=torch.from_numpy(species),
            target_mask=torch.from_numpy(mask),
            pixel_size_A=float(sample["pixel_size_A"]),
        )
        return out


def species_names_of(readers: Sequence, given: Optional[Sequence[str]]) -> list[str]:
    if given is not None:
        return [str(s) for s in given]
    names: set[str] = set()
    for r in readers:
        found = getattr(r, "species_names", None)
        if found is None:  # a SplitLike without the attribute: scan its labels once
            found = {s for i in range(len(r)) for s in r.columns(i).species.tolist()}
        names.update(found)
    return sorted(names)


def subset_indices(reader, subset) -> np.ndarray:
    n = len(reader)
    if subset is None:
        return np.arange(n, dtype=np.int64)
    wanted = [subset] if isinstance(subset, str) else list(subset)
    have = np.asarray(reader.subsets, dtype=object)
    valid = sorted(set(have.tolist()))
    for s in wanted:
        if s not in valid:
            raise unknown_choice("subset", s, valid)
    return np.flatnonzero(np.isin(have, wanted)).astype(np.int64)


