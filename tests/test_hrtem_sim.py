"""HRTEM image formation: physical constants, positions, contrast sign, structures, supports, labels."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_erosion, binary_fill_holes, distance_transform_edt
from scipy.spatial import cKDTree

from atomdata.sim.hrtem.image import Camera, Grid, Optics, camera_image, image_from_wave, multislice, slice_edges
from atomdata.sim.hrtem.labels import metallic_radius_A, particle_labels
from atomdata.sim.hrtem.optics import interaction_constant, lens_transfer, scherzer_defocus_nm, wavelength_A
from atomdata.sim.hrtem.potentials import projected_potential, scattering_factor
from atomdata.sim.hrtem.structures import (
    ELEMENTS,
    SHAPES,
    ParticleSpec,
    amorphous_carbon,
    build_particle,
    n_atoms_for_diameter,
)


# -- constants (textbook values, Kirkland 2010, table 2.2 and eq. 5.6) --------------------------------
@pytest.mark.parametrize("kv, lam, sigma", [(100, 0.03701, 0.0009244), (200, 0.02508, 0.0007288),
                                            (300, 0.01969, 0.0006526)])
def test_wavelength_and_interaction_constant_match_published_values(kv, lam, sigma):
    assert wavelength_A(kv) == pytest.approx(lam, abs=2e-5)
    assert interaction_constant(kv) == pytest.approx(sigma, rel=2e-3)


def test_scattering_factors_at_zero_angle_are_the_tabulated_ones():
    # f_e(0) [Å] of neutral atoms (Kirkland 2010, appendix C): C 2.51, Au about 7.9 (heavier scatters more)
    assert float(scattering_factor("C", 0.0)) == pytest.approx(2.51, abs=0.03)
    f = {el: float(scattering_factor(el, 0.0)) for el in ("Ag", "Pd", "Pt", "Au")}
    assert f["Pt"] > f["Ag"] and f["Au"] > f["Pd"]
    with pytest.raises(ValueError, match="No Lobato parameters for 'Xx'"):
        scattering_factor("Xx", 0.0)


def test_a_single_atom_appears_where_it_was_put():
    # (x, y) = (3.0, 5.0) Å on a 0.25 Å grid: column 12, row 20
    v = projected_potential({"Au": np.array([[3.0, 5.0]])}, (40, 40), 0.25)
    assert np.unravel_index(v.argmax(), v.shape) == (20, 12)


def test_projected_potential_integrates_to_the_scattering_factor_at_zero():
    # the integral of v_z over the plane is 2 pi a0 e f_e(0) [V Å^3]: 47.878 V Å^2 x f_e(0)
    v = projected_potential({"C": np.array([[4.1, 3.3]])}, (64, 64), 0.125)
    assert v.sum() * 0.125**2 == pytest.approx(47.878 * float(scattering_factor("C", 0.0)), rel=1e-4)


def test_atoms_are_dark_at_scherzer_focus():
    # positive phase contrast: a weak phase object images dark at Scherzer defocus (Kirkland 2010, ch. 3)
    g = Grid(shape=(32, 32), pixel_size_A=0.25, oversampling=1, margin_px=8)
    xy_field = np.array([[16 * 0.25, 16 * 0.25, 0.0]])
    wave = multislice({"C": xy_field}, g, voltage_kV=300, slice_thickness_A=2.0)
    optics = Optics(defocus_nm=scherzer_defocus_nm(voltage_kV=300, Cs_mm=1.0), Cs_mm=1.0, focal_spread_nm=0,
                    convergence_mrad=0)
    img, _ = camera_image(image_from_wave(wave, g, optics), g, Camera(mtf_b=1.0))
    assert img[16, 16] < 0.99 * np.median(img)
    assert np.unravel_index(img.argmin(), img.shape) == (16, 16)


def test_lens_transfer_envelopes_damp_high_frequencies():
    coherent = lens_transfer((64, 64), 0.2, voltage_kV=300, defocus_nm=50, Cs_mm=1.0)
    damped = lens_transfer((64, 64), 0.2, voltage_kV=300, defocus_nm=50, Cs_mm=1.0, focal_spread_nm=5,
                           convergence_mrad=0.5, aperture_mrad=15)
    assert np.allclose(np.abs(coherent), 1, atol=1e-6)
    assert np.abs(damped).max() <= 1 + 1e-6 and np.abs(damped[0, 20]) < 0.5 * np.abs(coherent[0, 20])
    q_aperture = 15e-3 / wavelength_A(300)
    assert np.abs(damped[0, int(q_aperture * 64 * 0.2) + 1]) == 0


def test_slice_edges_cover_the_specimen():
    e = slice_edges(0.0, 23.0, 5.0, support_from_z_A=12.0, support_slice_thickness_A=10.0)
    assert e[0] == 0.0 and e[-1] > 23.0 and np.all(np.diff(e) > 0)
    with pytest.raises(ValueError, match="slice_thickness_A must be > 0, got 0"):
        slice_edges(0.0, 1.0, 0.0)


def test_noise_follows_the_dose():
    g = Grid(shape=(64, 64), pixel_size_A=0.5, margin_px=4)
    flat = np.ones(g.sim_shape)
    rel = []
    for dose in (100.0, 10000.0):
        img, clean = camera_image(flat, g, Camera(dose_e_per_A2=dose, mtf_b=1.0), rng=0)
        rel.append(float(np.std(img - clean)))
        # Poisson: relative noise 1 / sqrt(dose * pixel area)
        assert rel[-1] == pytest.approx(1 / np.sqrt(dose * 0.25), rel=0.1)
    assert rel[0] > 5 * rel[1]


# -- structures ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_particles_have_about_the_atoms_of_their_sphere(shape):
    p = build_particle(ParticleSpec("Au", shape, 3.0, "[110]"), rng=0)
    n = n_atoms_for_diameter("Au", 3.0)
    assert 0.5 * n < p.n_atoms < 2.0 * n
    d = np.sort(cKDTree(p.positions_A).query(p.positions_A, k=2)[0][:, 1])
    assert d[0] > 2.5  # no two atoms closer than 2.5 Å (Au nearest neighbours: 2.88 Å)


def test_zone_axis_particles_project_onto_columns_and_tilted_ones_do_not():
    on = build_particle(ParticleSpec("Au", "truncated_octahedron", 3.0, "[110]"), rng=0)
    off = build_particle(ParticleSpec("Au", "truncated_octahedron", 3.0, "[110]", off_axis_deg=10.0), rng=0)
    cols_on = len(np.unique(np.round(on.positions_A[:, :2], 2), axis=0))
    cols_off = len(np.unique(np.round(off.positions_A[:, :2], 2), axis=0))
    assert cols_on < on.n_atoms / 4 and cols_off > 0.9 * off.n_atoms


def test_a_twin_changes_the_stacking():
    a = build_particle(ParticleSpec("Au", "octahedron", 3.0, "[110]"), rng=1)
    b = build_particle(ParticleSpec("Au", "octahedron", 3.0, "[110]", twinned=True), rng=1)
    assert a.n_atoms == b.n_atoms and not np.allclose(np.sort(a.positions_A, 0), np.sort(b.positions_A, 0))


def test_build_particle_errors_name_the_value():
    with pytest.raises(ValueError, match="Unknown shape 'cube'"):
        build_particle(ParticleSpec("Au", "cube", 3.0))
    with pytest.raises(ValueError, match="Unknown element 'Fe'"):
        build_particle(ParticleSpec("Fe", "wulff", 3.0))
    with pytest.raises(ValueError, match="Unknown zone axis"):
        build_particle(ParticleSpec("Au", "wulff", 3.0, "[123]"))


def _peak_ratio(xyz) -> float:
    h, _, _ = np.histogram2d(xyz[:, 0], xyz[:, 1], bins=80, range=[[0, 40], [0, 40]])
    spec = np.abs(np.fft.fft2(h - h.mean()))
    return float(spec.max() / np.median(spec[spec > 0]))


def test_amorphous_carbon_has_the_density_and_no_close_pairs():
    c = amorphous_carbon((40.0, 40.0), 3.0, z0_A=5.0, rng=3)
    assert c[:, 2].min() >= 5.0 and c[:, 2].max() < 35.0
    assert len(c) / (40 * 40 * 30) == pytest.approx(2.0 / 12.011 * 0.6022, rel=0.03)
    assert cKDTree(c).query(c, k=2)[0][:, 1].min() > 1.0
    # no crystal in projection: the strongest Fourier component of the projected density is far below
    # that of the same cubic lattice without jitter and rotation (sharp Bragg peaks)
    s = (2.0 / 12.011 * 0.6022) ** (-1 / 3)
    g = np.arange(0, 40, s)
    crystal = np.stack(np.meshgrid(g, g, np.arange(0, 30, s), indexing="ij"), -1).reshape(-1, 3)
    assert _peak_ratio(c) < 0.2 * _peak_ratio(crystal)


# -- labels ----------------------------------------------------------------------------------------------
def _edge(m):
    return m & ~binary_erosion(m)


@pytest.mark.parametrize("shape, zone, element", [("truncated_octahedron", "[110]", "Au"), ("decahedron", "[100]", "Pt"),
                                                  ("wulff", "[111]", "Ag"), ("icosahedron", "[112]", "Pd")])
def test_mask_boundary_is_the_particles_projected_extent(shape, zone, element):
    """The documented label test: a particle alone in vacuum, noise-free exit wave (2 Å slices); where the
    wave differs from the vacuum wave by more than 3 % (|psi - 1| > 0.03, holes filled) is the particle's
    projected extent as the electrons see it. It agrees with the mask: IoU >= 0.9 and the two boundaries
    lie on average within 1.5 px (0.75 Å, half a metallic radius) of each other."""
    g = Grid(shape=(96, 96), pixel_size_A=0.5, margin_px=8)
    p = build_particle(ParticleSpec(element, shape, 3.0, zone, rotation_deg=17, center_xy_A=(24.0, 23.0)), rng=0)
    inst, areas = particle_labels([p], g.shape, g.pixel_size_A)
    w = multislice({element: p.positions_A}, g, voltage_kV=300, slice_thickness_A=2.0)
    k, m = g.oversampling, g.margin_px
    d = np.abs(w - 1).reshape(w.shape[0] // k, k, w.shape[1] // k, k).mean((1, 3))[m:-m, m:-m]
    extent, mask = binary_fill_holes(d > 0.03), inst > 0
    assert (extent & mask).sum() / (extent | mask).sum() >= 0.9
    mean_dist = 0.5 * (distance_transform_edt(~_edge(mask))[_edge(extent)].mean()
                       + distance_transform_edt(~_edge(extent))[_edge(mask)].mean())
    assert mean_dist <= 1.5
    assert areas == {0: int(mask.sum())}


def test_overlapping_particles_split_by_nearest_atom_and_cut_particles_label_only_inside():
    a = build_particle(ParticleSpec("Au", "octahedron", 3.0, "[110]", center_xy_A=(10.0, 10.0)), rng=0)
    b = build_particle(ParticleSpec("Au", "octahedron", 3.0, "[100]", center_xy_A=(22.0, 10.0)), rng=0)
    c = build_particle(ParticleSpec("Au", "octahedron", 3.0, "[100]", center_xy_A=(-5.0, 30.0)), rng=0)
    inst, areas = particle_labels([a, b, c], (48, 48), 0.5)
    assert set(np.unique(inst)) == {0, 1, 2, 3}
    assert inst[20, 20] == 1 and inst[20, 44] == 2
    assert 0 < areas[2] and areas[2] < areas[0]  # c is cut by the border
    r = metallic_radius_A("Au") / 0.5
    xy = a.positions_A[:, :2] / 0.5
    ys, xs = np.nonzero(inst == 1)
    # every pixel of particle 1 lies within r of one of its atoms, or in a hole enclosed by such pixels
    d = cKDTree(xy).query(np.column_stack([xs, ys]))[0]
    assert np.mean(d <= r + 1e-9) > 0.97


def test_all_elements_have_labels():
    for el in ELEMENTS:
        p = build_particle(ParticleSpec(el, "wulff", 2.0, center_xy_A=(8.0, 8.0)), rng=0)
        inst, areas = particle_labels([p], (32, 32), 0.5)
        assert areas[0] > 50


# -- fidelity against abTEM (optional extra, slow) ----------------------------------------------------------
@pytest.mark.slow
@pytest.mark.abtem
def test_image_model_agrees_with_abtem_on_every_case():
    pytest.importorskip("abtem")
    from atomdata.sim.hrtem.fidelity import CASES, compare_case

    rs = [compare_case(c)["pearson_r"] for c in CASES]
    assert len(rs) >= 3 and min(rs) >= 0.95, rs


@pytest.mark.slow
@pytest.mark.abtem
def test_multislice_equals_abtem_at_equal_slicing():
    """With abTEM's own slicing (2 Å) the two multislice implementations agree almost exactly."""
    pytest.importorskip("abtem")
    from atomdata.sim.hrtem.fidelity import abtem_intensity

    g = Grid(shape=(32, 32), pixel_size_A=0.5, margin_px=4)
    p = build_particle(ParticleSpec("Au", "octahedron", 1.5, "[110]", center_xy_A=(8.0, 8.0)), rng=0)
    atoms = {"Au": p.positions_A, "C": amorphous_carbon(g.extent_A, 1.0, z0_A=p.positions_A[:, 2].max() + 1, rng=0)
             - np.array([(g.margin_px + 0.5) * 0.5 - 0.125, (g.margin_px + 0.5) * 0.5 - 0.125, 0.0])}
    optics = Optics(defocus_nm=40.0)
    ours = image_from_wave(multislice(atoms, g, voltage_kV=300, slice_thickness_A=2.0), g, optics)
    ref = abtem_intensity(atoms, g, optics, slice_thickness_A=2.0)
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.999
