"""Targets drawn from labels: sub-pixel exact heatmaps, disks, per-species masks, coordinates."""
from __future__ import annotations

import numpy as np
import pytest
from column_fixtures import peak_near
from hypothesis import given, settings
from hypothesis import strategies as st

from atomdata.datasets.labels import DEFAULT_SIGMA_PX, disk_mask, gaussian_heatmap, render_label, species_masks


@settings(max_examples=50, deadline=None)
@given(x=st.floats(3.0, 12.0), y=st.floats(3.0, 9.0), sigma=st.floats(0.8, 3.0))
def test_heatmap_peak_is_exactly_at_the_subpixel_label(x, y, sigma):
    hm = gaussian_heatmap([[x, y]], (13, 16), sigma_px=sigma)
    px, py = peak_near(hm.astype(np.float64), x, y)
    assert abs(px - x) < 1e-4 and abs(py - y) < 1e-4


def test_heatmap_values_are_the_gaussian_at_pixel_centres():
    x, y, sigma = 5.3, 7.8, 1.7
    hm = gaussian_heatmap([[x, y]], (15, 12), sigma_px=sigma)
    assert hm.dtype == np.float32 and hm.shape == (15, 12)
    for r, c in [(8, 5), (7, 6), (3, 2), (10, 9)]:
        assert hm[r, c] == pytest.approx(np.exp(-((c - x) ** 2 + (r - y) ** 2) / (2 * sigma**2)), abs=1e-6)
    # far pixels are truncated to zero, the image corner here is > 4 sigma away
    assert hm[0, 11] == 0.0


def test_heatmap_sigma_in_angstrom_and_default():
    xy = [[4.2, 6.1], [10.0, 3.0]]
    np.testing.assert_allclose(gaussian_heatmap(xy, (12, 14), sigma_A=0.3, pixel_size_A=0.15),
                               gaussian_heatmap(xy, (12, 14), sigma_px=2.0), atol=1e-6)
    np.testing.assert_array_equal(gaussian_heatmap(xy, (12, 14)), gaussian_heatmap(xy, (12, 14), sigma_px=DEFAULT_SIGMA_PX))


def test_overlapping_columns_combine_by_maximum():
    hm = gaussian_heatmap([[5.0, 5.0], [7.0, 5.0]], (11, 13), sigma_px=1.5)
    assert hm[5, 5] == pytest.approx(1.0) and hm[5, 7] == pytest.approx(1.0)
    assert hm.max() <= 1.0
    assert hm[5, 6] == pytest.approx(np.exp(-1 / (2 * 1.5**2)), abs=1e-6)


def test_columns_at_and_beyond_the_edge_leave_their_tails():
    hm = gaussian_heatmap([[-1.0, 4.0], [20.0, 20.0]], (8, 8), sigma_px=1.0)
    assert hm[4, 0] == pytest.approx(np.exp(-0.5), abs=1e-6)
    assert gaussian_heatmap(np.zeros((0, 2)), (3, 4)).sum() == 0


@pytest.mark.parametrize("x,y,r", [(6.0, 5.0, 2.0), (6.4, 5.7, 3.2), (2.5, 1.5, 1.0)])
def test_disk_mask_matches_brute_force(x, y, r):
    yy, xx = np.mgrid[0:12, 0:14]
    expected = ((xx - x) ** 2 + (yy - y) ** 2 <= r * r).astype(np.float32)
    np.testing.assert_array_equal(disk_mask([[x, y]], (12, 14), radius_px=r), expected)
    np.testing.assert_array_equal(disk_mask([[x, y]], (12, 14), radius_A=r * 0.2, pixel_size_A=0.2), expected)


def test_tiny_disk_still_marks_the_nearest_pixel():
    m = disk_mask([[3.4, 2.6]], (6, 6), radius_A=0.01, pixel_size_A=0.1)
    assert m.sum() == 1 and m[3, 3] == 1


def test_species_masks_one_channel_per_species_in_the_given_order():
    xy = [[2, 2], [8, 2], [5, 8]]
    m = species_masks(xy, ["Sr", "O", "Sr"], (11, 11), species_names=["O", "Sr", "Ti-O"], radius_px=1.0)
    assert m.shape == (3, 11, 11)
    assert m[0, 2, 8] == 1 and m[0, 2, 2] == 0
    assert m[1, 2, 2] == 1 and m[1, 8, 5] == 1 and m[1, 2, 8] == 0
    assert m[2].sum() == 0
    codes = species_masks(xy, np.array([1, 0, 1]), (11, 11), species_names=["O", "Sr", "Ti-O"], radius_px=1.0)
    np.testing.assert_array_equal(codes, m)
    hm = species_masks(xy, [1, 0, 1], (11, 11), species_names=["O", "Sr"], draw="heatmap", sigma_px=1.0)
    assert hm[1, 8, 5] == pytest.approx(1.0)


def test_coords_and_none_targets():
    xy = np.array([[1.25, 2.5], [3.0, 0.0]])
    np.testing.assert_array_equal(render_label("coords", xy=xy, shape=(4, 4)), xy.astype(np.float32))
    assert render_label("none", xy=xy, shape=(4, 4)).shape == (0,)


def test_label_errors():
    with pytest.raises(ValueError, match="give sigma_px or sigma_A, not both"):
        gaussian_heatmap([[1, 1]], (4, 4), sigma_px=1, sigma_A=0.1, pixel_size_A=0.1)
    with pytest.raises(ValueError, match="sigma_A needs pixel_size_A > 0"):
        gaussian_heatmap([[1, 1]], (4, 4), sigma_A=0.3)
    with pytest.raises(ValueError, match="radius must be a finite length > 0, got radius_px=-1"):
        disk_mask([[1, 1]], (4, 4), radius_px=-1)
    with pytest.raises(ValueError, match=r"positions must have shape \(N, 2\)"):
        gaussian_heatmap([1, 2, 3], (4, 4))
    with pytest.raises(ValueError, match=r"species \['W'\] are not in species_names \['O', 'Sr'\]"):
        species_masks([[1, 1]], ["W"], (4, 4), species_names=["O", "Sr"])
    with pytest.raises(ValueError, match="Unknown label 'mask'. Valid labels: heatmap, disk, species, coords, none."):
        render_label("mask", xy=[[1, 1]], shape=(4, 4))


@pytest.mark.parametrize("sigma_px", [0.5, 1.5, 4.0])
def test_heatmap_drawn_in_blocks_of_columns_equals_one_block(monkeypatch, sigma_px):
    from atomdata.datasets import labels

    xy = np.random.default_rng(5).uniform(-5, 70, (300, 2))  # several blocks, some columns outside the image
    blocked = labels.gaussian_heatmap(xy, (64, 70), sigma_px=sigma_px)
    monkeypatch.setattr(labels, "_BLOCK_VALUES", 10**9)
    np.testing.assert_array_equal(blocked, labels.gaussian_heatmap(xy, (64, 70), sigma_px=sigma_px))
