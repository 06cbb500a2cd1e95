"""The image simulator: exact labels, metrics that match the request, distortions, determinism."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from atomdata.schema import ImageRecord
from atomdata.sim.stem.catalog import STRUCTURES, get_structure
from atomdata.sim.stem.image import ImageParams, measure_contrast, measure_psnr_db, scan_path, simulate_image
from atomdata.sim.stem.probe import AberrationProbe, GaussianProbe, measure_fwhm_px, wavelength_A
from atomdata.sim.stem.render import render_columns


def subpixel_peak(img: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """Hill-climb from the pixel nearest (x, y) to a local maximum, then fit a parabola to log I in x and y.

    The log of a Gaussian is a parabola, so the 3-point fit is exact for an isolated Gaussian peak.
    """
    h, w = img.shape
    i, j = int(round(y)), int(round(x))
    while True:
        win = img[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
        di, dj = np.unravel_index(np.argmax(win), win.shape)
        ni, nj = max(i - 1, 0) + di, max(j - 1, 0) + dj
        if (ni, nj) == (i, j):
            break
        i, j = ni, nj
    if not (1 <= i < h - 1 and 1 <= j < w - 1):
        return np.nan, np.nan
    l = np.log(np.maximum(img[i - 1:i + 2, j - 1:j + 2], 1e-300))

    def vertex(a, b, c):
        return 0.5 * (a - c) / (a - 2 * b + c)

    return j + vertex(l[1, 0], l[1, 1], l[1, 2]), i + vertex(l[0, 1], l[1, 1], l[2, 1])


@pytest.mark.parametrize("x0, y0", [(10.0, 7.0), (10.37, 7.81), (5.5, 12.25)])
def test_single_column_is_found_at_its_subpixel_position(x0, y0):
    img = render_columns([[x0, y0]], [1.0], shape=(20, 24), pixel_size_A=0.1, probe=GaussianProbe(60.0))
    x, y = subpixel_peak(img, x0, y0)
    assert (x, y) == pytest.approx((x0, y0), abs=1e-4)
    assert img[int(round(y0)), int(round(x0))] == pytest.approx(img.max())  # image[y, x]


def test_renderers_agree():
    """Dense, splatted and per-row Fourier renderings of the same columns are the same image."""
    from atomdata.sim.stem import render as S

    rng = np.random.default_rng(0)
    xy = rng.uniform(-5, 70, (60, 2))
    w = rng.uniform(1, 3, 60)
    tiny = np.full(64, 1e-12)  # forces the shifted-row renderers
    for sigma in (1.2, 2.5, 5.0):
        dense = S._render_gaussian_dense(xy, w, sigma, (64, 64), None)
        splat = S._render_gaussian_splat(xy, w, sigma, (64, 64), None, tiny)
        assert np.abs(splat - dense).max() < 1e-5 * dense.max()
        if sigma >= 2:
            four = S._render_gaussian_rows_fourier(xy, w, sigma, (64, 64), None, tiny)
            assert np.abs(four - dense).max() < 1e-5 * dense.max()


def test_row_shift_moves_each_row():
    shift = np.linspace(-2.0, 2.0, 32)
    for sigma_pm in (25.0, 60.0):  # splat (narrow) and Fourier (wide) paths
        img = render_columns([[15.3, 16.0]], [1.0], shape=(32, 32), pixel_size_A=0.05,
                             probe=GaussianProbe(sigma_pm), row_shift_x=shift)
        for y in (12, 16, 20):
            row = img[y]
            j = int(np.argmax(row))
            l = np.log(row[j - 1:j + 2])
            xs = j + 0.5 * (l[0] - l[2]) / (l[0] - 2 * l[1] + l[2])
            assert xs == pytest.approx(15.3 - shift[y], abs=1e-3)


def test_aberration_probe_peak_and_width():
    p = AberrationProbe(semiangle_mrad=25.0, energy_keV=200.0)
    # diffraction limit of an Airy disc: FWHM = 0.514 lambda / alpha
    assert p.fwhm_pm() == pytest.approx(0.514 * wavelength_A(200.0) / 0.025 * 100, rel=0.02)
    assert p.fwhm_pm(source_size_pm=40.0) > p.fwhm_pm()
    assert AberrationProbe(25.0, defocus_A=60.0).fwhm_pm() > p.fwhm_pm()
    img = render_columns([[16.0, 16.0]], [1.0], shape=(33, 33), pixel_size_A=0.05, probe=p)
    assert np.unravel_index(img.argmax(), img.shape) == (16, 16)
    assert measure_fwhm_px(img) * 5.0 == pytest.approx(p.fwhm_pm(), rel=0.05)  # 0.05 Å/px = 5 pm/px


def test_aberration_probe_places_columns_subpixel():
    p = AberrationProbe(semiangle_mrad=25.0, energy_keV=200.0)
    a = render_columns([[16.0, 16.0]], [1.0], shape=(33, 33), pixel_size_A=0.05, probe=p)
    b = render_columns([[16.5, 16.0]], [1.0], shape=(33, 33), pixel_size_A=0.05, probe=p)
    # half a pixel to the right: the image is symmetric about x = 16.5
    assert b[:, 16] == pytest.approx(b[:, 17], rel=1e-6)
    assert not np.allclose(a, b)


@pytest.mark.parametrize("name", STRUCTURES)
def test_labels_coincide_with_intensity_maxima(name):
    """Acceptance: on noise-free images (resolution well below the spacing) every target's maximum is < 0.05 px away."""
    spacing = get_structure(name).lattice.nearest_column_spacing_A
    params = ImageParams(name, shape=(96, 96), pixel_size_A=spacing / 12, resolution_pm=35 * spacing,
                         source_size_pm=10 * spacing, rotation_deg=23.0, psnr_db=None, dose_e_per_A2=None,
                         contrast=None, dtype="float32", seed=5)
    sim = simulate_image(params)
    img = sim.image.astype(np.float64)
    t = sim.columns.target_xy
    t = t[((t > 3) & (t < 92)).all(axis=1)]
    assert len(t) >= 10
    found = np.array([subpixel_peak(img, x, y) for x, y in t])
    err = np.linalg.norm(found - t, axis=1)
    assert np.nanmax(err) < 0.05, f"{name}: worst label error {np.nanmax(err):.3f} px"
    assert not np.isnan(err).any()


@pytest.mark.parametrize("material", ["sto100", "ws2"])
@pytest.mark.parametrize("contrast", [0.005, 0.05, 0.3, 0.8, 1.0])
@pytest.mark.parametrize("psnr", [2.0, 10.0, 28.0])
def test_measured_contrast_and_psnr_match_request(material, contrast, psnr):
    sim = simulate_image(ImageParams(material, shape=(96, 96), contrast=contrast, psnr_db=psnr, seed=11))
    q = sim.quality
    assert q.contrast.measured == pytest.approx(contrast, rel=0.10)
    assert q.psnr_db.measured == pytest.approx(psnr, rel=0.10)
    # the metrics are measured on the stored image
    assert measure_contrast(sim.image) == pytest.approx(q.contrast.measured, rel=1e-6)


def test_dose_sets_shot_noise():
    lo = simulate_image(ImageParams("sto100", shape=(96, 96), dose_e_per_A2=100.0, psnr_db=None, seed=2))
    hi = simulate_image(ImageParams("sto100", shape=(96, 96), dose_e_per_A2=1e5, psnr_db=None, seed=2))
    assert lo.quality.psnr_db.measured < hi.quality.psnr_db.measured - 15  # 1000x dose: ~30 dB better
    assert lo.quality.dose_e_per_A2.nominal == 100.0


def test_psnr_with_dose_adds_readout_noise_to_reach_the_target():
    sim = simulate_image(ImageParams("sto100", shape=(96, 96), dose_e_per_A2=1e4, psnr_db=12.0, seed=4))
    assert sim.quality.psnr_db.measured == pytest.approx(12.0, rel=0.1)


def test_measure_functions():
    assert measure_contrast(np.array([[2.0, 8.0]])) == pytest.approx(0.75)
    clean = np.array([0.0, 10.0, 5.0, 5.0])
    assert measure_psnr_db(clean + np.array([1, -1, 1, -1]), clean) == pytest.approx(20.0)
    assert measure_psnr_db(clean, clean) is None


def test_scan_path_metrics_and_monotonic_rows():
    rng = np.random.default_rng(0)
    p = scan_path((256, 256), flyback_error_px=2.0, random_drift=0.3, rng=rng)
    assert np.all(np.diff(p.row_y) > 0)
    assert p.max_drift_px == pytest.approx(0.3 * 256, rel=1e-3)
    assert np.sqrt(np.mean(p.flyback_px**2)) == pytest.approx(2.0, rel=0.15)
    # apparent() inverts the sampling: a specimen point sampled by row y lands on row y
    y = np.array([10.0, 100.0, 200.0])
    spec = np.column_stack([50 + p.drift(y / 256)[:, 0], p.row_y[y.astype(int)]])
    assert p.apparent(spec) == pytest.approx(np.column_stack([np.full(3, 50.0), y]), abs=1e-3)


def test_drifted_labels_follow_the_image():
    params = ImageParams("sto100", shape=(128, 128), random_drift=0.15, psnr_db=None, contrast=None,
                         resolution_pm=70.0, source_size_pm=20.0, dtype="float32", seed=8)
    sim = simulate_image(params)
    still = simulate_image(replace(params, random_drift=0.0))
    t = sim.columns.target_xy
    t = t[((t > 4) & (t < 123)).all(axis=1)]
    found = np.array([subpixel_peak(sim.image.astype(float), x, y) for x, y in t])
    err = np.linalg.norm(found - t, axis=1)
    assert np.nanmedian(err) < 0.15  # drift stretches blobs slightly; labels track them
    assert sim.quality.random_drift.measured == pytest.approx(0.15, rel=1e-3)
    shift = np.abs(sim.columns.target_xy.mean(axis=0) - still.columns.target_xy.mean(axis=0)).max()
    assert shift > 1.0  # the drift really moved the lattice


def test_flyback_labels_stay_put_and_metric_is_measured():
    base = ImageParams("ws2", shape=(128, 128), psnr_db=None, contrast=None, seed=3)
    a, b = simulate_image(base), simulate_image(replace(base, flyback_error_px=1.5))
    assert np.allclose(a.columns.xy, b.columns.xy)  # zero-mean line jitter does not move labels
    assert not np.array_equal(a.image, b.image)
    assert b.quality.flyback_error_px.measured == pytest.approx(1.5, rel=0.2)


def test_simulation_is_a_pure_function_of_params():
    p = ImageParams("sto100_defects", shape=(64, 64), psnr_db=15.0, dose_e_per_A2=3000.0, flyback_error_px=0.5,
                    random_drift=0.05, seed=123)
    a, b = simulate_image(p), simulate_image(p)
    assert a.image.tobytes() == b.image.tobytes() and a.columns == b.columns
    c = simulate_image(replace(p, seed=124))
    assert a.image.tobytes() != c.image.tobytes()


def test_record_is_valid_and_complete():
    p = ImageParams("ws2", shape=(64, 64), psnr_db=20.0, seed=1)
    sim = simulate_image(p)
    rec = sim.to_record(image_id="x-1", split="test", subset="ws2_sim_psnr_db", extra={"sweep": {"value": 20.0}})
    rec2 = ImageRecord.model_validate_json(rec.model_dump_json())
    assert rec2.provenance.parameters["seed"] == 1 and rec2.provenance.seed == 1
    q = rec2.quality
    for name in ("atoms_per_100px", "contrast", "psnr_db", "resolution_pm", "flyback_error_px",
                 "random_drift", "background"):
        assert getattr(q, name).measured is not None, name
    assert q.atoms_per_100px.measured == pytest.approx(q.atoms_per_100px.nominal, rel=1e-3)
    assert rec2.lattice.material == "WS2" and rec2.extra["sweep"]["value"] == 20.0
    assert sim.image.dtype == np.uint16 and sim.image.max() == 60000


@pytest.mark.parametrize("bad, match", [
    (dict(contrast=1.5), "contrast"),
    (dict(dose_e_per_A2=-1.0), "dose_e_per_A2"),
    (dict(dtype="int8"), "dtype"),
    (dict(probe="lorentzian"), "probe"),
    (dict(resolution_pm=30.0), "resolution_pm"),
])
def test_bad_parameters_are_explained(bad, match):
    with pytest.raises(ValueError, match=match):
        simulate_image(ImageParams("sto100", shape=(32, 32), **bad))


def test_render_columns_rejects_bad_input():
    with pytest.raises(ValueError, match="weights"):
        render_columns([[1, 2]], [1, 2], shape=(8, 8), pixel_size_A=0.1)
    with pytest.raises(ValueError, match="pixel_size_A"):
        render_columns([[1, 2]], [1], shape=(8, 8), pixel_size_A=0)
    with pytest.raises(ValueError, match="fold"):
        render_columns([[1, 2]], [1], shape=(3, 8), pixel_size_A=0.1, row_y=[0, 2, 1])


@pytest.mark.slow
@pytest.mark.abtem
def test_fast_model_matches_abtem_prism_with_frozen_phonons():
    """Higher-fidelity check: abTEM PRISM (frozen phonons) vs the fast model on one small SrTiO3 [100] slab."""
    pytest.importorskip("abtem")
    from atomdata.sim.stem.fidelity import abtem_haadf, fit_fast_model, sto_slab

    ref = abtem_haadf(sto_slab((3, 3, 5)), num_configs=4, seed=1)
    assert ref.image.shape == (40, 40)
    # the brightest pixel is on a Sr column (cell corner), the scan is image[y, x]
    y, x = np.unravel_index(ref.image.argmax(), ref.image.shape)
    a_px = 3.905 / ref.pixel_size_A
    assert min(x, a_px - x) < 1.5 and min(y, a_px - y) < 1.5
    fit = fit_fast_model(ref)
    assert fit["pearson"] >= 0.98, fit
    assert 1.3 < fit["exponent"] < 2.1 and 30 < fit["fwhm_pm"] < 120
