"""The classical baseline: smoothing, peak_local_max, centre-of-mass / Gaussian refinement."""
import numpy as np
import pytest
from models_helpers import inside, render_columns, srtio3_100
from scipy.spatial import cKDTree

from atomdata import models
from atomdata.models.baseline import PeakBaseline, refine_centre_of_mass, refine_gaussian


@pytest.mark.parametrize("refine", ["com", "gaussian"])
@pytest.mark.parametrize("x, y", [(20.3, 11.8), (9.75, 24.4)])
def test_single_column_is_found_at_its_sub_pixel_position(x, y, refine):
    # image[y, x]: a column at x = 20.3 (column index), y = 11.8 (row index) in a 32 x 40 image
    image = render_columns([(x, y)], [1.0], (32, 40), sigma_px=2.5)
    xy = PeakBaseline(refine=refine, border_px=0).predict(image, pixel_size_A=0.15)
    assert xy.shape == (1, 2)
    np.testing.assert_allclose(xy[0], [x, y], atol=0.02)


@pytest.mark.parametrize("refine, tol", [("com", 0.1), ("gaussian", 0.02)])
def test_lattice_of_columns_within_a_tenth_of_a_pixel(refine, tol):
    rng = np.random.default_rng(3)
    shape = (120, 150)
    image, xy, species = srtio3_100(0.15, shape, noise=0.0)
    keep = species != "O"  # a Sr / Ti-O lattice with jittered sub-pixel positions
    xy = xy[keep] + rng.uniform(-0.5, 0.5, (keep.sum(), 2))
    image = render_columns(xy, np.where(species[keep] == "Sr", 1.0, 0.6), shape, sigma_px=0.45 / 0.15)
    pred = PeakBaseline(refine=refine).predict(image, pixel_size_A=0.15)
    truth = xy[inside(xy, shape, 9)]
    d, idx = cKDTree(pred).query(truth)
    assert d.max() < tol
    assert len(set(idx)) == len(truth)


def test_noisy_image_still_within_a_fraction_of_a_pixel():
    shape = (128, 128)
    image, xy, species = srtio3_100(0.15, shape, noise=0.05, seed=1)
    pred = PeakBaseline().predict(image, pixel_size_A=0.15)
    truth = xy[(species != "O") & inside(xy, shape, 9)]
    d, _ = cKDTree(pred).query(truth)
    assert np.sqrt(np.mean(d ** 2)) < 0.3


def test_separation_is_in_angstrom():
    # two columns 1.0 A apart (20 px at 0.05 A/px): the max-filter window is half the separation each way,
    # so they are resolved with a 1.5 A separation (15 px window) and merged with 2.5 A (25 px window)
    image = render_columns([(30, 30), (50, 30)], [1, 1], (60, 80), sigma_px=3)
    assert len(PeakBaseline(min_separation_A=1.5).predict(image, pixel_size_A=0.05)) == 2
    assert len(PeakBaseline(min_separation_A=2.5).predict(image, pixel_size_A=0.05)) == 1
    assert len(PeakBaseline(min_separation_A=2.5).predict(image, pixel_size_A=0.1)) == 2  # same image read as 0.1 A/px


def test_unrefined_positions_are_integer_maxima():
    image = render_columns([(20.3, 11.8)], [1.0], (32, 40), sigma_px=2.5)
    np.testing.assert_array_equal(PeakBaseline(refine=None, border_px=0).predict(image, pixel_size_A=0.15), [[20.0, 12.0]])


def test_constant_image_has_no_columns():
    assert models.get("baseline-peaks").predict(np.ones((16, 16)), pixel_size_A=0.1).shape == (0, 2)


def test_refiners_keep_far_moves_and_empty_input():
    image = render_columns([(10, 10)], [1.0], (21, 21), sigma_px=2)
    assert refine_centre_of_mass(image, np.empty((0, 2)), radius_px=3).shape == (0, 2)
    # a start on flat background: the Gaussian fit has nothing to fit and keeps the start
    np.testing.assert_allclose(refine_gaussian(np.zeros((21, 21)), np.array([[5.0, 5.0]]), radius_px=3,
                                               sigma_px=2), [[5.0, 5.0]])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sigma_A": 0}, "sigma_A must be > 0 Angstrom, got 0"),
        ({"min_separation_A": -1}, "min_separation_A must be > 0"),
        ({"threshold_rel": 1.0}, r"threshold_rel must be in \[0, 1\)"),
        ({"refine": "spline"}, "refine must be one of"),
        ({"refine_radius_A": 0}, "refine_radius_A must be > 0"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PeakBaseline(**kwargs)
