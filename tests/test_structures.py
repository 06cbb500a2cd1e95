"""Projected structures: geometry against textbook values, the labelling rule, tiling, defects."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from atomdata.schema import Lattice
from atomdata.sim.stem.catalog import STRUCTURES, get_structure
from atomdata.sim.stem.structures import column_weights, project_atoms

# nearest target-column spacing from textbook geometry (not from the code under test)
EXPECTED_SPACING_A = {
    "sto100": 3.905 / math.sqrt(2),  # Sr to Ti-O, half a face diagonal
    "ws2": 3.18 / math.sqrt(3),  # W to S2 in projection
    "si110": 5.431 / 4,  # dumbbell: a/4 along [001]
    "gaas110": 5.653 / 4,
    "graphene_si": 2.46 / math.sqrt(3),  # C-C bond
    "sto100_defects": 3.905 / math.sqrt(2),
    "sto_gb_sigma5": 3.905 / math.sqrt(2),  # median: bulk-like grains
}


@pytest.mark.parametrize("name", STRUCTURES)
def test_every_structure_builds_with_valid_lattice(name):
    s = get_structure(name)
    assert isinstance(s.lattice, Lattice)
    assert len(s) >= 2 and s.target.sum() >= 1
    assert (s.xy_A >= 0).all() and (s.xy_A < s.cell_A).all()
    assert s.lattice.nearest_column_spacing_A > 0.5
    if name in EXPECTED_SPACING_A:
        assert s.lattice.nearest_column_spacing_A == pytest.approx(EXPECTED_SPACING_A[name], abs=2e-3)


def test_srtio3_columns_and_labelling_rule():
    s = get_structure("sto100")
    assert sorted(s.species.tolist()) == ["O", "O", "Sr", "Ti-O"]
    target = dict(zip(s.species.tolist(), s.target.tolist()))
    assert target == {"Sr": True, "Ti-O": True, "O": False}
    # Ti-O column: one Ti and one O per 3.905 Å repeat -> weight 22^1.7 + 8^1.7
    w = dict(zip(s.species.tolist(), s.weights(1.7).tolist()))
    assert w["Ti-O"] == pytest.approx(22**1.7 + 8**1.7)
    assert w["Sr"] == pytest.approx(38**1.7)


def test_ws2_s2_columns_are_targets_by_brightness():
    s = get_structure("ws2")
    assert sorted(set(s.species.tolist())) == ["S2", "W"]
    assert s.target.all()  # S2 weight is 15 % of W (>= 10 %), so scored
    w = dict(zip(s.species.tolist(), s.weights(1.7).tolist()))
    assert w["S2"] / w["W"] == pytest.approx(2 * 16**1.7 / 74**1.7)


def test_si_dumbbells_are_pairs_of_equal_columns():
    s = get_structure("si110")
    d, _ = cKDTree(s.xy_A, boxsize=s.cell_A).query(s.xy_A, k=2)
    assert np.allclose(d[:, 1], 5.431 / 4, atol=1e-3)  # every column has its dumbbell partner at a/4


def test_interface_has_both_materials_and_oxygen_is_not_scored():
    s = get_structure("sto_lao_interface")
    names = set(s.species.tolist())
    assert {"Sr", "Ti-O", "La", "Al-O", "O"} <= names
    assert not s.target[s.species == "O"].any()
    assert s.target[s.species == "Al-O"].all()


def test_column_weights_examples():
    assert column_weights(np.array([[2, 1]]), np.array([16, 74]), 2.0).tolist() == [2 * 256 + 5476]


def test_project_atoms_groups_atoms_along_the_beam():
    from ase import Atoms

    atoms = Atoms("SrOO", positions=[[1.0, 1.0, 0.0], [1.05, 1.0, 1.5], [3.0, 2.0, 0.0]], cell=[4, 4, 3], pbc=True)
    p = project_atoms(atoms, tolerance_A=0.2)
    assert sorted(p["species"].tolist()) == ["O", "Sr-O"]
    sro = p["xy_A"][p["species"] == "Sr-O"][0]
    assert sro == pytest.approx([1.025, 1.0])


def test_project_atoms_rejects_oblique_cell():
    from ase import Atoms

    atoms = Atoms("C", positions=[[0, 0, 0]], cell=[[2, 0, 0], [1, 2, 0], [0, 0, 2]])
    with pytest.raises(ValueError, match="rectangular"):
        project_atoms(atoms)


def test_unknown_structure_names_the_valid_ones():
    with pytest.raises(KeyError, match="sto100"):
        get_structure("sto101")


def test_tile_puts_the_offset_point_at_the_image_centre():
    s = get_structure("sto100")
    sr = s.xy_A[s.species == "Sr"][0]
    cols = s.tile((31, 40), 0.2, offset_A=sr + np.array([0.1, -0.05]))
    centre = np.array([(40 - 1) / 2, (31 - 1) / 2])
    d = np.linalg.norm(cols.xy - centre, axis=1)
    i = int(np.argmin(d))
    assert cols.species[i] == "Sr"
    # the Sr column is 0.1 Å left of and 0.05 Å below the centre: (-0.5, +0.25) px
    assert cols.xy[i] - centre == pytest.approx([-0.5, 0.25])


def test_tile_covers_the_image_with_the_right_density():
    s = get_structure("sto100")
    cols = s.tile((200, 300), 0.1, rng=None)
    inside = (cols.xy[:, 0] >= -0.5) & (cols.xy[:, 0] < 299.5) & (cols.xy[:, 1] >= -0.5) & (cols.xy[:, 1] < 199.5)
    area_cells = (200 * 0.1) * (300 * 0.1) / 3.905**2
    n_sr = int((cols.species[inside] == "Sr").sum())
    assert abs(n_sr - area_cells) <= 2 * (200 * 0.1 + 300 * 0.1) / 3.905  # edge effects only


@settings(max_examples=25, deadline=None)
@given(rotation=st.floats(0, 360), px=st.floats(0.05, 0.4))
def test_tiled_spacing_is_rotation_invariant(rotation, px):
    s = get_structure("ws2")
    cols = s.tile((64, 64), px, rotation_deg=rotation)
    t = cols.xy[cols.target]
    d, _ = cKDTree(t).query(t, k=2)
    assert np.median(d[:, 1]) * px == pytest.approx(3.18 / math.sqrt(3), rel=1e-6)


def test_defects_are_random_per_image_but_reproducible():
    s = get_structure("sto100_defects")
    with pytest.raises(ValueError, match="rng"):
        s.tile((64, 64), 0.2)
    a = s.tile((128, 128), 0.2, rng=np.random.default_rng(1))
    b = s.tile((128, 128), 0.2, rng=np.random.default_rng(1))
    c = s.tile((128, 128), 0.2, rng=np.random.default_rng(2))
    assert np.array_equal(a.xy, b.xy) and np.array_equal(a.species, b.species)
    assert not (len(a.xy) == len(c.xy) and np.array_equal(a.species, c.species))
    assert "La" in set(a.species.tolist())
    perfect = get_structure("sto100").tile((128, 128), 0.2)
    assert (a.species == "Sr").sum() < (perfect.species == "Sr").sum()  # vacancies and substitutions


def test_graphene_dopants_are_targets_and_brighter():
    s = get_structure("graphene_si")
    cols = s.tile((256, 256), 0.3, rng=np.random.default_rng(0))
    si = cols.species == "Si"
    assert si.any() and cols.target[si].all()
    w = cols.weights(1.7)
    assert w[si].min() > w[cols.species == "C"].max()
