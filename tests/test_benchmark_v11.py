"""Benchmark 1.1.0: Wei et al.'s degradations, the frame pipeline, the recipe and its quick build."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from atomdata.build import build_dataset
from atomdata.build.recipes import get_recipe
from atomdata.sim.stem.degrade import added_blur_pm, added_poisson_noise, blur, shot_noise, to_uint8, wei_psnr_db
from atomdata.sim.stem.frames import FrameParams, background_for_contrast, form_image
from atomdata.sim.stem.recipe_v11 import BASELINES, EXTENSIONS, PUBLISHED_SWEEPS, sweep_params, v11_config
from atomdata.sources import open_split


# -- degradations ------------------------------------------------------------------------------------------
def test_to_uint8_is_min_max_and_truncates():
    frame = np.array([[3.0, 4.0, 5.0], [3.5, 4.999, 5.0]])
    assert to_uint8(frame).tolist() == [[0, 127, 255], [63, 254, 255]]
    assert to_uint8(np.full((2, 2), 7.0)).tolist() == [[0, 0], [0, 0]]


def test_published_resolution_values_are_80_pm_plus_whole_blurs_in_quadrature(shared_reference):
    """Their labels are round(sqrt(80^2 + s^2), 2) with s = 100..190 pm (SrTiO3) and 70..290 pm (WS2)."""
    sweeps = json.loads((shared_reference / "wei2022" / "wei2022_sweeps.json").read_text())
    text = json.dumps(sweeps)
    assert "128.06" in text and "300.8" in text
    for value in PUBLISHED_SWEEPS["sto"]["resolution_pm"] + PUBLISHED_SWEEPS["ws2"]["resolution_pm"]:
        s = added_blur_pm(value, 80.0)
        assert abs(s - round(s / 5) * 5) < 0.06, value  # whole multiples of 5 pm
    with pytest.raises(ValueError, match="sharper than the intrinsic probe"):
        added_blur_pm(70.0, 80.0)


def test_blur_keeps_the_sum_and_the_position_and_has_the_asked_width():
    f = np.zeros((65, 65))
    f[32, 40] = 1.0
    g = blur(f, added_fwhm_pm=120.0, pixel_size_A=0.1)  # 12 px FWHM
    assert g.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.unravel_index(g.argmax(), g.shape) == (32, 40)
    row = g[32] / g[32].max()
    above = np.flatnonzero(row >= 0.5)
    assert 11 <= above[-1] - above[0] + 1 <= 13


def test_added_poisson_noise_hits_the_requested_psnr_on_their_definition():
    rng = np.random.default_rng(3)
    frame = shot_noise(np.full((128, 128), 0.3) + np.eye(128), peak_counts=50.0, rng=rng)
    for psnr in (5.5, 14.0, 27.6):
        noisy, s = added_poisson_noise(frame, psnr_db=psnr, rng=rng)
        assert abs(wei_psnr_db(noisy, frame) - psnr) < 0.3
        assert s > 0
    with pytest.raises(ValueError, match="positive maximum"):
        added_poisson_noise(np.zeros((4, 4)), psnr_db=10.0, rng=rng)


def test_background_for_contrast():
    signal = np.array([0.1, 1.0])
    for c in (0.005, 0.23, 0.9):
        b = background_for_contrast(signal, c)
        assert ((1 + b) - (0.1 + b)) / (1 + b) == pytest.approx(c)
    with pytest.raises(ValueError, match="above the frame's own contrast"):
        background_for_contrast(signal, 0.95)


# -- one image ----------------------------------------------------------------------------------------------
def _params(**kw):
    return FrameParams("sto100", shape=(64, 64), seed=11, **{**BASELINES["sto"], **kw})


def test_form_image_is_pure_and_stores_the_8bit_of_raw():
    a, b = form_image(_params()), form_image(_params())
    assert np.array_equal(a.image, b.image) and np.array_equal(a.raw, b.raw)
    assert np.array_equal(a.image, to_uint8(a.raw))
    assert a.raw.dtype == np.float32 and a.image.dtype == np.uint8
    assert np.all(a.raw == np.round(a.raw))  # counts: no blur, no added noise at the baseline


def test_sweeps_share_one_degraded_frame_per_seed():
    """The resolution point is the baseline frame (same shot noise) blurred; the PSNR point adds noise to it."""
    base = form_image(_params())
    blurred = form_image(_params(added_blur_pm=100.0))
    assert np.allclose(blurred.raw, blur(base.raw.astype(float), added_fwhm_pm=100.0, pixel_size_A=0.227), atol=1e-3)
    noisy = form_image(_params(psnr_db=10.0))
    assert abs(wei_psnr_db(noisy.raw, base.raw) - 10.0) < 0.5
    assert np.array_equal(blurred.columns.xy, base.columns.xy)


def test_low_contrast_comes_with_its_own_shot_noise():
    """Contrast is made by a background before the noise: the 8-bit image changes (unlike a black level)."""
    hi, lo = form_image(_params(contrast=0.9)), form_image(_params(contrast=0.1))
    assert hi.quality.contrast.nominal == 0.9 and lo.quality.contrast.nominal == 0.1
    assert lo.quality.background.nominal > 5 * hi.quality.background.nominal
    # the column signal sinks into the background's shot noise: the 8-bit image follows the
    # (practically noise-free) column pattern less closely at low contrast
    clean = form_image(_params(peak_counts=1e7)).raw.astype(float)

    def corr(im):
        return float(np.corrcoef(im.image.astype(float).ravel(), clean.ravel())[0, 1])

    assert corr(lo) < 0.8 * corr(hi)


def test_record_carries_the_visibility_and_the_metrics():
    im = form_image(_params(added_blur_pm=math.sqrt(300.0**2 - 80.0**2)))
    rec = im.to_record(image_id="x-0", split="test", subset="sto_sim_resolution_pm", made_by="atomdata test")
    vis = rec.extra["visibility"]
    assert vis["n_resolved"] < vis["n_target_species"] and vis["resolved_fraction"] < 1
    unresolved = set(vis["unresolved"])
    assert all(not rec.columns.target[i] for i in unresolved)
    xy = rec.columns.xy
    inner = {i for i in unresolved if ((xy[i] > 8) & (xy[i] < 55)).all()}  # away from the frame's edges
    assert inner and {str(rec.columns.species[i]) for i in inner} == {"Ti-O"}
    assert rec.quality.resolution_pm.nominal == pytest.approx(300.0)


def test_parameter_errors_name_the_value():
    with pytest.raises(ValueError, match="peak_counts"):
        form_image(_params(peak_counts=0.0))
    with pytest.raises(ValueError, match="background"):
        form_image(_params(background=-1.0))


# -- the recipe ---------------------------------------------------------------------------------------------
def test_every_published_value_is_swept():
    cfg = v11_config()
    for mat, sweeps in PUBLISHED_SWEEPS.items():
        for metric, values in sweeps.items():
            assert set(values) <= set(cfg.sweeps[mat][metric]), (mat, metric)
            assert set(EXTENSIONS[mat].get(metric, ())) <= set(cfg.sweeps[mat][metric])
    assert cfg.image_size == 256 and cfg.seeds_per_point == 8
    p = sweep_params("sto", "atoms_per_100px", 15.699)
    assert p.pixel_size_A == pytest.approx(0.15699 * 2.7613, rel=1e-3)


def test_get_recipe_knows_both_versions_and_1_0_0_is_unchanged():
    assert get_recipe(version="1.0.0").fingerprint() == get_recipe().fingerprint()
    assert get_recipe(version="1.1.0").version == "1.1.0"
    assert get_recipe(version="1.1.0", quick=True).version == "1.1.0-quick"
    assert get_recipe(version="1.1.0").fingerprint() != get_recipe(version="1.0.0").fingerprint()
    with pytest.raises(ValueError, match="Valid splits"):
        get_recipe(version="1.1.0").n_images("dev")


def test_test_split_shares_the_baseline_seed_across_sweeps():
    cfg = v11_config(quick=True)
    from atomdata.sim.stem.recipe_v11 import v11_specs

    specs = v11_specs(cfg, "test")
    seeds = {(s.subset.split("_sim_")[0], s.extra["sweep"]["seed_index"]): set() for s in specs}
    for s in specs:
        seeds[(s.subset.split("_sim_")[0], s.extra["sweep"]["seed_index"])].add(s.params.seed)
    assert all(len(v) == 1 for v in seeds.values())
    assert len({next(iter(v)) for v in seeds.values()}) == len(seeds)


@pytest.fixture(scope="module")
def quick11(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("q11") / "ds", version="1.1.0", quick=True, workers=1,
                         progress=False)


def test_quick_build_has_8bit_images_raw_frames_and_visibility(quick11):
    from atomdata.storage import read_manifest

    man = read_manifest(quick11)
    assert man.version == "1.1.0-quick" and set(man.splits) == {"train", "val", "test", "generality"}
    test = open_split(quick11, "test")
    assert test.array_names == ["raw"]
    rec, img = test[0]
    assert img.dtype == np.uint8 and rec.dtype == "uint8"
    assert np.array_equal(img, to_uint8(test.array("raw", 0)))
    assert "visibility" in rec.extra and rec.extra["sweep"]["metric"]
    subsets = {str(s) for s in test.subsets}
    assert {f"{m}_sim_{k}" for m in ("sto", "ws2") for k in ("resolution_pm", "psnr_db", "contrast",
                                                             "flyback_error_px", "random_drift",
                                                             "atoms_per_100px")} == subsets
    assert rec.provenance.simulator_version.startswith("frames 1.1 (atomdata 0.2.0)")


def test_two_quick_builds_are_byte_identical(quick11, tmp_path):
    from atomdata.storage import read_manifest

    again = build_dataset(tmp_path / "again", version="1.1.0", quick=True, splits=["val", "generality"], workers=2,
                          progress=False)
    a, b = read_manifest(quick11), read_manifest(again)
    for s in ("val", "generality"):
        assert a.splits[s].sha256 == b.splits[s].sha256


def test_visibility_choice_changes_the_scored_columns(quick11):
    from atomdata.evaluation import score_split

    test = open_split(quick11, "test")
    i = next(k for k in range(len(test)) if test.record(k).extra["visibility"]["unresolved"])
    rec = test.record(i)
    preds = {rec.image_id: rec.columns.xy[rec.columns.target]}  # exactly the resolved columns
    resolved = score_split(preds, test, subsets=[rec.subset], missing="skip")
    every = score_split(preds, test, subsets=[rec.subset], missing="skip", visibility="all")
    assert resolved.scores[0].id_recall == 1.0
    assert every.scores[0].n_gt > resolved.scores[0].n_gt  # (border-band columns are not scored in either)
    assert every.scores[0].id_recall < 1.0 and every.scores[0].tp == resolved.scores[0].tp
    with pytest.raises(ValueError, match="visibility must be one of"):
        score_split(preds, test, missing="skip", visibility="some")


def test_replace_keeps_frame_params_frozen():
    p = _params()
    assert replace(p, psnr_db=5.0).psnr_db == 5.0 and p.psnr_db is None


def test_torch_dataset_reads_the_8bit_images(quick11):
    from atomdata import AtomColumnDataset

    ds = AtomColumnDataset(quick11, split="val")
    item = ds[0]
    img = item["image"]
    assert tuple(img.shape[-2:]) == (64, 64) and float(img.max()) <= 1.0 + 1e-6
