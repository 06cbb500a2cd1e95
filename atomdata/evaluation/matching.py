"""Matching predicted column positions to ground-truth columns.

Positions are ``(x, y)`` in pixels (x = column index, y = row index, origin at
the centre of the top-left pixel), arrays of shape ``(N, 2)``. Radii are in
pixels here; :mod:`atomdata.evaluation.scores` converts tolerances from Angstrom.

Two matchers:

* :func:`match_one_to_one` -- optimal one-to-one assignment. Candidate pairs
  (distance <= radius) come from a :class:`scipy.spatial.cKDTree`; the
  bipartite candidate graph is split into connected components; a component
  with one candidate pair is matched directly and every other component is
  solved exactly by :func:`scipy.optimize.linear_sum_assignment` on its own
  small dense cost matrix. Time and memory are linear in the number of points
  for any realistic prediction (components stay small when the radius is below
  the column spacing). A component too large for a dense matrix falls back to
  :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching` on a sparse
  augmented graph, with the same optimum.
* :func:`match_all_pairs` -- every (prediction, truth) pair strictly closer
  than the radius, with no one-to-one constraint (the published ``wei2022``
  counting).

The one-to-one optimum maximises the number of matched pairs first and, among
all maximum matchings, minimises the sum of squared distances.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from atomdata.schema import check_xy

__all__ = ["Matching", "candidate_pairs", "match_one_to_one", "match_all_pairs", "check_xy"]

#: Components with more cells than this (n_pred x n_gt) use the sparse solver.
_DENSE_CELL_LIMIT = 1_000_000


@dataclass(frozen=True)
class Matching:
    """Matched pairs: ``pred[k]`` is matched to ``gt[k]`` at distance ``dist_px[k]`` [px]."""

    pred: np.ndarray
    gt: np.ndarray
    dist_px: np.ndarray

    def __len__(self) -> int:
        return int(self.pred.shape[0])


def candidate_pairs(pred_xy: np.ndarray, gt_xy: np.ndarray, radius_px: float, *, strict: bool = False,
                    radius2_px2: Optional[float] = None):
    """All (prediction, truth) pairs within ``radius_px`` [px].

    Parameters
    ----------
    pred_xy, gt_xy : ndarray, shape (P, 2) and (G, 2)
        Positions (x, y) [px].
    radius_px : float
        Match radius [px].
    strict : bool
        ``False``: keep pairs with distance <= radius; ``True``: squared
        distance < radius**2 (the published rule).
    radius2_px2 : float, optional
        The squared radius [px^2] to compare with, when it is known exactly
        (e.g. 5 px^2: ``sqrt(5)**2`` is not exactly 5 in floating point).

    Returns
    -------
    pred, gt : ndarray of int64
        Indices of each candidate pair, sorted by prediction then truth.
    d2 : ndarray of float64
        Squared distance of each pair [px^2], computed as dx**2 + dy**2.
    """
    from scipy.spatial import cKDTree

    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(pred_xy) == 0 or len(gt_xy) == 0 or radius_px <= 0:
        return empty
    # query slightly wider than the radius, then apply the exact rule on dx^2 + dy^2
    # unbalanced trees build about twice as fast and query as fast for point patterns like these
    sdm = cKDTree(pred_xy, balanced_tree=False).sparse_distance_matrix(
        cKDTree(gt_xy, balanced_tree=False), radius_px * (1 + 1e-9) + 1e-12, output_type="ndarray"
    )
    if len(sdm) == 0:
        return empty
    p = sdm["i"].astype(np.int64)
    g = sdm["j"].astype(np.int64)
    d = pred_xy[p] - gt_xy[g]
    d2 = d[:, 0] ** 2 + d[:, 1] ** 2
    r2 = float(radius_px) ** 2 if radius2_px2 is None else float(radius2_px2)
    keep = d2 < r2 if strict else d2 <= r2
    p, g, d2 = p[keep], g[keep], d2[keep]
    order = np.lexsort((g, p))
    return p[order], g[order], d2[order]


def match_all_pairs(pred_xy, gt_xy, radius_px: float, *, radius2_px2: Optional[float] = None,
                    checked: bool = False) -> Matching:
    """Every pair with squared distance < ``radius_px**2`` (or ``radius2_px2``), no one-to-one constraint.

    A prediction near two truths appears twice, two predictions near one truth
    both appear (the ``wei2022`` counting). Positions are (x, y) [px]; ``checked=True``
    says they are already float64 (N, 2) arrays (validated by the caller), so they are not checked again.

    Examples
    --------
    >>> m = match_all_pairs([[0, 0], [1, 0]], [[0.5, 0]], 2.0)
    >>> len(m)
    2
    """
    if not checked:
        pred_xy = check_xy(pred_xy, "predictions")
        gt_xy = check_xy(gt_xy, "ground truth")
    p, g, d2 = candidate_pairs(pred_xy, gt_xy, radius_px, strict=True, radius2_px2=radius2_px2)
    return Matching(p, g, np.sqrt(d2))


def match_one_to_one(pred_xy, gt_xy, radius_px: float, *, checked: bool = False) -> Matching:
    """Optimal one-to-one matching of predictions to truths within ``radius_px`` [px].

    Parameters
    ----------
    pred_xy, gt_xy : array_like, shape (P, 2) and (G, 2)
        Positions (x, y) [px] (x = column index, y = row index, origin at the
        centre of the top-left pixel).
    radius_px : float
        A pair can match when its distance is <= ``radius_px`` [px].
    checked : bool
        The positions are already float64 (N, 2) arrays validated by the caller: skip the checks.

    Returns
    -------
    Matching
        Matched index pairs and their distances [px], sorted by prediction index.

    Notes
    -----
    Maximises the number of pairs, then minimises the sum of squared distances,
    exactly, per connected component of the candidate graph.

    Examples
    --------
    >>> m = match_one_to_one([[0, 0], [1, 0]], [[0.9, 0]], 2.0)
    >>> m.pred.tolist(), m.gt.tolist()
    ([1], [0])
    """
    if not checked:
        pred_xy = check_xy(pred_xy, "predictions")
        gt_xy = check_xy(gt_xy, "ground truth")
    p, g, d2 = candidate_pairs(pred_xy, gt_xy, radius_px)
    if len(p) == 0:
        return Matching(p, g, d2)
    n_pred = len(pred_xy)
    comp = _components(p, g, n_pred, len(gt_xy))
    order = np.argsort(comp, kind="stable")
    p, g, d2, comp = p[order], g[order], d2[order], comp[order]
    starts = np.flatnonzero(np.r_[True, comp[1:] != comp[:-1]])
    counts = np.diff(np.r_[starts, len(comp)])
    single = counts == 1
    out_p = [p[starts[single]]]
    out_g = [g[starts[single]]]
    out_d2 = [d2[starts[single]]]
    r2 = float(radius_px) ** 2
    multi_s, multi_c = starts[~single], counts[~single]
    if len(multi_s):
        # plain Python lists: per-component numpy calls would dominate for these tiny components
        pl, gl, dl = p.tolist(), g.tolist(), d2.tolist()
        for s, c in zip(multi_s.tolist(), multi_c.tolist()):
            mp, mg, md2 = _solve_component(pl[s:s + c], gl[s:s + c], dl[s:s + c], r2)
            out_p.append(mp)
            out_g.append(mg)
            out_d2.append(md2)
    mp = np.concatenate(out_p)
    mg = np.concatenate(out_g)
    md2 = np.concatenate(out_d2)
    order = np.argsort(mp, kind="stable")
    return Matching(mp[order], mg[order], np.sqrt(md2[order]))


def _components(p: np.ndarray, g: np.ndarray, n_pred: int, n_gt: int) -> np.ndarray:
    """Connected-component label of each candidate edge of the bipartite graph (label = smallest node id).

    Min-label propagation with pointer jumping: each round takes every edge's smaller end label to
    both ends; candidate graphs of column lattices have tiny components, so a few rounds settle it
    (cheaper than building a sparse matrix for scipy's connected_components on every image).
    """
    u, v = p, g + n_pred
    lab = np.arange(n_pred + n_gt)
    while True:
        m = np.minimum(lab[u], lab[v])
        new = lab.copy()
        np.minimum.at(new, u, m)
        np.minimum.at(new, v, m)
        new = new[new]  # pointer jumping: follow each label to its own label
        if np.array_equal(new, lab):
            return lab[u]
        lab = new


def _solve_component(p: list, g: list, d2: list, r2: float):
    """Exact optimum of one component: max pairs, then min sum of squared distances."""
    from scipy.optimize import linear_sum_assignment

    up = sorted(set(p))
    ug = sorted(set(g))
    ip = {v: k for k, v in enumerate(up)}
    ig = {v: k for k, v in enumerate(ug)}
    lp = np.fromiter((ip[v] for v in p), np.int64, len(p))
    lg = np.fromiter((ig[v] for v in g), np.int64, len(g))
    up, ug, d2 = np.asarray(up, np.int64), np.asarray(ug, np.int64), np.asarray(d2, np.float64)
    if len(up) * len(ug) > _DENSE_CELL_LIMIT:
        return _solve_sparse(up, lp, ug, lg, d2, r2)
    # a missing pair costs more than any feasible set of pairs, so the number of pairs is maximised first
    big = (min(len(up), len(ug)) + 1) * (r2 + 1.0)
    cost = np.full((len(up), len(ug)), big)
    cost[lp, lg] = d2
    rows, cols = linear_sum_assignment(cost)
    ok = cost[rows, cols] < big
    rows, cols = rows[ok], cols[ok]
    return up[rows], ug[cols], cost[rows, cols]


def _solve_sparse(up, lp, ug, lg, d2, r2):
    """Same optimum as the dense solver, on a sparse augmented graph (for huge components).

    Rows are the predictions then one dummy per truth; columns are the truths
    then one dummy per prediction. Real pairs cost ``d2 + 1``, a prediction or
    truth left unmatched costs ``big + 1``, and dummy-dummy pairs (pattern of
    the transposed candidate graph) cost 1, so a full matching always exists
    and its optimum is the maximum matching of minimal total squared distance.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    n_p, n_g = len(up), len(ug)
    big = (min(n_p, n_g) + 1) * (r2 + 1.0) * 2
    rows = np.concatenate([lp, np.arange(n_p), n_p + lg])
    cols = np.concatenate([lg, n_g + np.arange(n_p), n_g + lp])
    vals = np.concatenate([d2 + 1.0, np.full(n_p, big + 1.0), np.ones(len(lp))])
    # unmatched truths: dummy row for truth j pairs with column j at cost big + 1
    rows = np.concatenate([rows, n_p + np.arange(n_g)])
    cols = np.concatenate([cols, np.arange(n_g)])
    vals = np.concatenate([vals, np.full(n_g, big + 1.0)])
    n = n_p + n_g
    mat = coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    row_ind, col_ind = min_weight_full_bipartite_matching(mat)
    real = (row_ind < n_p) & (col_ind < n_g)
    r, c = row_ind[real], col_ind[real]
    w = np.asarray(mat[r, c]).ravel() - 1.0
    return up[r], ug[c], w
