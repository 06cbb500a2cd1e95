"""The catalogue of projected structures the STEM benchmark images (SrTiO3, WS2, Si, GaAs, graphene, ...).

Each builder makes an ASE structure with the zone axis along ``z`` and hands it
to :func:`atomdata.sim.stem.structures.project_atoms`; :func:`get_structure`
builds each once per process. Lattice parameters are in Angstrom.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from atomdata.schema import Lattice, StructureKind
from atomdata.sim.stem.structures import Defects, ProjectedStructure, project_atoms

__all__ = ["STRUCTURES", "get_structure", "perovskite", "A_STO", "A_LAO", "A_PTO", "A_WS2"]


def _nearest_spacing(cell_A, xy_A, target) -> float:
    """Median over target columns of the distance to their nearest target neighbour [Å] (periodic)."""
    from scipy.spatial import cKDTree

    pts = xy_A[target]
    reps = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)]) * cell_A
    allp = (pts[None] + reps[:, None]).reshape(-1, 2)
    d, _ = cKDTree(allp).query(pts, k=2)
    return float(np.median(d[:, 1]))


def _make(name, atoms, lattice_kw, *, defects=None, extra_symbols=(), tolerance_A=0.25, dedupe_A=None):
    p = project_atoms(atoms, tolerance_A=tolerance_A, extra_symbols=extra_symbols)
    lattice = Lattice(**lattice_kw, nearest_column_spacing_A=round(_nearest_spacing(p["cell_A"], p["xy_A"], p["target"]), 4))
    return ProjectedStructure(name=name, lattice=lattice, defects=defects, **p)


# -- the structures --------------------------------------------------------------
A_STO, A_LAO, A_PTO = 3.905, 3.79, 3.90
A_WS2 = 3.18


def perovskite(a: float, a_site: str, b_site: str):
    from ase.spacegroup import crystal

    return crystal([a_site, b_site, "O"], basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
                   spacegroup=221, cellpar=[a, a, a, 90, 90, 90])


def _sto100():
    return _make("sto100", perovskite(A_STO, "Sr", "Ti"),
                 dict(material="SrTiO3", formula="SrTiO3", zone_axis="[100]", space_group=221,
                      a_A=A_STO, b_A=A_STO, c_A=A_STO, kind=StructureKind.bulk))


def _sto100_defects():
    d = Defects(vacancy={"Sr": 0.06, "Ti-O": 0.03},
                substitution={"Sr": ("La", {"La": 1}, 0.08)})
    return _make("sto100_defects", perovskite(A_STO, "Sr", "Ti"),
                 dict(material="SrTiO3", formula="SrTiO3", zone_axis="[100]", space_group=221,
                      a_A=A_STO, b_A=A_STO, c_A=A_STO, kind=StructureKind.defect,
                      description="Random Sr and Ti-O column vacancies and La substitutions on Sr columns"),
                 defects=d, extra_symbols=("La",))


def _rect_hex(atoms):
    """Rectangular (a, sqrt(3) a) supercell of a hexagonal cell with a1 along x."""
    from ase.build import make_supercell

    sc = make_supercell(atoms, [[1, 0, 0], [1, 2, 0], [0, 0, 1]])
    cell = sc.cell.copy()
    cell[1] = [0.0, cell[1, 1], 0.0]
    sc.set_cell(cell, scale_atoms=False)
    sc.wrap()
    return sc


def _ws2():
    from ase.build import mx2

    atoms = mx2(formula="WS2", kind="2H", a=A_WS2, thickness=3.19, size=(1, 1, 1), vacuum=None)
    atoms.cell[2] = [0, 0, 6.2]
    return _make("ws2", _rect_hex(atoms),
                 dict(material="WS2", formula="WS2", zone_axis="[0001]", space_group=187,
                      a_A=A_WS2, b_A=A_WS2, kind=StructureKind.monolayer,
                      description="Monolayer 1H-WS2 (trigonal prismatic)"))


def _cubic110(symbol: str, structure: str, a: float):
    from ase.build import bulk, surface

    return surface(bulk(symbol, structure, a=a, cubic=True), (1, 1, 0), 1, periodic=True)


def _si110():
    return _make("si110", _cubic110("Si", "diamond", 5.431),
                 dict(material="Si", formula="Si", zone_axis="[110]", space_group=227,
                      a_A=5.431, b_A=5.431, c_A=5.431, kind=StructureKind.bulk,
                      description="Si [110]: dumbbells of two columns 1.36 Å apart"))


def _gaas110():
    return _make("gaas110", _cubic110("GaAs", "zincblende", 5.653),
                 dict(material="GaAs", formula="GaAs", zone_axis="[110]", space_group=216,
                      a_A=5.653, b_A=5.653, c_A=5.653, kind=StructureKind.bulk,
                      description="GaAs [110]: Ga-As dumbbells 1.41 Å apart"))


def _graphene_si():
    from ase.build import graphene

    atoms = graphene(formula="C2", a=2.46, size=(1, 1, 1), vacuum=None)
    atoms.cell[2] = [0, 0, 3.35]
    d = Defects(substitution={"C": ("Si", {"Si": 1}, 0.015)}, vacancy={"C": 0.005})
    return _make("graphene_si", _rect_hex(atoms),
                 dict(material="graphene", formula="C", zone_axis="[0001]", space_group=191,
                      a_A=2.46, b_A=2.46, kind=StructureKind.defect,
                      description="Graphene with random substitutional Si dopants and vacancies"),
                 defects=d, extra_symbols=("Si",))


def _stack_x(left, right):
    """Put ``right`` after ``left`` along x (cells share y and z); a periodic bicrystal."""
    out = left.copy()
    shifted = right.copy()
    shifted.positions[:, 0] += left.cell[0, 0]
    out.extend(shifted)
    cell = np.asarray(left.cell).copy()
    cell[0, 0] += right.cell[0, 0]
    out.set_cell(cell, scale_atoms=False)
    return out


def _sto_lao():
    sto = perovskite(A_STO, "Sr", "Ti") * (5, 1, 1)
    lao = perovskite(A_LAO, "La", "Al") * (5, 1, 1)
    # coherent: LaAlO3 takes the SrTiO3 cell in the interface plane (y, z), keeps its own a along x
    lao.set_cell(np.diag([5 * A_LAO, A_STO, A_STO]), scale_atoms=True)
    atoms = _stack_x(sto, lao)
    return _make("sto_lao_interface", atoms,
                 dict(material="SrTiO3/LaAlO3", formula="SrTiO3-LaAlO3", zone_axis="[100]", space_group=None,
                      a_A=A_STO, kind=StructureKind.interface,
                      description="Coherent SrTiO3/LaAlO3 [100] superlattice of 5 + 5 cells (two TiO2/LaO-type "
                                  "interfaces per period), LaAlO3 strained to SrTiO3 in the interface plane"),
                 extra_symbols=())


def _sto_gb():
    """Symmetric Sigma-5 (310)[001] tilt bicrystal of SrTiO3 (geometric, unrelaxed)."""
    from ase.build import make_supercell

    grain = make_supercell(perovskite(A_STO, "Sr", "Ti"), [[3, -1, 0], [1, 3, 0], [0, 0, 1]])
    grain.rotate(grain.cell[0], "x", rotate_cell=True)
    cell = grain.cell.copy()
    cell[0] = [np.linalg.norm(cell[0]), 0, 0]
    cell[1] = [0, np.linalg.norm(cell[1]), 0]
    grain.set_cell(cell, scale_atoms=False)
    grain.wrap()
    mirror = grain.copy()
    mirror.positions[:, 1] *= -1.0
    mirror.wrap()
    atoms = _stack_x(grain * (2, 1, 1), mirror * (2, 1, 1))
    # columns of the two grains that fall on top of each other at the boundaries: keep one
    from scipy.spatial import cKDTree

    xy = atoms.positions[:, :2]
    box = np.array([atoms.cell[0, 0], atoms.cell[1, 1]])
    wrapped = np.mod(xy, box)
    wrapped[np.isclose(wrapped, box)] = 0.0
    pairs = cKDTree(wrapped, boxsize=box).query_pairs(0.9, output_type="ndarray")
    z = atoms.positions[:, 2]
    drop = {int(j) for i, j in pairs if abs(z[i] - z[j]) < 0.3}
    del atoms[sorted(drop)]
    theta = 2 * np.degrees(np.arctan(1 / 3))
    return _make("sto_gb_sigma5", atoms,
                 dict(material="SrTiO3", formula="SrTiO3", zone_axis="[001]", space_group=221,
                      a_A=A_STO, b_A=A_STO, c_A=A_STO, kind=StructureKind.grain_boundary,
                      description=f"Symmetric Sigma5 (310)[001] tilt grain boundary, misorientation "
                                  f"{theta:.2f} deg, unrelaxed; boundaries every {box[0] / 2:.1f} Å"))


_BUILDERS: dict[str, Callable[[], ProjectedStructure]] = {
    "sto100": _sto100,
    "ws2": _ws2,
    "si110": _si110,
    "gaas110": _gaas110,
    "graphene_si": _graphene_si,
    "sto100_defects": _sto100_defects,
    "sto_lao_interface": _sto_lao,
    "sto_gb_sigma5": _sto_gb,
}

#: Names of the structures atomdata can build.
STRUCTURES = tuple(_BUILDERS)


@functools.cache
def get_structure(name: str) -> ProjectedStructure:
    """The projected structure called ``name`` (built once per process and cached).

    Examples
    --------
    >>> s = get_structure("sto100")
    >>> sorted(set(s.species.tolist())), s.target.sum()
    (['O', 'Sr', 'Ti-O'], np.int64(2))
    """
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise KeyError(f"unknown structure {name!r}; valid structures: {', '.join(STRUCTURES)}") from None
    return builder()
