"""PyTorch datasets over benchmark splits: map-style, streaming, and a collate function.

Item (a dict; the same for :class:`AtomColumnDataset` and :class:`IterableAtomColumnDataset`)
-------------------------------------------------------------------------------------------
``image``
    ``torch.float32`` (1, H, W), indexed ``image[0, y, x]``. Normalised *after*
    the transforms by the dataset's ``normalize`` rule, by default per-image
    min-max to [0, 1]: ``(I - min) / (max - min)`` (a constant image becomes 0).
``target``
    Drawn from the (transformed) labels by :mod:`atomdata.targets`:
    ``"heatmap"`` (1, H, W) float32 in [0, 1]; ``"disk"`` (1, H, W) float32 0/1;
    ``"species"`` (C, H, W) float32, channel c = ``dataset.species_names[c]``;
    ``"coords"`` (M, 2) float32 (x, y) [px]; ``"none"`` an empty (0,) tensor.
    By default heatmap, disk and coords use only the scoring-target columns
    (``target_mask``) and species uses all columns (option ``only_targets``).
``xy``
    ``torch.float32`` (N, 2): every labelled column (x, y) [px] after the
    transforms; x = column index, y = row index, origin at the centre of the
    top-left pixel.
``species``
    ``torch.int64`` (N,): codes into ``dataset.species_names``.
``target_mask``
    ``torch.bool`` (N,): True for the columns that are scored (HAADF-visible).
``pixel_size_A``
    float: pixel size [Å/px] after the transforms (:class:`~atomdata.transforms.Rescale` changes it).
``image_id``, ``subset``
    str: the record's id and subset.
``index``
    int: position of the image in its split file (``split.record(index)`` is its full record).

Use :func:`collate_columns` as the DataLoader's ``collate_fn``: column counts vary between images.

Files are opened lazily, once per process (see :class:`~atomdata.storage.SplitFile`), so the
datasets are picklable and safe with ``num_workers > 0`` under the ``fork`` and ``spawn`` start
methods. Nothing reads a whole split into memory; only the (small) label arrays are cached.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from . import targets as _targets
from .paths import DEFAULT_DATASET, DEFAULT_VERSION, cache_dir
from .storage import MANIFEST_NAME, SplitFile, read_manifest
from .sampleplot import plot_sample
from .transforms import apply_transform

__all__ = [
    "AtomColumnDataset",
    "IterableAtomColumnDataset",
    "DatasetNotFoundError",
    "open_split_source",
    "collate_columns",
    "plot_sample",
    "NORMALIZATIONS",
]

#: Image normalisation rules (applied after the transforms).
NORMALIZATIONS = ("minmax", "zscore", "none")

_TARGET_OPTIONS = {
    "heatmap": ("sigma_px", "sigma_A", "truncate"),
    "disk": ("radius_A", "radius_px"),
    "species": ("draw", "radius_A", "radius_px", "sigma_px", "sigma_A", "truncate"),
    "coords": (),
    "none": (),
}


class DatasetNotFoundError(FileNotFoundError):
    """The requested split is not on disk (and was not downloaded)."""


# -- locating a split ----------------------------------------------------------------------------
def _is_split_like(obj) -> bool:
    return not isinstance(obj, (str, os.PathLike)) and all(
        hasattr(obj, a) for a in ("__len__", "image", "columns", "image_ids", "subsets", "pixel_sizes_A")
    )


def _valid(kind: str, value, valid: Iterable[str]) -> ValueError:
    return ValueError(f"Unknown {kind} {value!r}. Valid {kind}s: {', '.join(map(str, valid))}.")


def _split_file_in(folder: Path, split: str) -> Optional[Path]:
    """The split file of ``split`` in a dataset folder, None if the folder does not hold the dataset."""
    if (folder / MANIFEST_NAME).is_file():
        manifest = read_manifest(folder)
        if split not in manifest.splits:
            raise _valid("split", split, sorted(manifest.splits))
        return folder / manifest.splits[split].file
    files = sorted(folder.glob("*.h5"))
    if files:
        if (folder / f"{split}.h5") in files:
            return folder / f"{split}.h5"
        raise _valid("split", split, [f.stem for f in files])
    return None


def _locate(root: Path, split: str, name: str, version: str) -> Optional[Path]:
    """Split file for ``root`` given as a split file, a dataset folder or a cache root."""
    if root.is_file():
        return root
    if not root.is_dir():
        return None
    found = _split_file_in(root, split)
    if found is None and (root / name / version).is_dir():
        found = _split_file_in(root / name / version, split)
    return found


def _download(root: Optional[Path], name: str, version: str) -> Path:
    try:
        from .loaders import load
    except ImportError:
        raise RuntimeError(
            "download=True needs atomdata.loaders, which this installation does not have; "
            "build the benchmark locally with `atomdata build` and pass its folder instead"
        ) from None
    return Path(load(name, version, cache_dir=root))


def open_split_source(root_or_split, split: str = "train", *, name: str = DEFAULT_DATASET,
                      version: Optional[str] = None, download: bool = False):
    """Resolve ``root_or_split`` to a split reader, in torchvision's order: download -> check -> load.

    ``root_or_split`` may be a ``SplitLike`` object (returned as is), a split file,
    a dataset folder (``manifest.json`` + ``<split>.h5``), a cache root holding
    ``<name>/<version>/``, or None (the atomdata cache, see :func:`atomdata.paths.cache_dir`).
    Returns ``(reader, root)``.
    """
    if _is_split_like(root_or_split):
        return root_or_split, getattr(root_or_split, "path", None)
    version = version or DEFAULT_VERSION
    root = Path(root_or_split).expanduser() if root_or_split is not None else cache_dir()
    if download and _locate(root, split, name, version) is None:
        root = _download(root if root_or_split is not None else None, name, version)
    path = _locate(root, split, name, version)
    if path is None or not path.is_file():
        raise DatasetNotFoundError(
            f"Dataset not found in root='{root}' for split {split!r}. "
            "Run `atomdata build` or pass download=True."
        )
    return SplitFile(path), path


# -- building one item -------------------------------------------------------------------------
def _normalise(img: np.ndarray, rule: str) -> np.ndarray:
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


class _ItemBuilder:
    """Turns one image + labels into an item: transform -> normalise -> target -> tensors (picklable)."""

    def __init__(self, *, target: Optional[str], transform, normalize: str, seed: Optional[int],
                 species_names: Sequence[str], only_targets: Optional[bool], target_kwargs: dict):
        target = "none" if target is None else target
        if target not in _TARGET_OPTIONS:
            raise _valid("target", target, _targets.TARGETS)
        if normalize not in NORMALIZATIONS:
            raise _valid("normalize", normalize, NORMALIZATIONS)
        bad = sorted(set(target_kwargs) - set(_TARGET_OPTIONS[target]))
        if bad:
            raise TypeError(
                f"option(s) {bad} do not apply to target {target!r}; valid options: "
                f"{', '.join(_TARGET_OPTIONS[target] + ('only_targets',))}"
            )
        self.target = target
        self.transform = transform
        self.normalize = normalize
        self.seed = seed
        self.epoch = 0
        self.species_names = list(species_names)
        self._codes = {s: k for k, s in enumerate(self.species_names)}
        self.only_targets = (target != "species") if only_targets is None else bool(only_targets)
        self.target_kwargs = dict(target_kwargs)
        # fail now, not in a worker: draw the target once for an empty image
        _targets.render_target(self.target, xy=np.zeros((0, 2)), shape=(1, 1), species=np.zeros(0, np.int64),
                               species_names=self.species_names, pixel_size_A=1.0, **self.target_kwargs)

    def describe_target(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.target_kwargs.items())
        return f"{self.target}({opts})" if opts else self.target

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
        tgt = _targets.render_target(self.target, xy=xy[sel], shape=img.shape, species=species[sel],
                                     species_names=self.species_names, pixel_size_A=sample["pixel_size_A"],
                                     **self.target_kwargs)
        if tgt.ndim == 2 and self.target in ("heatmap", "disk"):
            tgt = tgt[None]
        out = dict(sample)
        out.update(
            image=torch.from_numpy(np.ascontiguousarray(_normalise(img, self.normalize))[None]),
            target=torch.from_numpy(np.ascontiguousarray(tgt)),
            xy=torch.from_numpy(xy.astype(np.float32)),
            species=torch.from_numpy(species),
            target_mask=torch.from_numpy(mask),
            pixel_size_A=float(sample["pixel_size_A"]),
        )
        return out


def _species_names(readers: Sequence, given: Optional[Sequence[str]]) -> list[str]:
    if given is not None:
        return [str(s) for s in given]
    names: set[str] = set()
    for r in readers:
        found = getattr(r, "species_names", None)
        if found is None:  # a SplitLike without the attribute: scan its labels once
            found = {s for i in range(len(r)) for s in r.columns(i).species.tolist()}
        names.update(found)
    return sorted(names)


def _subset_indices(reader, subset) -> np.ndarray:
    n = len(reader)
    if subset is None:
        return np.arange(n, dtype=np.int64)
    wanted = [subset] if isinstance(subset, str) else list(subset)
    have = np.asarray(reader.subsets, dtype=object)
    valid = sorted(set(have.tolist()))
    for s in wanted:
        if s not in valid:
            raise _valid("subset", s, valid)
    return np.flatnonzero(np.isin(have, wanted)).astype(np.int64)


# -- map-style dataset -----------------------------------------------------------------------------
class AtomColumnDataset(Dataset):
    """Map-style PyTorch dataset over one benchmark split; items are dicts (see module docstring).

    Parameters
    ----------
    root_or_split : path, SplitLike or None
        A dataset folder (``manifest.json`` + ``<split>.h5``), a cache root holding
        ``<name>/<version>/``, a split file (then ``split`` is ignored), any
        :class:`~atomdata.storage.SplitLike` object (e.g. the original Wei
        dataset reader), or None for the atomdata cache (``ATOMDATA_CACHE``).
    split : str
        Split name: ``train``, ``val``, ``test`` or ``generality`` for the benchmark.
    subset : str or sequence of str, optional
        Keep only images of these subsets (e.g. ``"sto_sim_resolution_pm"``).
    target : {"heatmap", "disk", "species", "coords", "none"}
        Training target drawn on the fly from the labels (:mod:`atomdata.targets`).
    transform : callable, optional
        Applied to the numpy sample before normalisation and target drawing
        (:mod:`atomdata.transforms`; a plain ``f(sample) -> sample`` works too).
    download : bool
        Fetch the dataset with ``atomdata.loaders.load`` when it is not found.
    name, version : str
        Dataset identity looked up under a cache root and passed to the download.
    seed : int, optional
        Seed of the augmentations: item i of epoch e uses ``default_rng([seed, e, i])``,
        so items are identical whatever the number of workers. None draws from
        torch's global generator (seeded per worker and epoch by the DataLoader).
    normalize : {"minmax", "zscore", "none"}
        Image normalisation after the transforms (default per-image min-max to [0, 1]).
    species_names : sequence of str, optional
        Species code order (and ``species`` channel order); default the split's
        species sorted by name. Pass the training set's list to a test set.
    only_targets : bool, optional
        Draw the target from scoring-target columns only (default: True for
        heatmap, disk and coords, False for species).
    **target_kwargs
        Options of the target: ``sigma_px``/``sigma_A``/``truncate`` (heatmap),
        ``radius_A``/``radius_px`` (disk), ``draw`` + those sizes (species).

    Raises
    ------
    DatasetNotFoundError
        When the split is not on disk (and ``download`` is False).
    ValueError
        For an unknown split, subset, target or normalisation (the message lists the valid ones).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from atomdata.schema import *
    >>> from atomdata.storage import write_split
    >>> rec = ImageRecord(image_id="img-0", split="train", subset="demo", shape=(16, 16), dtype="float32",
    ...     lattice=Lattice(material="Si", formula="Si", zone_axis="[110]"),
    ...     quality=QualityMetrics(pixel_size_A=0.2), provenance=Provenance(kind="simulated", simulator="demo"),
    ...     columns=ColumnSet.from_arrays([[3.0, 4.5]], ["Si"]))
    >>> path = write_split(os.path.join(tempfile.mkdtemp(), "train.h5"),
    ...                    [(rec, np.random.default_rng(0).random((16, 16), dtype=np.float32))], split="train")
    >>> ds = AtomColumnDataset(path, target="heatmap", sigma_A=0.4)
    >>> item = ds[0]
    >>> item["image"].shape, item["target"].shape, item["xy"].tolist(), item["pixel_size_A"]
    (torch.Size([1, 16, 16]), torch.Size([1, 16, 16]), [[3.0, 4.5]], 0.2)
    """

    def __init__(self, root_or_split=None, split: str = "train", subset=None, target: Optional[str] = "heatmap",
                 transform: Optional[Callable] = None, download: bool = False, *, name: str = DEFAULT_DATASET,
                 version: Optional[str] = None, seed: Optional[int] = None, normalize: str = "minmax",
                 species_names: Optional[Sequence[str]] = None, only_targets: Optional[bool] = None,
                 **target_kwargs):
        self.reader, self.root = open_split_source(root_or_split, split, name=name, version=version,
                                                   download=download)
        self.split = getattr(self.reader, "split", split) if self.root is not None else split
        self.subset = subset
        self.indices = _subset_indices(self.reader, subset)
        self.species_names = _species_names([self.reader], species_names)
        self._builder = _ItemBuilder(target=target, transform=transform, normalize=normalize, seed=seed,
                                     species_names=self.species_names, only_targets=only_targets,
                                     target_kwargs=target_kwargs)

    # configuration shortcuts
    @property
    def target(self) -> str:
        return self._builder.target

    @property
    def transform(self):
        return self._builder.transform

    @property
    def version(self) -> Optional[str]:
        """``"<dataset name> <version>"`` of the split, if the reader knows it."""
        name, ver = getattr(self.reader, "dataset_name", None), getattr(self.reader, "dataset_version", None)
        return f"{name} {ver}" if ver is not None else None

    def set_epoch(self, epoch: int) -> None:
        """Use the augmentations of ``epoch`` (only matters with a ``seed``); call before each epoch."""
        self._builder.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        n = len(self.indices)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} images")
        j = int(self.indices[i])
        return self._builder.build(self.reader, j, rng_key=(0, j))

    def record(self, i: int):
        """The full :class:`~atomdata.schema.ImageRecord` of item ``i`` (untransformed labels)."""
        return self.reader.record(int(self.indices[i]))

    def plot(self, sample: dict, **kwargs):
        """Plot an item; see :func:`plot_sample`."""
        return plot_sample(sample, species_names=self.species_names, **kwargs)

    def __repr__(self) -> str:
        lines = [
            f"Number of datapoints: {len(self)}",
            f"Root location: {self.root}",
            f"Split: {self.split}",
            f"Version: {self.version}",
        ]
        if self.subset is not None:
            lines.append(f"Subset: {self.subset}")
        lines.append(f"Target: {self._builder.describe_target()}")
        if self.transform is not None:
            lines.append("Transform: " + repr(self.transform).replace("\n", "\n    "))
        return f"{type(self).__name__}\n    " + "\n    ".join(lines)


# -- streaming dataset ------------------------------------------------------------------------------
class IterableAtomColumnDataset(IterableDataset):
    """Streaming dataset: reads shard by shard, block by block; each DataLoader worker reads its own blocks.

    The work is cut into blocks of ``block_size`` consecutive images of one shard
    (a shard is one split file or SplitLike object); block k goes to worker
    ``k % num_workers``. A worker opens a shard when it reaches its first block
    and closes it when it moves to the next shard, so memory stays bounded by one
    open file and one image at a time. Items are the same dicts as
    :class:`AtomColumnDataset`'s and do not depend on the number of workers (only
    their order does).

    Parameters
    ----------
    shards : path, SplitLike, or a sequence of them
        Split files, dataset folders (with ``split``), or reader objects.
    split : str
        Split to read from dataset folders.
    shuffle : bool
        Shuffle the block order and the images within each block (seeded by
        ``seed`` and the epoch; with ``seed=None`` by torch's global generator).
    block_size : int
        Images per block [images].
    subset, target, transform, seed, normalize, species_names, only_targets, **target_kwargs
        As for :class:`AtomColumnDataset`.
    """

    def __init__(self, shards, split: str = "train", *, subset=None, target: Optional[str] = "heatmap",
                 transform: Optional[Callable] = None, shuffle: bool = False, seed: Optional[int] = None,
                 block_size: int = 256, normalize: str = "minmax", species_names: Optional[Sequence[str]] = None,
                 only_targets: Optional[bool] = None, **target_kwargs):
        if isinstance(shards, (str, os.PathLike)) or _is_split_like(shards):
            shards = [shards]
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1 image, got {block_size}")
        self.split = split
        self.subset = subset
        self.shuffle = shuffle
        self.block_size = int(block_size)
        self._shards: list = []
        readers = []
        for s in shards:
            reader, path = open_split_source(s, split)
            readers.append(reader)
            # keep paths, not open files: each worker opens the shards it reads
            self._shards.append(path if isinstance(reader, SplitFile) else reader)
        if not readers:
            raise ValueError("shards is empty: pass at least one split file, dataset folder or reader")
        self.species_names = _species_names(readers, species_names)
        if subset is None:
            self._sizes = [len(r) for r in readers]
        else:
            wanted = [subset] if isinstance(subset, str) else list(subset)
            have = [np.asarray(r.subsets, dtype=object) for r in readers]
            valid = sorted(set().union(*(h.tolist() for h in have)))
            for w in wanted:
                if w not in valid:
                    raise _valid("subset", w, valid)
            self._sizes = [int(np.isin(h, wanted).sum()) for h in have]
        for r in readers:
            if isinstance(r, SplitFile):
                r.close()
        self._builder = _ItemBuilder(target=target, transform=transform, normalize=normalize, seed=seed,
                                     species_names=self.species_names, only_targets=only_targets,
                                     target_kwargs=target_kwargs)
        self._totals = [len(r) for r in readers]

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffle order and augmentations of ``epoch`` (with a ``seed``); call before each epoch."""
        self._builder.epoch = int(epoch)

    def __len__(self) -> int:
        return int(sum(self._sizes))

    def _blocks(self) -> list[tuple[int, int, int]]:
        return [(s, a, min(a + self.block_size, n)) for s, n in enumerate(self._totals)
                for a in range(0, n, self.block_size)]

    def _order_seed(self, info) -> list[int]:
        """Seed of the shuffle order, the same in every worker of one epoch."""
        if self._builder.seed is not None:
            return [int(self._builder.seed), int(self._builder.epoch), 2**31]
        if info is not None:  # the DataLoader seeds worker w with base_seed + w
            return [int(info.seed - info.id) % 2**63]
        return [int(torch.randint(0, 2**62, (1,)).item())]

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        blocks = self._blocks()
        order_seed = self._order_seed(info) if self.shuffle else None
        if order_seed is not None:
            blocks = [blocks[k] for k in np.random.default_rng(order_seed).permutation(len(blocks))]
        wanted = None if self.subset is None else ([self.subset] if isinstance(self.subset, str) else list(self.subset))
        current, reader, keep = None, None, None
        try:
            for s, a, b in blocks[wid::nw]:
                if s != current:
                    if isinstance(reader, SplitFile):
                        reader.close()
                    src = self._shards[s]
                    reader = SplitFile(src) if isinstance(src, Path) else src
                    keep = None if wanted is None else np.isin(np.asarray(reader.subsets, dtype=object), wanted)
                    current = s
                idx = np.arange(a, b)
                if keep is not None:
                    idx = idx[keep[a:b]]
                if order_seed is not None:
                    idx = np.random.default_rng([*order_seed, s, a]).permutation(idx)
                for j in idx:
                    yield self._builder.build(reader, int(j), rng_key=(s, int(j)))
        finally:
            if isinstance(reader, SplitFile):
                reader.close()

    def __repr__(self) -> str:
        lines = [
            f"Number of datapoints: {len(self)}",
            f"Shards: {len(self._shards)} ({sum(self._totals)} images, blocks of {self.block_size})",
            f"Split: {self.split}",
        ]
        if self.subset is not None:
            lines.append(f"Subset: {self.subset}")
        lines.append(f"Target: {self._builder.describe_target()}")
        lines.append(f"Shuffle: {self.shuffle}")
        if self._builder.transform is not None:
            lines.append("Transform: " + repr(self._builder.transform).replace("\n", "\n    "))
        return f"{type(self).__name__}\n    " + "\n    ".join(lines)


# -- batching ---------------------------------------------------------------------------------------
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


def collate_columns(batch: Sequence[dict]) -> dict:
    """Collate items with different numbers of columns into one batch dict.

    ``image`` -> (B, 1, H, W) (all images of a batch must have one shape: crop them);
    ``target`` -> stacked (B, ...) for maps, or padded (B, M_max, 2) with
    ``target_valid`` (B, M_max) bool for the ``"coords"`` target;
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
    out["image"] = torch.stack([b["image"] for b in batch])
    if "xy" in keys:
        out["xy"], out["column_mask"] = _pad([b["xy"] for b in batch], 0.0)
        out["n_columns"] = out["column_mask"].sum(dim=1)
    if "species" in keys:
        out["species"], _ = _pad([b["species"] for b in batch], -1)
    if "target_mask" in keys:
        out["target_mask"], _ = _pad([b["target_mask"] for b in batch], False)
    if "target" in keys:
        tg = [b["target"] for b in batch]
        if tg[0].ndim == 2:  # coordinate lists (M, 2)
            out["target"], out["target_valid"] = _pad(tg, 0.0)
        elif len({tuple(t.shape) for t in tg}) == 1:
            out["target"] = torch.stack(tg)
        else:
            raise ValueError(f"targets in a batch have different shapes {sorted({tuple(t.shape) for t in tg})}")
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
