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

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from atomdata.schema import Lattice, check_pixel_size

__all__ = [
    "ANIONS",
    "TARGET_WEIGHT_FRACTION",
    "DEFAULT_EXPONENT",
    "Defects",
    "ProjectedStructure",
    "TiledColumns",
    "project_atoms",
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
        pixel_size_A = check_pixel_size(pixel_size_A)
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
