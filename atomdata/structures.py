"""Crystal structures projected to atomic columns, built with ASE.

Every structure is an ASE :class:`ase.Atoms` object oriented with the zone
axis along ``z`` and a rectangular in-plane periodic cell ``(Lx, Ly)``. Its
atoms are projected along ``z`` and grouped into columns; a column keeps its
mean in-plane position, its element counts per repeat along the beam and a
species label. :meth:`ProjectedStructure.tile` then lays the columns over an
image of a given shape, pixel size, in-plane rotation and translation.

Positions in Angstrom are ``(X, Y)`` in the specimen plane; positions in pixels
are ``(x, y)`` with x = column index, y = row index, origin at the centre of the
top-left pixel (images are indexed ``image[y, x]``).

Labelling rule (which columns are scoring targets)
--------------------------------------------------
A column is a *target* (HAADF-visible, scored) when it contains at least one
element that is not a light anion (H, N, O, F, S, Cl, Se) **or** when its
weight ``sum(Z**n)`` with ``n = 1.7`` is at least 10 % of the brightest column
of the structure. So in SrTiO3 [100] the Sr and Ti-O columns are targets and
the pure O columns are not; in WS2 both W and S2 (15 % of W) are targets; in
graphene every C column is a target. Non-target columns are still labelled
(``target=False``) and still rendered.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .schema import Lattice, StructureKind

__all__ = [
    "STRUCTURES",
    "ANIONS",
    "TARGET_WEIGHT_FRACTION",
    "DEFAULT_EXPONENT",
    "Defects",
    "ProjectedStructure",
    "TiledColumns",
    "project_atoms",
    "get_structure",
    "column_weights",
]

#: Light anions: a column made only of these is a target only if it is bright enough.
ANIONS = frozenset({"H", "N", "O", "F", "S", "Cl", "Se"})
#: A column of anions only is a target when its weight is at least this fraction of the brightest column.
TARGET_WEIGHT_FRACTION = 0.10
#: Default exponent n of the HAADF column weight sum(Z**n).
DEFAULT_EXPONENT = 1.7


def column_weights(counts: np.ndarray, numbers: np.ndarray, exponent: float = DEFAULT_EXPONENT) -> np.ndarray:
    """HAADF weight of each column: ``sum over its atoms of Z**exponent``.

    Parameters
    ----------
    counts : ndarray, shape (N, E)
        Atoms of each element per column (per repeat along the beam).
    numbers : ndarray, shape (E,)
        Atomic numbers Z of the E elements.
    exponent : float
        The Z exponent n (about 1.6-2 for HAADF).

    Examples
    --------
    >>> column_weights(np.array([[1, 0], [0, 2]]), np.array([74, 16]), 2.0).tolist()
    [5476.0, 512.0]
    """
    return np.asarray(counts, dtype=np.float64) @ (np.asarray(numbers, dtype=np.float64) ** exponent)


def _species_label(counts: np.ndarray, symbols: list[str], numbers: np.ndarray) -> str:
    """'Sr', 'Ti-O', 'S2': elements by descending Z joined by '-', count appended when > 1."""
    order = np.argsort(-numbers, kind="stable")
    parts = []
    for e in order:
        c = int(counts[e])
        if c:
            parts.append(symbols[e] + (str(c) if c > 1 else ""))
    return "-".join(parts)


def _is_target(counts: np.ndarray, symbols: list[str], weights: np.ndarray) -> np.ndarray:
    has_cation = np.array(
        [any(c > 0 and symbols[e] not in ANIONS for e, c in enumerate(row)) for row in counts], dtype=bool
    )
    bright = weights >= TARGET_WEIGHT_FRACTION * weights.max()
    return has_cation | bright


@dataclass(frozen=True)
class Defects:
    """Random point defects applied per image to the tiled columns.

    Parameters
    ----------
    vacancy : dict
        ``{species: probability}``: a column of that species is removed (label and
        intensity) with this probability.
    substitution : dict
        ``{species: (new_species, {element: count}, probability)}``: a column is
        replaced by a column of another composition with this probability.
    """

    vacancy: dict = field(default_factory=dict)
    substitution: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TiledColumns:
    """Columns laid over an image: positions (x, y) [px], x = column index, y = row index,
    origin at the centre of the top-left pixel. Includes columns in a margin outside the image."""

    xy: np.ndarray  # (N, 2) px
    species: np.ndarray  # (N,) str
    target: np.ndarray  # (N,) bool
    counts: np.ndarray  # (N, E) atoms per element
    numbers: np.ndarray  # (E,) Z

    def weights(self, exponent: float = DEFAULT_EXPONENT) -> np.ndarray:
        """Column weights ``sum(Z**exponent)``, shape (N,)."""
        return column_weights(self.counts, self.numbers, exponent)


@dataclass(frozen=True, eq=False)
class ProjectedStructure:
    """A structure projected along its zone axis into a periodic motif of columns.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``'sto100'``.
    lattice : Lattice
        Material, zone axis, cell and nearest target-column spacing (rotation 0).
    cell_A : ndarray, shape (2,)
        Rectangular in-plane period (Lx, Ly) [Å].
    xy_A : ndarray, shape (M, 2)
        Column positions (X, Y) [Å] inside the cell.
    species, target : ndarray, shape (M,)
        Column labels (see the module's labelling rule).
    counts : ndarray, shape (M, E)
        Atoms of each element per column per repeat along the beam.
    symbols, numbers : element symbols and atomic numbers, length E.
    defects : Defects or None
        Random point defects drawn per image.
    """

    name: str
    lattice: Lattice
    cell_A: np.ndarray
    xy_A: np.ndarray
    species: np.ndarray
    target: np.ndarray
    counts: np.ndarray
    symbols: tuple
    numbers: np.ndarray
    defects: Optional[Defects] = None

    def __len__(self) -> int:
        return len(self.xy_A)

    def __repr__(self) -> str:
        return (f"ProjectedStructure({self.name!r}, {self.lattice.material} {self.lattice.zone_axis}, "
                f"{len(self)} columns in {self.cell_A[0]:.2f} x {self.cell_A[1]:.2f} Å)")

    def weights(self, exponent: float = DEFAULT_EXPONENT) -> np.ndarray:
        """Column weights ``sum(Z**exponent)`` of the motif, shape (M,)."""
        return column_weights(self.counts, self.numbers, exponent)

    def tile(
        self,
        shape: tuple[int, int],
        pixel_size_A: float,
        *,
        rotation_deg: float = 0.0,
        offset_A=(0.0, 0.0),
        margin_px: float = 0.0,
        rng: Optional[np.random.Generator] = None,
    ) -> TiledColumns:
        """Lay the periodic columns over an image.

        The specimen point ``offset_A`` lands on the image centre
        ``((W - 1) / 2, (H - 1) / 2)``; the motif is rotated by ``rotation_deg``
        (counter-clockwise as seen on screen, with y pointing down).

        Parameters
        ----------
        shape : (H, W)
            Image shape [px].
        pixel_size_A : float
            Pixel size [Å/px].
        rotation_deg : float
            In-plane rotation [deg].
        offset_A : (2,) float
            Specimen position (X, Y) [Å] at the image centre.
        margin_px : float
            Also return columns up to this far outside the image [px] (they
            contribute intensity through the probe tails and the scan distortions).
        rng : numpy Generator, optional
            Draws the structure's random point defects (required when it has some).

        Returns
        -------
        TiledColumns
            Positions (x, y) [px] (x = column index, y = row index, origin at the
            centre of the top-left pixel), labels, element counts.
        """
        if pixel_size_A <= 0:
            raise ValueError(f"pixel_size_A must be > 0, got {pixel_size_A}")
        h, w = shape
        centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
        half = np.array([w, h]) / 2.0 + margin_px + 1.0
        radius_A = float(np.hypot(*half)) * pixel_size_A
        off = np.asarray(offset_A, dtype=np.float64)
        lx, ly = self.cell_A
        i0, i1 = int(np.floor((off[0] - radius_A) / lx)) - 1, int(np.ceil((off[0] + radius_A) / lx)) + 1
        j0, j1 = int(np.floor((off[1] - radius_A) / ly)) - 1, int(np.ceil((off[1] + radius_A) / ly)) + 1
        ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
        trans = np.column_stack([ii.ravel() * lx, jj.ravel() * ly])
        pos = (trans[:, None, :] + self.xy_A[None, :, :]).reshape(-1, 2) - off
        t = np.deg2rad(rotation_deg)
        c, s = np.cos(t), np.sin(t)
        rot = np.array([[c, -s], [s, c]])
        xy = pos @ rot.T / pixel_size_A + centre
        m = len(self.xy_A)
        idx = np.tile(np.arange(m), len(trans))
        keep = (np.abs(xy - centre) <= half).all(axis=1)
        xy, idx = xy[keep], idx[keep]
        species = self.species[idx]
        target = self.target[idx]
        counts = self.counts[idx]
        if self.defects is not None:
            if rng is None:
                raise ValueError(f"structure {self.name!r} has random defects: pass rng=np.random.default_rng(seed)")
            xy, species, target, counts = self._apply_defects(xy, species, target, counts, rng)
        return TiledColumns(xy, species, target, counts, self.numbers)

    def _apply_defects(self, xy, species, target, counts, rng):
        u = rng.random(len(xy))
        keep = np.ones(len(xy), dtype=bool)
        species = species.astype(object)
        counts = counts.copy()
        target = target.copy()
        for sp, p in self.defects.vacancy.items():
            keep &= ~((species == sp) & (u < p))
        u2 = rng.random(len(xy))
        for sp, (new, comp, p) in self.defects.substitution.items():
            hit = (species == sp) & (u2 < p) & keep
            row = np.zeros(len(self.symbols))
            for el, n in comp.items():
                row[self.symbols.index(el)] = n
            counts[hit] = row
            species[hit] = new
            target[hit] = True
        return xy[keep], species[keep].astype(str), target[keep], counts[keep]


def project_atoms(atoms, *, tolerance_A: float = 0.25, exponent: float = DEFAULT_EXPONENT,
                  extra_symbols: tuple = ()):
    """Project atoms along ``z`` into columns of a rectangular periodic cell.

    Parameters
    ----------
    atoms : ase.Atoms
        Structure with the beam along ``z``; ``cell[0]`` along x and ``cell[1]``
        along y (a rectangular in-plane cell); ``cell[2]`` is one repeat along
        the beam (or, for a monolayer, any length).
    tolerance_A : float
        Atoms whose projected positions are closer than this [Å] (periodically)
        share a column.
    exponent : float
        Z exponent used for the brightness part of the labelling rule.
    extra_symbols : tuple of str
        Elements that do not occur in ``atoms`` but may be substituted in later.

    Returns
    -------
    dict
        ``cell_A`` (2,), ``xy_A`` (M, 2) column positions [Å], ``species`` (M,),
        ``target`` (M,), ``counts`` (M, E), ``symbols`` (E,), ``numbers`` (E,).
    """
    from ase.data import atomic_numbers
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    cell = np.asarray(atoms.cell)
    lx, ly = cell[0, 0], cell[1, 1]
    if abs(cell[0, 1]) > 1e-6 or abs(cell[1, 0]) > 1e-6 or abs(cell[0, 2]) > 1e-6 or abs(cell[1, 2]) > 1e-6:
        raise ValueError(f"the in-plane cell must be rectangular and in the xy plane, got cell {cell.tolist()}")
    box = np.array([lx, ly])
    xy = np.mod(atoms.positions[:, :2], box)
    xy[np.isclose(xy, box)] = 0.0
    tree = cKDTree(xy, boxsize=box)
    pairs = tree.query_pairs(tolerance_A, output_type="ndarray")
    n = len(xy)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_col, label = connected_components(graph, directed=False)
    symbols_all = atoms.get_chemical_symbols()
    symbols = sorted(set(symbols_all) | set(extra_symbols), key=lambda s: -atomic_numbers[s])
    numbers = np.array([atomic_numbers[s] for s in symbols], dtype=np.float64)
    el_index = np.array([symbols.index(s) for s in symbols_all])
    counts = np.zeros((n_col, len(symbols)))
    np.add.at(counts, (label, el_index), 1)
    centres = np.zeros((n_col, 2))
    for c in range(n_col):
        members = xy[label == c]
        d = members - members[0]
        d -= box * np.round(d / box)  # minimum image
        centres[c] = np.mod(members[0] + d.mean(axis=0), box)
    order = np.lexsort((centres[:, 0], centres[:, 1]))
    centres, counts = centres[order], counts[order]
    weights = column_weights(counts, numbers, exponent)
    species = np.array([_species_label(r, symbols, numbers) for r in counts])
    target = _is_target(counts, symbols, weights)
    return dict(cell_A=box, xy_A=centres, species=species, target=target, counts=counts,
                symbols=tuple(symbols), numbers=numbers)


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


def _perovskite(a: float, a_site: str, b_site: str):
    from ase.spacegroup import crystal

    return crystal([a_site, b_site, "O"], basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
                   spacegroup=221, cellpar=[a, a, a, 90, 90, 90])


def _sto100():
    return _make("sto100", _perovskite(A_STO, "Sr", "Ti"),
                 dict(material="SrTiO3", formula="SrTiO3", zone_axis="[100]", space_group=221,
                      a_A=A_STO, b_A=A_STO, c_A=A_STO, kind=StructureKind.bulk))


def _sto100_defects():
    d = Defects(vacancy={"Sr": 0.06, "Ti-O": 0.03},
                substitution={"Sr": ("La", {"La": 1}, 0.08)})
    return _make("sto100_defects", _perovskite(A_STO, "Sr", "Ti"),
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
    sto = _perovskite(A_STO, "Sr", "Ti") * (5, 1, 1)
    lao = _perovskite(A_LAO, "La", "Al") * (5, 1, 1)
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

    grain = make_supercell(_perovskite(A_STO, "Sr", "Ti"), [[3, -1, 0], [1, 3, 0], [0, 0, 1]])
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


@functools.lru_cache(maxsize=None)
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
