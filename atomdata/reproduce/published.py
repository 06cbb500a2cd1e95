"""The published cutoffs (Wei et al. 2023) and how ours compare with them."""
from __future__ import annotations

import json
from importlib import resources
from typing import Optional

__all__ = ["published_cutoffs", "compare_cutoffs", "published_as_cutoffs", "PUBLISHED_MATERIALS", "PUBLISHED_METRICS"]

#: Our sweep-subset material prefix -> the published table's material key.
PUBLISHED_MATERIALS = {"sto": "SrTiO3_simulated", "ws2": "WS2_simulated"}
#: Our metric names -> the published table's metric keys.
PUBLISHED_METRICS = {
    "atoms_per_100px": "atoms_per_100px",
    "contrast": "contrast",
    "psnr_db": "psnr_db",
    "resolution_pm": "resolution_pm",
    "flyback_error_px": "flyback_error",
    "random_drift": "random_drift",
    "dose_e_per_A2": "dose_e_per_A2",
}


def published_cutoffs() -> dict:
    """The published cutoffs (Wei et al. 2023 result notebooks) with their citation and source."""
    text = resources.files("atomdata").joinpath("data/published_cutoffs.json").read_text(encoding="utf-8")
    return json.loads(text)


def compare_cutoffs(cutoffs_by_model: dict, published: Optional[dict] = None) -> list[dict]:
    """Rows of ours-vs-published cutoffs, one per (material, metric, model).

    Parameters
    ----------
    cutoffs_by_model : dict
        Model registry name -> list of :class:`atomdata.evaluation.Cutoff`.
    published : dict, optional
        The published table (default :func:`published_cutoffs`).

    Returns
    -------
    list of dict
        Keys: material, metric, model, published, ours, ci_low, ci_high,
        tested_min, tested_max, failed_first, difference (ours - published),
        relative_difference (fraction of the published value), agreement
        (``"both never fail"``, ``"within 25 %"``, ``"differs"``, ``"only ours fails"``,
        ``"only published fails"``, ``"not published"``).
    """
    published = published or published_cutoffs()
    names = {v: k for k, v in published.get("model_names", {}).items()}
    rows = []
    for model, cutoffs in cutoffs_by_model.items():
        pub_model = names.get(model)
        for c in cutoffs:
            material = c.subset.split("_sim_")[0]
            pub_mat = PUBLISHED_MATERIALS.get(material)
            pub_metric = PUBLISHED_METRICS.get(c.metric, c.metric)
            table = published["cutoffs"].get(pub_mat, {}).get(pub_model, {}) if pub_model and pub_mat else {}
            has_pub = pub_metric in table
            pub = table.get(pub_metric)
            ours = c.cutoff
            row = {
                "material": material, "metric": c.metric, "model": model,
                "published": pub, "ours": ours, "ci_low": c.ci_low, "ci_high": c.ci_high,
                "tested_min": c.tested_min, "tested_max": c.tested_max, "failed_first": c.failed_first,
                "failed_at_start": c.failed_at_start,
                "difference": None, "relative_difference": None,
            }
            if not has_pub:
                row["agreement"] = "not published"
            elif pub is None and ours is None:
                row["agreement"] = "both never fail"
            elif pub is None:
                row["agreement"] = "only ours fails"
            elif ours is None:
                row["agreement"] = "only published fails"
            else:
                row["difference"] = ours - pub
                row["relative_difference"] = (ours - pub) / abs(pub) if pub else None
                rel = row["relative_difference"]
                row["agreement"] = "within 25 %" if rel is not None and abs(rel) <= 0.25 else "differs"
            rows.append(row)
    return rows


def published_as_cutoffs(ours: list, model: str, published: Optional[dict] = None) -> Optional[list]:
    """The published cutoffs of ``model`` as :class:`~atomdata.evaluation.Cutoff` objects on the axes of ``ours``.

    Each of ``ours`` (one material) is copied with the published value as its cutoff (None = never
    fails) and its own tested range, so that :func:`atomdata.evaluation.plots.plot_radar` draws the
    published polygon on the same axes. Sweeps without a published value are left out; None when
    the model or material has no published values.
    """
    published = published or published_cutoffs()
    names = {v: k for k, v in published.get("model_names", {}).items()}
    pub_model = names.get(model)
    out = []
    for c in ours:
        material = PUBLISHED_MATERIALS.get(c.subset.split("_sim_")[0], "")
        table = published["cutoffs"].get(material, {}).get(pub_model or "", {})
        key = PUBLISHED_METRICS.get(c.metric, c.metric)
        if key in table:
            out.append(c.model_copy(update={"cutoff": table[key], "failed_first": None, "failed_at_start": False,
                                            "ci_low": None, "ci_high": None, "points": {}}))
    return out or None
