"""PyTorch datasets over atom-column splits: the map-style :class:`AtomColumnDataset`.

Item (a dict; the same for :class:`AtomColumnDataset` and :class:`~atomdata.datasets.streaming.IterableAtomColumnDataset`)
----------------------------------------------------------------------------------------------------------------------
``image``
    ``torch.float32`` (1, H, W), indexed ``image[0, y, x]``. Normalised *after*
    the transforms by the dataset's ``normalize`` rule, by default per-image
    min-max to [0, 1]: ``(I - min) / (max - min)`` (a constant image becomes 0).
``label``
    The training label, drawn from the (transformed) columns by :mod:`atomdata.datasets.labels`:
    ``"heatmap"`` (1, H, W) float32 in [0, 1]; ``"disk"`` (1, H, W) float32 0/1;
    ``"species"`` (C, H, W) float32, channel c = ``dataset.species_names[c]``;
    ``"coords"`` (M, 2) float32 (x, y) [px]; ``"none"`` an empty (0,) tensor.
    By default heatmap, disk and coords use only the target (scored) columns
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
    float: pixel size [Å/px] after the transforms (:class:`~atomdata.datasets.transforms.Rescale` changes it).
``image_id``, ``subset``
    str: the record's id and subset.
``index``
    int: position of the image in its split file (``split.record(index)`` is its full record).

Use :func:`~atomdata.datasets.collate.collate_columns` as the DataLoader's ``collate_fn``: column counts vary between images.

Files are opened lazily, once per process (see :class:`~atomdata.storage.SplitFile`), so the
datasets are picklable and safe with ``num_workers > 0`` under the ``fork`` and ``spawn`` start
methods. Nothing reads a whole split into memory; only the (small) label arrays are cached.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Optional

from torch.utils.data import Dataset

from atomdata.datasets.items import ItemBuilder, species_names_of, subset_indices
from atomdata.datasets.plot import plot_sample
from atomdata.sources import open_split

__all__ = ["AtomColumnDataset"]


class AtomColumnDataset(Dataset):
    """Map-style PyTorch dataset over one benchmark split; items are dicts (see module docstring).

    Parameters
    ----------
    root_or_split : path, str, SplitLike or None
        Anything :func:`atomdata.sources.open_split` resolves: a dataset folder
        (``manifest.json`` + ``<split>.h5``), a cache root holding ``<name>/<version>/``,
        a split file (then ``split`` is ignored), any :class:`~atomdata.storage.SplitLike`
        object (e.g. the original Wei dataset reader), a registered dataset name, or
        None for atomdata's benchmark in the cache (``ATOMDATA_CACHE``).
    split : str
        Split name: ``train``, ``val``, ``test`` or ``generality`` for the benchmark.
    subset : str or sequence of str, optional
        Keep only images of these subsets (e.g. ``"sto_sim_resolution_pm"``).
    label : {"heatmap", "disk", "species", "coords", "none"}
        Training label drawn on the fly from the columns (:mod:`atomdata.datasets.labels`).
    transform : callable, optional
        Applied to the numpy sample before normalisation and label drawing
        (:mod:`atomdata.datasets.transforms`; a plain ``f(sample) -> sample`` works too).
    download : bool
        Fetch the dataset with :func:`atomdata.sources.load` when it is not found.
    name, version : str, optional
        Registered dataset identity looked up in the cache and passed to the download
        (default atomdata's benchmark, this release's version).
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
        Draw the label from target (scored) columns only (default: True for
        heatmap, disk and coords, False for species).
    **label_kwargs
        Options of the label: ``sigma_px``/``sigma_A``/``truncate`` (heatmap),
        ``radius_A``/``radius_px`` (disk), ``draw`` + those sizes (species).

    Raises
    ------
    DatasetNotFoundError
        When the split is not on disk (and ``download`` is False).
    ValueError
        For an unknown split, subset, label or normalisation (the message lists the valid ones).

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
    >>> ds = AtomColumnDataset(path, label="heatmap", sigma_A=0.4)
    >>> item = ds[0]
    >>> item["image"].shape, item["label"].shape, item["xy"].tolist(), item["pixel_size_A"]
    (torch.Size([1, 16, 16]), torch.Size([1, 16, 16]), [[3.0, 4.5]], 0.2)
    """

    def __init__(self, root_or_split=None, split: str = "train", *, subset=None, label: Optional[str] = "heatmap",
                 transform: Optional[Callable] = None, download: bool = False, name: Optional[str] = None,
                 version: Optional[str] = None, seed: Optional[int] = None, normalize: str = "minmax",
                 species_names: Optional[Sequence[str]] = None, only_targets: Optional[bool] = None,
                 **label_kwargs):
        self.reader = open_split(root_or_split, split, name=name, version=version, download=download)
        self.root = getattr(self.reader, "path", None)
        self.split = getattr(self.reader, "split", split)
        self.subset = subset
        self.indices = subset_indices(self.reader, subset)
        self.species_names = species_names_of([self.reader], species_names)
        self._builder = ItemBuilder(label=label, transform=transform, normalize=normalize, seed=seed,
                                     species_names=self.species_names, only_targets=only_targets,
                                     label_kwargs=label_kwargs)

    # configuration shortcuts
    @property
    def label(self) -> str:
        """The label kind drawn for every item (``heatmap``, ``disk``, ``species``, ``coords`` or ``none``)."""
        return self._builder.label

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
        lines.append(f"Label: {self._builder.describe_label()}")
        if self.transform is not None:
            lines.append("Transform: " + repr(self.transform).replace("\n", "\n    "))
        return f"{type(self).__name__}\n    " + "\n    ".join(lines)


