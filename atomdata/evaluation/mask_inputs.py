"""Reading and writing mask predictions of the segmentation task: PNG/NPY folders, NPZ, NPY stacks, HDF5.

A prediction is an (H, W) array per image id, indexed ``mask[y, x]``: a binary mask (nonzero =
particle) or instance labels (0 = background, one integer per particle).

Accepted sources
----------------
* a **folder** of ``<image_id>.png`` or ``<image_id>.npy`` files (ids containing ``/`` use ``_``);
* an **.npz** file with one array per image id;
* an **.npy** stack (N, H, W) in the order of the split's images (pass ``image_ids``);
* an **.h5** file with one dataset per image id (under ``group`` if given).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["load_mask_predictions", "save_mask_predictions"]


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    a = np.asarray(Image.open(path))
    return a[..., 0] if a.ndim == 3 else a


def load_mask_predictions(source, *, image_ids: Optional[Sequence[str]] = None,
                          group: Optional[str] = None) -> dict[str, np.ndarray]:
    """Image id -> (H, W) mask or instance image, from any source listed in the module notes.

    Raises
    ------
    FileNotFoundError
        When ``source`` does not exist.
    ValueError
        For an unsupported file type, an .npy stack without ``image_ids`` or of the wrong length.
    """
    if isinstance(source, Mapping):
        return {str(k): np.asarray(v) for k, v in source.items()}
    p = Path(source)
    if not p.exists():
        raise FileNotFoundError(f"predictions not found: {p}")
    if p.is_dir():
        out = {}
        for f in sorted(p.iterdir()):
            if f.suffix.lower() == ".png":
                out[f.stem] = _read_png(f)
            elif f.suffix.lower() == ".npy":
                out[f.stem] = np.load(f)
        if not out:
            raise ValueError(f"{p} holds no <image_id>.png or <image_id>.npy files")
        if image_ids is not None:  # file names use '_' for '/' in ids
            alias = {i.replace("/", "_"): i for i in image_ids}
            out = {alias.get(k, k): v for k, v in out.items()}
        return out
    suffix = p.suffix.lower()
    if suffix == ".npz":
        with np.load(p) as z:
            return {k: z[k] for k in z.files}
    if suffix == ".npy":
        stack = np.load(p)
        if image_ids is None:
            raise ValueError(f"{p} is an (N, H, W) stack: pass the split's image_ids to name its images")
        if stack.ndim != 3 or len(stack) != len(image_ids):
            raise ValueError(f"{p} has shape {stack.shape}; expected ({len(image_ids)}, H, W), one mask per image")
        return {i: stack[k] for k, i in enumerate(image_ids)}
    if suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(p, "r") as f:
            g = f[group] if group else f
            return {k: g[k][()] for k in g.keys() if isinstance(g[k], h5py.Dataset)}
    raise ValueError(f"unsupported predictions file {p.name!r}: use a folder of PNG/NPY files, .npz, .npy or .h5")


def save_mask_predictions(predictions: Mapping[str, np.ndarray], path) -> Path:
    """Write masks as ``.npz`` (one array per id), ``.h5`` (one dataset per id) or a folder of PNGs (no suffix).

    Examples
    --------
    >>> import tempfile, os
    >>> p = save_mask_predictions({"test-00000": np.eye(4, dtype=np.uint8)}, os.path.join(tempfile.mkdtemp(), "m.npz"))
    >>> int(load_mask_predictions(p)["test-00000"].sum())
    4
    """
    p = Path(path)
    if p.suffix.lower() == ".npz":
        np.savez_compressed(p, **{k: np.asarray(v) for k, v in predictions.items()})
    elif p.suffix.lower() in (".h5", ".hdf5"):
        import h5py

        with h5py.File(p, "w") as f:
            for k, v in predictions.items():
                f.create_dataset(k, data=np.asarray(v), compression="gzip")
    else:
        from PIL import Image

        p.mkdir(parents=True, exist_ok=True)
        for k, v in predictions.items():
            Image.fromarray((np.asarray(v) > 0).astype(np.uint8) * 255).save(p / f"{k.replace('/', '_')}.png")
    return p
