"""Nanoparticles and amorphous-carbon supports: atom positions [Å] for HRTEM image formation.

Particles are FCC metal clusters: Wulff constructions from surface energies, octahedra, truncated
octahedra and cuboctahedra are cut from the FCC lattice by their facet planes (numpy, the construction
of ASE's ``ase.cluster.FaceCenteredCubic`` without its per-atom Python loops: ~100x faster for 10^5
atoms); Ino/Marks decahedra and icosahedra come from :mod:`ase.cluster`. Each is
optionally given one {111} twin plane, turned so that a low-index zone axis lies along the
beam (z), optionally tilted off it, and rotated in the image plane. The support is a slab of
amorphous carbon at the density of evaporated carbon films (2.0 g/cm³): layers of jittered cubic
packing, each turned at random (:func:`amorphous_carbon`), which keep every pair of atoms at least
~1 Å apart and show no lattice fringes in projection.

Positions are Cartesian ``(x, y, z)`` in Angstrom [Å]: x along image columns, y along image rows,
z along the beam (the electron enters at the smallest z).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ELEMENTS",
    "SHAPES",
    "ZONE_AXES",
    "ParticleSpec",
    "Particle",
    "build_particle",
    "amorphous_carbon",
    "lattice_constant_A",
    "n_atoms_for_diameter",
]

#: FCC metals and their lattice constants a [Å] (room temperature; Kittel, Introduction to Solid State Physics).
ELEMENTS = {"Au": 4.078, "Ag": 4.086, "Pt": 3.924, "Pd": 3.891}
#: Particle shapes built by :func:`build_particle`.
SHAPES = ("wulff", "octahedron", "truncated_octahedron", "cuboctahedron", "decahedron", "icosahedron")
#: Low-index zone axes a particle can be turned to (cubic indices).
ZONE_AXES = ("[110]", "[100]", "[111]", "[112]")
#: Relative surface energies of the Wulff shape (gamma_100 / gamma_111 = 1.15, gamma_110 / gamma_111 = 1.20;
#: the order of the DFT values of Vitos et al., Surf. Sci. 411, 186 (1998), for the late FCC metals).
WULFF_ENERGIES = {(1, 1, 1): 1.0, (1, 0, 0): 1.15, (1, 1, 0): 1.20}
#: Amorphous carbon: density [g/cm³] and the resulting number density [atoms/Å³].
CARBON_DENSITY_G_CM3 = 2.0
CARBON_ATOMS_PER_A3 = CARBON_DENSITY_G_CM3 / 12.011 * 0.602214076
#: Thickness of the independently rotated layers of the carbon support [Å].
CARBON_LAYER_A = 20.0


def lattice_constant_A(element: str) -> float:
    """FCC lattice constant [Å] of ``element`` (one of :data:`ELEMENTS`)."""
    try:
        return ELEMENTS[element]
    except KeyError:
        raise ValueError(f"Unknown element {element!r}. Elements: {', '.join(ELEMENTS)}.") from None


def n_atoms_for_diameter(element: str, diameter_nm: float) -> int:
    """Atoms of a sphere of ``diameter_nm`` [nm] at the bulk FCC density (4 atoms per cube of side a).

    Examples
    --------
    >>> n_atoms_for_diameter("Au", 2.0)
    247
    """
    a = lattice_constant_A(element)
    return int(round(math.pi / 6 * (10 * diameter_nm) ** 3 * 4 / a**3))


@dataclass(frozen=True)
class ParticleSpec:
    """What to build: one particle's element, shape, size and orientation.

    ``center_xy_A`` is the particle's centre in the field [Å] (x = column direction, y = row
    direction, origin at the centre of the top-left output pixel); ``off_axis_deg`` tilts the
    zone axis away from the beam about an in-plane axis at ``tilt_azimuth_deg``;
    ``rotation_deg`` turns the particle about the beam.
    """

    element: str
    shape: str
    diameter_nm: float
    zone_axis: str = "[110]"
    off_axis_deg: float = 0.0
    tilt_azimuth_deg: float = 0.0
    rotation_deg: float = 0.0
    twinned: bool = False
    center_xy_A: tuple = (0.0, 0.0)


@dataclass
class Particle:
    """A built particle: its spec and atom positions ``(N, 3)`` (x, y, z) [Å] in the field frame."""

    spec: ParticleSpec
    positions_A: np.ndarray

    @property
    def n_atoms(self) -> int:
        return int(len(self.positions_A))


#: Facet families of the FCC polyhedra cut from the lattice, with each family's distance from the centre
#: relative to {111}: the octahedron has {111} only; the regular (Archimedean) truncated octahedron has
#: {100} at 2 / sqrt(3); the cuboctahedron has {100} at sqrt(3) / 2; the Wulff shape uses the
#: surface energies of :data:`WULFF_ENERGIES` (distances proportional to the energies).
_FACETS = {
    "wulff": WULFF_ENERGIES,
    "octahedron": {(1, 1, 1): 1.0},
    "truncated_octahedron": {(1, 1, 1): 1.0, (1, 0, 0): 2 / 3**0.5},
    "cuboctahedron": {(1, 1, 1): 1.0, (1, 0, 0): 3**0.5 / 2},
}


def _normals(families: dict) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (K, 3) of every facet of the families and their distances (K,) per unit size."""
    ns, ds = [], []
    for hkl, dist in families.items():
        seen = set()
        for perm in {(hkl[i], hkl[j], hkl[k]) for i, j, k in
                     ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))}:
            for sx in (1, -1):
                for sy in (1, -1):
                    for sz in (1, -1):
                        v = (perm[0] * sx, perm[1] * sy, perm[2] * sz)
                        if v not in seen:
                            seen.add(v)
                            ns.append(np.array(v, float) / np.linalg.norm(v))
                            ds.append(dist)
    return np.array(ns), np.array(ds)


def _fcc_polyhedron(a: float, families: dict, size_A: float) -> np.ndarray:
    """FCC lattice points (centred on an atom) inside the polyhedron ``n . r <= size_A * d_n`` [Å]."""
    normals, dists = _normals(families)
    r_max = size_A * 3**0.5  # circumradius of the {111} octahedron, which holds every shape here
    m = int(math.ceil(r_max / a)) + 1
    k = np.arange(-m, m + 1, dtype=np.float64)
    cube = np.stack(np.meshgrid(k, k, k, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    pts = (cube[:, None, :] + basis[None]).reshape(-1, 3) * a
    pts = pts[np.einsum("ij,ij->i", pts, pts) <= r_max**2]
    keep = (pts @ normals.T <= size_A * dists + 1e-6).all(axis=1)
    return pts[keep]


_VOLUME_PER_SIZE3: dict = {}


def _cluster_positions(element: str, shape: str, diameter_nm: float) -> np.ndarray:
    """Atom positions (N, 3) [Å] of ``shape`` with about the atom count of a ``diameter_nm`` sphere."""
    a = lattice_constant_A(element)
    n_target = n_atoms_for_diameter(element, diameter_nm)
    if shape in _FACETS:
        families = _FACETS[shape]
        if shape not in _VOLUME_PER_SIZE3:  # atoms per (size / a)^3, from one reference cut
            _VOLUME_PER_SIZE3[shape] = len(_fcc_polyhedron(1.0, families, 12.0)) / 12.0**3
        size = a * (n_target / _VOLUME_PER_SIZE3[shape]) ** (1 / 3)
        return _fcc_polyhedron(a, families, size)
    from ase.cluster import Decahedron, Icosahedron

    if shape == "icosahedron":  # atoms of n shells: (10 n^3 - 15 n^2 + 11 n - 3) / 3
        n = min(range(1, 40), key=lambda s: abs((10 * s**3 - 15 * s**2 + 11 * s - 3) / 3 - n_target))
        return Icosahedron(element, n, latticeconstant=a).get_positions()
    if shape == "decahedron":  # Marks decahedron p = q, re-entrance r = 1: about 4.4 p^3 atoms for p >= 6
        p = max(4, int(round((n_target / 4.4) ** (1 / 3))))
        return Decahedron(element, p, p, 1 if p > 3 else 0, latticeconstant=a).get_positions()
    raise ValueError(f"Unknown shape {shape!r}. Shapes: {', '.join(SHAPES)}.")


def _zone_rotation(zone_axis: str) -> np.ndarray:
    """Rotation (3, 3) taking the cubic direction ``zone_axis`` onto +z."""
    if zone_axis not in ZONE_AXES:
        raise ValueError(f"Unknown zone axis {zone_axis!r}. Zone axes: {', '.join(ZONE_AXES)}.")
    v = np.array([int(c) for c in zone_axis.strip("[]")], dtype=float)
    return _rotation_onto(v / np.linalg.norm(v), np.array([0.0, 0.0, 1.0]))


def _rotation_onto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation matrix taking unit vector ``a`` onto unit vector ``b`` (Rodrigues)."""
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if np.linalg.norm(v) < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * (1 / (1 + c))


def _axis_rotation(axis, angle_rad: float) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle_rad) * k + (1 - math.cos(angle_rad)) * k @ k


def _twin(positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Insert one {111} twin plane: atoms above a {111} lattice plane turn 180 degrees about its normal.

    The rotation keeps the plane's atoms in place and changes the stacking above it from
    ABC to ACB, which is the FCC twin; the plane passes through the atom nearest the centre.
    """
    normal = np.array([1.0, 1.0, 1.0]) * rng.choice([-1, 1], 3)
    normal /= np.linalg.norm(normal)
    centre = positions[np.argmin(np.linalg.norm(positions - positions.mean(0), axis=1))]
    h = (positions - centre) @ normal
    upper = h > 1e-3
    rot = _axis_rotation(normal, math.pi)
    out = positions.copy()
    out[upper] = (positions[upper] - centre) @ rot.T + centre
    return out


def build_particle(spec: ParticleSpec, *, rng=None) -> Particle:
    """Build the particle of ``spec``: atom positions (x, y, z) [Å], centred on ``spec.center_xy_A`` in x, y.

    z starts at 0 on the beam-entrance side of the particle.

    Examples
    --------
    >>> p = build_particle(ParticleSpec("Au", "octahedron", 2.0))
    >>> p.n_atoms > 100, round(float(p.positions_A[:, 2].min()), 6)
    (True, 0.0)
    """
    rng = np.random.default_rng(rng)
    if spec.shape not in SHAPES:
        raise ValueError(f"Unknown shape {spec.shape!r}. Shapes: {', '.join(SHAPES)}.")
    if not 0.5 <= spec.diameter_nm <= 40:
        raise ValueError(f"diameter_nm must be within [0.5, 40] nm, got {spec.diameter_nm}")
    pos = _cluster_positions(spec.element, spec.shape, spec.diameter_nm)
    pos = pos - pos.mean(0)
    if spec.twinned and spec.shape not in ("decahedron", "icosahedron"):  # those are twinned already
        pos = _twin(pos, rng)
    rot = _zone_rotation(spec.zone_axis)
    if spec.off_axis_deg:
        az = math.radians(spec.tilt_azimuth_deg)
        rot = _axis_rotation([math.cos(az), math.sin(az), 0.0], math.radians(spec.off_axis_deg)) @ rot
    rot = _axis_rotation([0.0, 0.0, 1.0], math.radians(spec.rotation_deg)) @ rot
    pos = pos @ rot.T
    pos = pos - np.array([*pos[:, :2].mean(0), pos[:, 2].min()])
    pos[:, 0] += spec.center_xy_A[0]
    pos[:, 1] += spec.center_xy_A[1]
    return Particle(spec, pos)


def _lattice_layer(lx: float, ly: float, z0: float, z1: float, s: float, rng: np.random.Generator) -> np.ndarray:
    """Sites of a randomly rotated, jittered cubic lattice of spacing ``s`` in ``[0, lx) x [0, ly) x [z0, z1)``."""
    rot = _random_rotation(rng)
    corners = np.array([[x, y, z] for x in (0, lx) for y in (0, ly) for z in (z0, z1)])
    local = corners @ rot  # the box's corners in the lattice frame bound the sites to make
    lo = np.floor(local.min(0) / s).astype(int) - 1
    hi = np.ceil(local.max(0) / s).astype(int) + 1
    axes = [np.arange(lo[i], hi[i] + 1) * s for i in range(3)]
    gv, gw = np.meshgrid(axes[1], axes[2], indexing="ij")
    plane = np.column_stack([gv.ravel(), gw.ravel()])
    out = []
    step = max(1, 2_000_000 // max(1, len(plane)))  # planes per chunk (memory)
    for c in range(0, len(axes[0]), step):
        u = axes[0][c:c + step]
        local = np.concatenate([np.repeat(u, len(plane))[:, None], np.tile(plane, (len(u), 1))], axis=1)
        local += rng.uniform(-s / 4, s / 4, local.shape)  # jitter along the lattice axes, then rotate and cut
        pts = local @ rot.T
        keep = ((pts[:, 0] >= 0) & (pts[:, 0] < lx) & (pts[:, 1] >= 0) & (pts[:, 1] < ly)
                & (pts[:, 2] >= z0) & (pts[:, 2] < z1))
        out.append(pts[keep])
    return np.concatenate(out)


def amorphous_carbon(extent_A: tuple, thickness_nm: float, *, z0_A: float = 0.0, rng=None) -> np.ndarray:
    """Atom positions ``(M, 3)`` (x, y, z) [Å] of an amorphous carbon slab (see the module notes).

    Parameters
    ----------
    extent_A : (float, float)
        Field (x extent, y extent) [Å]; the slab covers ``[0, X) x [0, Y)``.
    thickness_nm : float
        Slab thickness [nm] (0 gives no atoms).
    z0_A : float
        z of the slab's entrance surface [Å].
    rng : numpy Generator or seed

    Notes
    -----
    The slab is built in layers of :data:`CARBON_LAYER_A` along the beam, each a jittered cubic
    lattice (sites moved uniformly by up to a quarter spacing) turned by its own random rotation;
    consecutive layers are separated by a gap of half a site spacing. Every pair of atoms is
    thus at least half a spacing (1.05 Å) apart, and the residual order of one layer (the jitter
    leaves Bragg components of relative amplitude sinc(1/2) = 0.64 at the lattice's own spacings)
    does not add up coherently over the layers of a slab: in projection the strongest Fourier
    component of the carbon's density is ~1.5-3.5x that of a random gas, ~10x below that of the
    unjittered lattice. A limitation: real amorphous carbon has no such residual order (a hard-core
    random packing would remove it, at ~3x the cost of the whole image). The spacing is shrunk to
    make up for the gaps, so the density is :data:`CARBON_DENSITY_G_CM3`.

    Examples
    --------
    >>> c = amorphous_carbon((50.0, 50.0), 2.0, rng=0)
    >>> abs(len(c) / (50 * 50 * 20) - CARBON_ATOMS_PER_A3) < 0.005
    True
    """
    if thickness_nm < 0:
        raise ValueError(f"thickness_nm must be >= 0, got {thickness_nm}")
    rng = np.random.default_rng(rng)
    lx, ly = float(extent_A[0]), float(extent_A[1])
    t = 10.0 * float(thickness_nm)
    if t == 0:
        return np.zeros((0, 3))
    n_layers = max(1, int(round(t / CARBON_LAYER_A)))
    layer = t / n_layers
    s0 = CARBON_ATOMS_PER_A3 ** (-1 / 3)
    gap = s0 / 2 if n_layers > 1 else 0.0  # between layers only
    s = s0 * ((t - (n_layers - 1) * gap) / t) ** (1 / 3)  # denser sites make up for the gaps
    out = [_lattice_layer(lx, ly, z0_A + k * layer + (gap / 2 if k else 0.0),
                          z0_A + (k + 1) * layer - (gap / 2 if k < n_layers - 1 else 0.0), s, rng)
           for k in range(n_layers)]
    return np.concatenate(out)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (from a random unit quaternion)."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
