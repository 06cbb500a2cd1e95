"""Transforms move labels with the image: each label stays on its intensity maximum."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from column_fixtures import peak_near, random_columns, render_columns
from hypothesis import given, settings
from hypothesis import strategies as st

from atomdata.datasets.transforms import (
    CenterCrop,
    Compose,
    GaussianNoise,
    PoissonNoise,
    RandomBackground,
    RandomCrop,
    RandomFlip,
    RandomGamma,
    RandomRescale,
    RandomRot90,
    Rescale,
    as_generator,
)

SHAPE = (48, 40)  # not square: rotations must swap H and W


def _sample(seed=0, shape=SHAPE, sigma_px=1.3):
    xy = random_columns(shape, 14, seed=seed, min_dist=7.0)
    n = len(xy)
    return {
        "image": (render_columns(xy, shape, sigma_px=sigma_px, background=0.05) * 500).astype(np.float32),
        "xy": xy,
        "species": np.arange(n) % 3,
        "target_mask": np.arange(n) % 3 != 2,
        "pixel_size_A": 0.12,
        "image_id": "img-1",
    }


def _label_errors(sample, border=2):
    """Distance [px] between each label and the sub-pixel maximum nearest it (labels near the border skipped)."""
    img = sample["image"]
    h, w = img.shape
    errs = []
    for x, y in sample["xy"]:
        if not (border <= x <= w - 1 - border and border <= y <= h - 1 - border):
            continue
        p = peak_near(img, x, y)
        assert p is not None, f"no interior maximum near label ({x:.2f}, {y:.2f})"
        errs.append(np.hypot(p[0] - x, p[1] - y))
    return np.array(errs)


GEOMETRIC = {
    "flip_x": (RandomFlip(p_x=1.0, p_y=0.0), 0.01),
    "flip_y": (RandomFlip(p_x=0.0, p_y=1.0), 0.01),
    "flip_xy": (RandomFlip(p_x=1.0, p_y=1.0), 0.01),
    "rot90_1": (RandomRot90(ks=[1]), 0.01),
    "rot90_2": (RandomRot90(ks=[2]), 0.01),
    "rot90_3": (RandomRot90(ks=[3]), 0.01),
    "random_crop": (RandomCrop((30, 26)), 0.01),
    "center_crop": (CenterCrop(24), 0.01),
    "rescale_up": (Rescale(1.6, order=3), 0.05),
    "rescale_down": (Rescale(0.8, order=3), 0.02),
    "rescale_to_pixel_size": (Rescale(pixel_size_A=0.1, order=3), 0.05),
    "rescale_bilinear": (Rescale(1.3), 0.2),
    "random_rescale": (RandomRescale((0.85, 1.4), order=3), 0.03),
    "gamma": (RandomGamma((0.5, 2.0)), 0.01),
    "background": (RandomBackground((0.1, 0.5)), 0.03),
    "compose": (Compose([RandomRescale((0.9, 1.2), order=3), RandomRot90(), RandomFlip(), RandomCrop(32),
                         RandomGamma(), RandomBackground()]), 0.05),
}


def test_untransformed_labels_are_on_their_maxima():
    # the check itself: the fixture's peaks are found at their labels
    errs = _label_errors(_sample())
    assert len(errs) >= 8 and errs.max() < 0.01


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transform_keeps_labels_on_intensity_maxima(name, seed):
    transform, tol_px = GEOMETRIC[name]
    before = _sample(seed)
    after = transform(before, rng=seed)
    errs = _label_errors(after)
    assert len(errs) >= 2, "too few labels left to check"
    assert errs.max() < tol_px, f"{name}: label off its maximum by {errs.max():.3f} px"
    # per-column arrays stay aligned with xy
    n = len(after["xy"])
    assert len(after["species"]) == n and len(after["target_mask"]) == n
    assert after["image"].dtype == np.float32 and after["image_id"] == "img-1"


def test_rotation_swaps_shape_and_moves_labels_exactly():
    s = _sample()
    out = RandomRot90(ks=[1])(s, rng=0)
    assert out["image"].shape == SHAPE[::-1]
    # a quarter turn moves (x, y) to (y, W - 1 - x)
    np.testing.assert_allclose(out["xy"], np.column_stack([s["xy"][:, 1], SHAPE[1] - 1 - s["xy"][:, 0]]))
    four = Compose([RandomRot90(ks=[1])] * 4)(s, rng=0)
    np.testing.assert_array_equal(four["image"], s["image"])
    np.testing.assert_allclose(four["xy"], s["xy"], atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(4, 20), w=st.integers(4, 20), seed=st.integers(0, 2**32 - 1), which=st.sampled_from(
    ["flip", "rot", "crop", "center"]))
def test_geometric_transforms_move_a_marked_pixel_with_its_label(h, w, seed, which):
    # each label sits on a unique pixel value; after the transform the pixel under the label has that value
    rng = np.random.default_rng(seed)
    n = min(h * w, 6)
    flat = rng.choice(h * w, n, replace=False)
    xy = np.column_stack([flat % w, flat // w]).astype(float)
    img = np.zeros((h, w), np.float32)
    img[flat // w, flat % w] = np.arange(1, n + 1)
    t = {"flip": RandomFlip(), "rot": RandomRot90(), "crop": RandomCrop((max(1, h // 2), max(1, w - 2))),
         "center": CenterCrop((h - 1, w - 1))}[which]
    out = t({"image": img, "xy": xy, "species": np.arange(n), "target_mask": np.ones(n, bool)}, rng=seed)
    cols = np.rint(out["xy"]).astype(int)
    np.testing.assert_allclose(out["xy"], cols, atol=1e-9)
    assert (out["image"][cols[:, 1], cols[:, 0]] == out["species"] + 1).all()
    # every marked pixel left in the image still has its label
    assert int((out["image"] > 0).sum()) == len(out["xy"])


def test_rescale_updates_pixel_size_and_keeps_distances_in_angstrom():
    s = _sample()
    out = Rescale(1.5)(s)
    sx = out["image"].shape[1] / s["image"].shape[1]
    assert out["pixel_size_A"] == pytest.approx(s["pixel_size_A"] / sx)
    d_before = np.hypot(*(s["xy"][0] - s["xy"][1])) * s["pixel_size_A"]
    d_after = np.hypot(*(out["xy"][0] - out["xy"][1])) * out["pixel_size_A"]
    assert d_after == pytest.approx(d_before, rel=0.02)
    target = Rescale(pixel_size_A=0.2)(s)
    assert target["pixel_size_A"] == pytest.approx(0.2, rel=0.03)
    assert target["image"].shape == (round(SHAPE[0] * 0.6), round(SHAPE[1] * 0.6))


def test_crop_drops_columns_outside_and_keeps_arrays_aligned():
    s = _sample()
    out = RandomCrop(20)(s, rng=5)
    assert out["image"].shape == (20, 20)
    # find where the crop came from by matching pixels, then predict the kept labels independently
    h, w = s["image"].shape
    (top, left), = [(t, l) for t in range(h - 19) for l in range(w - 19)
                    if np.array_equal(s["image"][t:t + 20, l:l + 20], out["image"])]
    moved = s["xy"] - [left, top]
    keep = ((moved >= -0.5) & (moved < 19.5)).all(axis=1)
    assert 0 < keep.sum() < len(keep)
    np.testing.assert_allclose(out["xy"], moved[keep])
    np.testing.assert_array_equal(out["species"], s["species"][keep])
    np.testing.assert_array_equal(out["target_mask"], s["target_mask"][keep])


def test_pad_if_needed_and_its_error():
    s = _sample(shape=(16, 16))
    out = RandomCrop(20)(s, rng=0)
    assert out["image"].shape == (20, 20)
    np.testing.assert_array_equal(out["xy"], s["xy"])
    with pytest.raises(ValueError, match=r"smaller than the crop \(20, 20\).*pad_if_needed=True"):
        RandomCrop(20, pad_if_needed=False)(s, rng=0)


@pytest.mark.parametrize("transform", [GaussianNoise(0.05), PoissonNoise(100.0), RandomGamma(0.5),
                                       RandomBackground(0.2)], ids=repr)
def test_intensity_transforms_leave_labels_alone(transform):
    s = _sample()
    out = transform(s, rng=3)
    for k in ("xy", "species", "target_mask"):
        np.testing.assert_array_equal(out[k], s[k])
    assert out["pixel_size_A"] == s["pixel_size_A"]
    assert out["image"].shape == s["image"].shape and out["image"].dtype == np.float32
    assert not np.allclose(out["image"], s["image"])


def test_gaussian_noise_has_the_requested_std():
    s = _sample(shape=(128, 128))
    out = GaussianNoise(0.05)(s, rng=0)
    span = float(s["image"].max() - s["image"].min())
    assert np.std(out["image"] - s["image"]) / span == pytest.approx(0.05, rel=0.05)


def test_poisson_noise_keeps_the_mean():
    s = _sample(shape=(128, 128))
    out = PoissonNoise(50.0)(s, rng=0)
    assert float(out["image"].mean()) == pytest.approx(float(s["image"].mean()), rel=0.03)


def test_seeding_is_reproducible_and_accepts_torch_generators():
    s = _sample()
    t = Compose([RandomCrop(24), RandomFlip(), RandomRot90(), GaussianNoise()])
    a, b = t(s, rng=7), t(s, rng=7)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["xy"], b["xy"])
    c = t(s, rng=torch.Generator().manual_seed(3))
    d = t(s, rng=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(c["image"], d["image"])
    outs = {t(s, rng=k)["image"].tobytes() for k in range(6)}
    assert len(outs) > 1
    with pytest.raises(TypeError, match="rng must be"):
        as_generator("seed")


def test_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="exactly one of scale or pixel_size_A"):
        Rescale(1.2, pixel_size_A=0.1)
    with pytest.raises(ValueError, match="p_x must be a probability in \\[0, 1\\], got 2"):
        RandomFlip(p_x=2)
    with pytest.raises(ValueError, match=r"std must be .* got \(0.2, 0.1\)"):
        GaussianNoise((0.2, 0.1))
    with pytest.raises(TypeError, match=r"2-D \(H, W\) numpy array .* got Tensor"):
        RandomFlip()({"image": torch.zeros(1, 4, 4), "xy": np.zeros((0, 2))})
