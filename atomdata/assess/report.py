"""``atomdata assess``: estimate an image's quality metrics and place it on every model's cutoffs.

For every image of every file (:func:`atomdata.sources.microscope.read_images`) this estimates
the metrics (:func:`atomdata.assess.estimate.estimate_quality`), picks the material family of
the cutoff table whose lattice matches the image's (square: ``sto``, hexagonal: ``ws2``; or the
family given), and places the image on each model's cutoffs
(:func:`atomdata.assess.placement.place`). With an output folder it writes ``assess.json`` (all
of it, for scripts) and ``<name>_radar.png`` per image; :func:`format_table` is the one-screen
summary for people.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from atomdata.assess.estimate import QualityEstimate, estimate_quality
from atomdata.assess.placement import ModelVerdict, load_model_cutoffs, place
from atomdata.assess.radar import plot_assessment_radar
from atomdata.storage import atomic_path

__all__ = ["AssessedImage", "assess_image", "assess_files", "format_table", "material_family"]

PathLike = Union[str, os.PathLike]


@dataclass
class AssessedImage:
    """One image's estimates and its place on each model's cutoffs."""

    source: dict
    estimate: QualityEstimate
    family: Optional[str]
    verdicts: list[ModelVerdict]
    radar: Optional[Path] = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"source": self.source, "estimate": self.estimate.model_dump(), "family": self.family,
                "verdicts": [v.model_dump() for v in self.verdicts],
                "recommended": [v.model for v in self.verdicts if v.recommended],
                "radar": self.radar.name if self.radar else None}


def material_family(lattice_family: Optional[str], table: dict) -> Optional[str]:
    """The cutoff table's material family whose lattice is ``lattice_family`` (None when none is).

    Examples
    --------
    >>> material_family("hexagonal", {"families": {"sto": {"lattice": "square"}, "ws2": {"lattice": "hexagonal"}}})
    'ws2'
    """
    for name, fam in sorted(table.get("families", {}).items()):
        if fam.get("lattice") == lattice_family:
            return name
    return None


def assess_image(image, *, pixel_size_A: float, family: Optional[str] = None, table: Optional[dict] = None,
                 models: Optional[Sequence[str]] = None) -> tuple[QualityEstimate, Optional[str], list[ModelVerdict]]:
    """Estimate one image's metrics and place it on the models' cutoffs.

    Parameters
    ----------
    image : array_like, shape (H, W)
        The image ``image[y, x]`` as recorded.
    pixel_size_A : float
        Pixel size [Å/px].
    family : str, optional
        Material family of the cutoff table (``"sto"``, ``"ws2"``); default: the one whose lattice
        matches the image's.
    table : dict, optional
        Cutoff table (default: the packaged one).
    models : sequence of str, optional
        Models to place the image for (default: all in the table).

    Returns
    -------
    estimate, family, verdicts
        ``verdicts`` is empty when no family fits (no lattice found).
    """
    table = table or load_model_cutoffs()
    if family is not None and family not in table["families"]:
        raise ValueError(f"unknown family {family!r}; the cutoff table has: {', '.join(sorted(table['families']))}")
    lattice = table["families"][family]["lattice"] if family else None
    est = estimate_quality(image, pixel_size_A=pixel_size_A, family=lattice)
    fam = family or material_family(est.lattice_family, table)
    verdicts = place(est.metrics(), family=fam, table=table, models=list(models) if models else None) if fam else []
    return est, fam, verdicts


def assess_files(paths: Sequence[PathLike], *, out_dir: Optional[PathLike] = None, pixel_size_A: Optional[float] = None,
                 family: Optional[str] = None, models: Optional[Sequence[str]] = None, cutoffs=None,
                 radar: bool = True, progress: bool = True) -> list[AssessedImage]:
    """Assess every image of the given files (see the module notes).

    Parameters
    ----------
    paths : sequence of path-like
        Microscope files (:data:`atomdata.sources.microscope.SUFFIXES`).
    out_dir : path-like, optional
        Write ``assess.json`` and the radar plots here (created); None writes nothing.
    pixel_size_A : float, optional
        Pixel size [Å/px] for every image instead of the files' calibrations.
    family, models
        As :func:`assess_image`.
    cutoffs : path-like or dict, optional
        Cutoff table (a file made by ``scripts/make_model_cutoffs.py``, or the table); default the packaged one.
    radar : bool
        Write ``<name>_radar.png`` per image (needs ``out_dir``).
    progress : bool
        Show a progress bar over the images.

    Returns
    -------
    list of AssessedImage
    """
    from tqdm.auto import tqdm

    from atomdata.sources.microscope import read_images

    table = cutoffs if isinstance(cutoffs, dict) else load_model_cutoffs(cutoffs)
    images = [im for p in paths for im in read_images(p, pixel_size_A=pixel_size_A)]
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    results = []
    for im in tqdm(images, desc="assess", unit="image", disable=not progress):
        est, fam, verdicts = assess_image(im.image, pixel_size_A=im.pixel_size_A, family=family, table=table,
                                          models=models)
        res = AssessedImage(source=im.describe(), estimate=est, family=fam, verdicts=verdicts)
        if out is not None and radar and verdicts:
            res.radar = plot_assessment_radar(est.metrics(), verdicts, path=out / f"{im.name}_radar.png",
                                              title=f"{im.name} on the {fam} cutoffs")
        results.append(res)
    if out is not None:
        doc = {"cutoffs": table["source"], "images": [r.to_dict() for r in results]}
        with atomic_path(out / "assess.json") as tmp:
            Path(tmp).write_text(json.dumps(doc, indent=2, default=str))
    return results


def _fmt(v: Optional[float], unit: str = "") -> str:
    return "-" if v is None else f"{v:.3g}{unit}"


def format_table(results: Sequence[AssessedImage], *, cutoffs_source: Optional[dict] = None) -> str:
    """A one-screen text summary: per image the estimates, then per model the verdict and limiting metric."""
    lines = []
    if cutoffs_source:
        lines.append(f"cutoffs: {cutoffs_source.get('dataset')} {cutoffs_source.get('version')} "
                     f"({cutoffs_source.get('made_by')})")
    for r in results:
        s, e = r.source, r.estimate
        lines.append(f"{s['name']}  {s['shape'][0]}x{s['shape'][1]}  {s['pixel_size_A']:.4g} Å/px ({s['calibration']})"
                     f"  lattice {e.lattice_family or '-'} -> family {r.family or '-'}")
        lines.append(f"  atoms/100px {_fmt(e.atoms_per_100px)}  resolution {_fmt(e.resolution_pm, ' pm')}  "
                     f"PSNR {_fmt(e.psnr_db, ' dB')}  contrast {_fmt(e.contrast)}  flyback {_fmt(e.flyback_error_px, ' px')}"
                     "  drift -  dose -")
        if not r.verdicts:
            lines.append("  no model placed: " + "; ".join(e.notes))
            continue
        for v in r.verdicts:
            mark = "yes" if v.recommended else "no "
            lines.append(f"  {mark} {v.summary()}")
    return "\n".join(lines)
