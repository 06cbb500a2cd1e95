"""Where an image lies relative to each model's measured cutoffs.

The packaged table ``atomdata/data/model_cutoffs.json`` holds, per model and material family, the
cutoff of every swept metric measured by ``atomdata reproduce`` (value, confidence interval,
tested range, the direction in which images get harder, the criterion that failed first). It
says which dataset version and which run it was made from; ``scripts/make_model_cutoffs.py``
regenerates it from a reproduction output folder.

For one model and one metric estimate ``v`` (direction: images get harder as the metric rises,
``worse_when="higher"``, or falls, ``"lower"``):

* ``inside``: ``v`` is on the good side of the cutoff, or the model never failed over the tested
  range and ``v`` is within it (or better than all of it);
* ``borderline``: ``v`` is past the cutoff but not yet at the first tested value where the model
  failed (``tested_values`` in the table). The cutoff is interpolated between the last passing and
  the first failing tested value, where the model passed on some images and failed on others;
  a borderline image still counts as recommended, flagged as such;
* ``outside``: ``v`` is at or past the first failing tested value (past the cutoff when the table
  has no tested values);
* ``untested``: the model never failed, but ``v`` is worse than anything tested;
* ``no region``: the model failed already at the best tested value, so the sweep does not say
  where it works (e.g. a sampling sweep a model fails at both ends of); not used for the verdict;
* ``not assessed``: no estimate of the metric, or no cutoff measured for it.

The margin is the signed distance from ``v`` to the cutoff (or to the end of the tested range),
positive on the good side, in the metric's unit and as a fraction of the tested range. A model
is *recommended* for the image when every assessed metric is ``inside`` or ``borderline``; the
*limiting* metric is the one with the smallest fractional margin.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, Field

__all__ = ["FAMILY_LATTICE", "MetricPlacement", "ModelVerdict", "load_model_cutoffs", "place", "place_metric"]

#: Material family of the cutoff table -> lattice family found by :func:`atomdata.assess.lattice.find_lattice`.
FAMILY_LATTICE = {"sto": "square", "ws2": "hexagonal"}


def load_model_cutoffs(path=None) -> dict:
    """The model cutoff table (default: the packaged ``atomdata/data/model_cutoffs.json``)."""
    if path is None:
        text = resources.files("atomdata").joinpath("data/model_cutoffs.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    table = json.loads(text)
    if "models" not in table or "source" not in table:
        raise ValueError(f"{path or 'model_cutoffs.json'}: not a model cutoff table (needs 'models' and 'source'); "
                         "make one with scripts/make_model_cutoffs.py")
    return table


class MetricPlacement(BaseModel):
    """One metric of one image against one model's cutoff (metric values in the metric's unit)."""

    metric: str
    value: Optional[float] = Field(description="The image's estimate (None: not estimated).")
    cutoff: Optional[float] = Field(description="The model's cutoff (None: never failed in the tested range).")
    worse_when: Optional[str] = None
    tested_min: Optional[float] = None
    tested_max: Optional[float] = None
    status: str = Field(description="'inside', 'borderline', 'outside', 'untested', 'no region' or 'not assessed'.")
    margin: Optional[float] = Field(default=None, description="Signed distance to the limit, + = good side.")
    margin_fraction: Optional[float] = Field(default=None, description="margin / tested range.")
    failed_first: Optional[str] = Field(default=None, description="Criterion that failed first at the cutoff.")


class ModelVerdict(BaseModel):
    """Is an image inside the region where one model met the criteria?"""

    model: str
    family: str
    recommended: bool = Field(description="Every assessed metric inside (or borderline to) the model's region.")
    status: str = Field(description="'inside', 'borderline', 'outside', 'untested' or 'not assessed'.")
    limiting: Optional[str] = Field(default=None, description="Metric with the smallest fractional margin.")
    metrics: list[MetricPlacement]

    def summary(self) -> str:
        """One line: verdict, limiting metric and by how much."""
        lim = next((m for m in self.metrics if m.metric == self.limiting), None)
        if lim is None or lim.margin is None:
            return f"{self.model}: {self.status}"
        side = "inside by" if lim.margin >= 0 else "past the cutoff by"
        ref = "cutoff" if lim.cutoff is not None else "tested range"
        limit = lim.cutoff if lim.cutoff is not None else (lim.tested_max if lim.worse_when == "higher" else lim.tested_min)
        return (f"{self.model}: {self.status}; limiting {lim.metric} = {lim.value:.3g} ({ref} {limit:.3g}), "
                f"{side} {abs(lim.margin):.3g}")


def place_metric(metric: str, value: Optional[float], entry: Optional[dict]) -> MetricPlacement:
    """Place one metric estimate against one cutoff entry of the table (see the module notes).

    Examples
    --------
    >>> e = {"cutoff": 13.0, "worse_when": "lower", "tested_min": 2.0, "tested_max": 28.0}
    >>> p = place_metric("psnr_db", 20.0, e)
    >>> p.status, p.margin, round(p.margin_fraction, 3)
    ('inside', 7.0, 0.269)
    >>> place_metric("psnr_db", 10.0, e).status
    'outside'
    >>> place_metric("psnr_db", 12.5, {**e, "tested_values": [2.0, 12.0, 14.0, 28.0]}).status  # failed at 12 dB
    'borderline'
    """
    if entry is None:
        return MetricPlacement(metric=metric, value=value, cutoff=None, status="not assessed")
    worse, lo, hi = entry["worse_when"], entry["tested_min"], entry["tested_max"]
    cut = entry.get("cutoff")
    sign = 1.0 if worse == "higher" else -1.0  # sign * (limit - value) > 0 on the good side
    span = (hi - lo) or 1.0
    common = dict(metric=metric, value=value, cutoff=cut, worse_when=worse, tested_min=lo, tested_max=hi,
                  failed_first=entry.get("failed_first"))
    if value is None:
        return MetricPlacement(**common, status="not assessed")
    if entry.get("failed_at_start"):
        return MetricPlacement(**common, status="no region")
    if cut is None:
        end = hi if worse == "higher" else lo
        margin = sign * (end - value)
        return MetricPlacement(**common, status="inside" if margin >= 0 else "untested", margin=margin,
                               margin_fraction=margin / span)
    margin = sign * (cut - value)
    if margin > 0:
        status = "inside"
    else:
        failing = [t for t in entry.get("tested_values") or [] if sign * (t - cut) > 0]
        first_fail = (min(failing) if worse == "higher" else max(failing)) if failing else None
        status = "borderline" if first_fail is not None and sign * (first_fail - value) > 0 else "outside"
    return MetricPlacement(**common, status=status, margin=margin, margin_fraction=margin / span)


def place(metrics: dict, *, family: str, table: Optional[dict] = None,
          models: Optional[list[str]] = None) -> list[ModelVerdict]:
    """Place an image's metric estimates on every model's cutoffs for one material family.

    Parameters
    ----------
    metrics : dict
        Metric name -> estimate (None: not estimated), e.g. ``QualityEstimate.metrics()``.
    family : str
        Material family of the table (``"sto"``, ``"ws2"``).
    table : dict, optional
        The cutoff table (default :func:`load_model_cutoffs`).
    models : list of str, optional
        Models to place (default: every model in the table).

    Returns
    -------
    list of ModelVerdict
        One per model, recommended ones first.
    """
    table = table or load_model_cutoffs()
    names = models or sorted(table["models"])
    out = []
    for name in names:
        if name not in table["models"]:
            raise KeyError(f"no cutoffs for model {name!r}; the table has: {', '.join(sorted(table['models']))}")
        by_family = table["models"][name]
        if family not in by_family:
            raise KeyError(f"no cutoffs of {name!r} for family {family!r}; it has: {', '.join(sorted(by_family))}")
        cuts = by_family[family]
        placed = [place_metric(m, metrics.get(m), cuts.get(m)) for m in sorted(cuts)]
        assessed = [p for p in placed if p.status not in ("not assessed", "no region")]
        statuses = {p.status for p in assessed}
        status = ("not assessed" if not assessed else "outside" if "outside" in statuses
                  else "untested" if "untested" in statuses else "borderline" if "borderline" in statuses
                  else "inside")
        limiting = min((p for p in assessed if p.margin_fraction is not None), key=lambda p: p.margin_fraction,
                       default=None)
        out.append(ModelVerdict(model=name, family=family, recommended=status in ("inside", "borderline"), status=status,
                                limiting=limiting.metric if limiting else None, metrics=placed))
    order = {"inside": 0, "borderline": 1, "untested": 2, "outside": 3, "not assessed": 4}
    return sorted(out, key=lambda v: (order[v.status], -min((p.margin_fraction or 0.0) for p in v.metrics)))
