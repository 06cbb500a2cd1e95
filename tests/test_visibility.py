"""The visibility rule on noise-free images: it marks exactly the columns the image resolves."""
from __future__ import annotations

import numpy as np
import pytest

from atomdata.sim.stem.image import ImageParams, simulate_image
from atomdata.sim.stem.probe import GaussianProbe, sigma_to_fwhm
from atomdata.sim.stem.render import render_columns
from atomdata.sim.stem.visibility import local_maxima, resolved_columns


def _pair_image(d_px: float, sigma_px: float, w2: float, *, x0: float = 30.3, shape=(41, 110)):
    xy = np.array([[x0, 20.0], [x0 + d_px, 20.0]])
    img = render_columns(xy, [1.0, w2], shape=shape, pixel_size_A=0.1,
                         probe=GaussianProbe(sigma_to_fwhm(sigma_px * 10.0)))
    return xy, img


def _profile_truth(d: float, sigma: float, w2: float) -> tuple[list[bool], float]:
    """Independent answer from the continuous profile w1 G(x) + w2 G(x - d) along the line through both
    columns (1000 samples per pixel): does each column have a local maximum within the rule's radius
    max(d / 4, 0.75) px? Also returns how close any maximum or dip is to deciding otherwise (the
    smallest of: |distance - radius| [px], dip depth in % of the peak), so that cases a pixel grid
    cannot decide are skipped."""
    x = np.linspace(-4 * sigma, d + 4 * sigma, int((d + 8 * sigma) * 1000))
    f = np.exp(-0.5 * (x / sigma) ** 2) + w2 * np.exp(-0.5 * ((x - d) / sigma) ** 2)
    inner = f[1:-1]
    peaks = x[1:-1][(inner > f[:-2]) & (inner >= f[2:])]
    dips = inner[(inner < f[:-2]) & (inner <= f[2:])]
    r = max(d / 4, 0.75)
    truth = [bool(np.any(np.abs(peaks - c) <= r)) for c in (0.0, d)]
    margin = min([abs(abs(p - c) - r) for p in peaks for c in (0.0, d)] + [1.0])
    if len(dips):  # a dip shallower than ~0.5 % of the peak is beyond what pixel sampling decides
        margin = min(margin, float((inner[(inner > f[:-2]) & (inner >= f[2:])].min() - dips.max()) / f.max()) * 100)
    return truth, margin


@pytest.mark.parametrize("w2", [0.7, 0.45, 0.25])
def test_a_weaker_neighbour_is_resolved_where_the_profile_has_its_own_maximum(w2):
    sigma = 3.0
    checked = 0
    for d in np.arange(5.0, 12.01, 0.25):
        xy, img = _pair_image(d, sigma, w2)
        truth, margin = _profile_truth(d, sigma, w2)
        if margin < 0.5:  # the pixel grid cannot decide this case either way
            continue
        assert resolved_columns(img, xy).tolist() == truth, (w2, d)
        checked += 1
    assert checked >= 15


def test_non_target_columns_are_never_reported_and_only_compete():
    xy, img = _pair_image(10.0, 2.0, 1.0)
    assert resolved_columns(img, xy, target=[True, False]).tolist() == [True, False]


def test_local_maxima_ignore_flat_regions_and_find_a_single_peak():
    img = np.zeros((9, 9))
    assert len(local_maxima(img)) == 0
    img[4, 6] = 2.0
    assert local_maxima(img).tolist() == [[6.0, 4.0]]


def test_sharp_srtio3_resolves_every_column_and_a_blurred_one_loses_ti_o_first():
    """SrTiO3 [100] at 0.227 A/px: an 80 pm probe resolves every Sr and Ti-O column; at 300 pm the
    Ti-O columns (weaker, 2.76 A from Sr) are no maxima any more while the Sr columns still are."""
    def image(res):
        sim = simulate_image(ImageParams("sto100", shape=(96, 96), pixel_size_A=0.227, resolution_pm=res,
                                         source_size_pm=0.0, background=0.0, contrast=None, dtype="float32", seed=4))
        return sim.clean, sim.columns

    clean, cols = image(80.0)
    ok = resolved_columns(clean, cols.xy, target=cols.target)
    inner = (cols.xy > 3).all(1) & (cols.xy < 92).all(1)
    assert ok[cols.target & inner].all()
    clean, cols = image(300.0)
    ok = resolved_columns(clean, cols.xy, target=cols.target)
    sr, tio = (cols.species == "Sr") & inner, (cols.species == "Ti-O") & inner
    assert ok[sr].mean() > 0.95 and ok[tio].mean() < 0.05


def test_radius_must_be_positive():
    xy, img = _pair_image(10.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="radius_px"):
        resolved_columns(img, xy, radius_px=0.0)
    with pytest.raises(ValueError, match="target has 1 entries"):
        resolved_columns(img, xy, target=[True])
