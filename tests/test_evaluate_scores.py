"""Hand-worked cases of score_image and the matchers (positions are (x, y) px)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomdata.evaluation import match_one_to_one, score_image
from atomdata.evaluation import matching as matching_mod
from atomdata.schema import ColumnSet

GT = np.array([[10.0, 10.0], [20.0, 10.0], [30.0, 10.0], [10.0, 20.0]])
PX = 0.1  # Å/px, so the default 0.5 Å tolerance is 5 px


@pytest.mark.parametrize("protocol", ["one_to_one", "wei2022"])
def test_perfect_prediction(protocol):
    s = score_image(GT.copy(), GT, pixel_size_A=PX, protocol=protocol)
    assert (s.tp, s.fp, s.fn) == (4, 0, 0)
    assert s.id_recall == 1.0 and s.id_precision == 1.0 and s.position_accuracy_A == 0.0
    assert s["id_recall"] == 1.0  # dict-style access


def test_one_missing_and_one_spurious():
    s = score_image(GT[:3], GT, pixel_size_A=PX)
    assert (s.tp, s.fp, s.fn) == (3, 0, 1)
    assert s.id_recall == pytest.approx(0.75) and s.id_precision == 1.0
    s = score_image(np.vstack([GT, [[50.0, 50.0]]]), GT, pixel_size_A=PX)
    assert (s.tp, s.fp, s.fn) == (4, 1, 0)
    assert s.id_precision == pytest.approx(0.8) and s.id_recall == 1.0


def test_accuracy_is_rms_in_angstrom():
    shifts = np.array([[0.3, 0.0], [0.0, 0.4], [0.0, 0.0], [1.0, 0.0]])  # px
    s = score_image(GT + shifts, GT, pixel_size_A=PX)
    rms_px = math.sqrt((0.09 + 0.16 + 0 + 1.0) / 4)
    assert s.position_accuracy_A == pytest.approx(rms_px * PX)


def test_two_predictions_near_one_truth():
    gt = np.array([[10.0, 10.0]])
    pred = np.array([[10.5, 10.0], [9.0, 10.0]])
    s = score_image(pred, gt, pixel_size_A=PX)
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)
    assert s.pred_status.tolist() == [0, 1]  # the closer one is the TP
    w = score_image(pred, gt, pixel_size_A=PX, protocol="wei2022")  # radius sqrt(5) px: both within
    assert (w.tp, w.fp, w.fn) == (2, 0, 0)
    assert w.id_recall == 1.0  # published 2/1, capped
    assert w.id_precision == 1.0


def test_wei2022_uses_five_square_pixels_strictly():
    gt = np.array([[10.0, 10.0]])
    assert score_image([[12.0, 11.0]], gt, pixel_size_A=0.3, protocol="wei2022").tp == 0  # d^2 = 5: not < 5
    assert score_image([[12.0, 10.9]], gt, pixel_size_A=0.3, protocol="wei2022").tp == 1  # d^2 = 4.81
    # the rule is in pixels whatever the pixel size
    assert score_image([[12.0, 10.9]], gt, pixel_size_A=0.05, protocol="wei2022").tolerance_A == pytest.approx(math.sqrt(5) * 0.05)


def test_shift_of_exactly_the_tolerance():
    gt = np.array([[10.0, 10.0]])
    # one_to_one matches at distance <= tolerance: 5 px = 0.5 Å at 0.1 Å/px
    s = score_image([[15.0, 10.0]], gt, pixel_size_A=PX, tolerance_A=0.5)
    assert (s.tp, s.fp, s.fn) == (1, 0, 0)
    assert s.position_accuracy_A == pytest.approx(0.5)
    s = score_image([[15.0 + 1e-9, 10.0]], gt, pixel_size_A=PX, tolerance_A=0.5)
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)
    # wei2022 with an explicit tolerance is strict
    assert score_image([[15.0, 10.0]], gt, pixel_size_A=PX, tolerance_A=0.5, protocol="wei2022").tp == 0


def test_empty_prediction_and_empty_ground_truth():
    s = score_image(np.zeros((0, 2)), GT, pixel_size_A=PX)
    assert (s.tp, s.fp, s.fn) == (0, 0, 4)
    assert s.id_recall == 0.0 and math.isnan(s.id_precision) and math.isnan(s.position_accuracy_A)
    assert score_image([], GT, pixel_size_A=PX, protocol="wei2022").id_precision == 0.0  # as published
    s = score_image(GT, np.zeros((0, 2)), pixel_size_A=PX)
    assert (s.tp, s.fp, s.fn) == (0, 4, 0)
    assert math.isnan(s.id_recall) and s.id_precision == 0.0
    s = score_image([], [], pixel_size_A=PX)
    assert (s.tp, s.fp, s.fn) == (0, 0, 0) and math.isnan(s.id_recall)


def test_predictions_at_the_image_edge():
    shape = (100, 200)  # H, W: 1 % margins are x < 2 or x > 198, y < 1 or y > 99
    gt = np.array([[1.5, 50.0], [100.0, 50.0], [100.0, 0.5]])
    pred = gt.copy()
    w = score_image(pred, gt, pixel_size_A=PX, protocol="wei2022", image_shape=shape)
    assert w.n_edge == 2 and w.pred_status.tolist() == [3, 0, 3]
    assert (w.tp, w.fp, w.fn) == (1, 0, 2)  # ground truth is never dropped
    assert w.id_precision == 1.0 and w.id_recall == pytest.approx(1 / 3)
    o = score_image(pred, gt, pixel_size_A=PX, image_shape=shape, edge_px=0)  # one_to_one without a border band
    assert (o.tp, o.fp, o.fn, o.n_edge) == (3, 0, 0, 0)
    o = score_image(pred, gt, pixel_size_A=PX, image_shape=shape, edge_px=0, edge_fraction=0.01)
    assert o.n_edge == 2


def test_one_to_one_border_band():
    """Targets within edge_px of the border are neither TP nor FN; predictions there are not FP."""
    shape = (100, 200)
    gt = np.array([[3.0, 50.0], [100.0, 50.0], [100.0, 96.0], [150.0, 50.0]])
    # a pair on an edge target, an exact hit, nothing for the target at y=96 (in the band),
    # a spurious prediction in the band and one spurious prediction inside
    pred = np.array([[3.2, 50.0], [100.0, 50.0], [199.0, 10.0], [60.0, 60.0]])
    o = score_image(pred, gt, pixel_size_A=PX, image_shape=shape)  # default band: 6 px
    assert o.gt_edge.tolist() == [True, False, True, False]
    assert o.pred_status.tolist() == [3, 0, 3, 1]
    assert (o.tp, o.fp, o.fn, o.n_gt, o.n_edge) == (1, 1, 1, 2, 2)
    assert o.id_recall == pytest.approx(0.5) and o.id_precision == pytest.approx(0.5)
    # a target just inside the band edge counts: x = 6.0 is 6.5 px from the border at -0.5
    inside = score_image([[6.0, 50.0]], [[6.0, 50.0]], pixel_size_A=PX, image_shape=shape)
    assert (inside.tp, inside.n_edge) == (1, 0)
    with pytest.raises(ValueError, match="edge_px must be a finite number >= 0"):
        score_image(pred, gt, pixel_size_A=PX, image_shape=shape, edge_px=-1)


def test_non_target_columns_are_ignored_or_false_positives():
    cs = ColumnSet.from_arrays([[10, 10], [20, 10], [15, 10]], ["Sr", "Ti-O", "O"], [True, True, False])
    pred = [[10, 10], [15.2, 10], [15.0, 10.3], [40, 40]]
    s = score_image(pred, cs, pixel_size_A=PX, tolerance_A=0.3)  # 3 px
    assert (s.tp, s.fp, s.fn, s.n_ignored) == (1, 2, 1, 1)  # one prediction per non-target column is ignored
    assert s.id_precision == pytest.approx(1 / 3)
    s = score_image(pred, cs, pixel_size_A=PX, tolerance_A=0.3, non_target="false_positive")
    assert (s.tp, s.fp, s.n_ignored) == (1, 3, 0)
    assert set(s.per_species) == {"Sr", "Ti-O"}
    assert s.per_species["Sr"].id_recall == 1.0 and s.per_species["Ti-O"].id_recall == 0.0


def test_target_is_preferred_over_a_nearby_non_target():
    cs = ColumnSet.from_arrays([[10, 10], [12, 10]], ["Sr", "O"], [True, False])
    s = score_image([[11.8, 10]], cs, pixel_size_A=PX)  # closer to the O column but within tolerance of Sr
    assert (s.tp, s.fp, s.fn, s.n_ignored) == (1, 0, 0, 0)


def test_optimal_not_greedy():
    # greedy nearest-first would pair p0-g1 (0.9 px) and leave g0 and p1 unmatched
    gt = np.array([[0.0, 0.0], [2.0, 0.0]])
    pred = np.array([[1.1, 0.0], [3.5, 0.0]])
    m = match_one_to_one(pred, gt, 1.6)
    assert len(m) == 2 and sorted(zip(m.pred.tolist(), m.gt.tolist())) == [(0, 0), (1, 1)]


def test_sparse_fallback_gives_the_dense_optimum(monkeypatch):
    rng = np.random.default_rng(3)
    gt = rng.uniform(0, 20, (60, 2))
    pred = np.vstack([gt + rng.normal(0, 0.8, gt.shape), rng.uniform(0, 20, (10, 2))])
    dense = match_one_to_one(pred, gt, 2.5)
    monkeypatch.setattr(matching_mod, "_DENSE_CELL_LIMIT", 4)
    sparse = match_one_to_one(pred, gt, 2.5)
    assert len(sparse) == len(dense)
    assert np.sum(sparse.dist_px ** 2) == pytest.approx(np.sum(dense.dist_px ** 2))
    assert len(set(sparse.pred.tolist())) == len(sparse) == len(set(sparse.gt.tolist()))


@pytest.mark.parametrize("bad, match", [
    ([[1.0, np.nan]], "not finite"),
    (np.zeros((2, 3)), r"shape \(N, 2\)"),
    (np.zeros((2, 5)), "transposed"),
])
def test_bad_predictions_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        score_image(bad, GT, pixel_size_A=PX)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="pixel_size_A must be"):
        score_image(GT, GT, pixel_size_A=-0.1)
    with pytest.raises(ValueError, match="tolerance_A must be"):
        score_image(GT, GT, pixel_size_A=PX, tolerance_A=0)
    with pytest.raises(ValueError, match="unknown protocol 'greedy'"):
        score_image(GT, GT, pixel_size_A=PX, protocol="greedy")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), protocol=st.sampled_from(["one_to_one", "wei2022"]))
def test_scores_do_not_depend_on_prediction_order(seed, protocol):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0, 30, (rng.integers(0, 25), 2))
    found = gt[rng.random(len(gt)) < 0.8]
    pred = np.vstack([found + rng.normal(0, 1.0, found.shape), rng.uniform(0, 30, (rng.integers(0, 8), 2))])
    a = score_image(pred, gt, pixel_size_A=0.2, protocol=protocol, image_shape=(30, 30))
    perm = rng.permutation(len(pred))
    b = score_image(pred[perm], gt, pixel_size_A=0.2, protocol=protocol, image_shape=(30, 30))
    assert (a.tp, a.fp, a.fn, a.n_edge) == (b.tp, b.fp, b.fn, b.n_edge)
    for k in ("id_recall", "id_precision", "position_accuracy_A"):
        assert a[k] == pytest.approx(b[k], nan_ok=True)
    if protocol == "wei2022":  # no assignment, so each prediction's status is order-free too
        assert np.array_equal(a.pred_status[perm], b.pred_status)


def test_component_matching_equals_one_dense_assignment():
    """Crowded, ambiguous clusters: the per-component optimum equals the optimum of one dense problem."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(7)
    centres = rng.uniform(0, 200, (60, 2))
    gt = (centres[:, None, :] + rng.normal(0, 1.2, (60, 8, 2))).reshape(-1, 2)
    pred = np.vstack([gt[rng.random(len(gt)) < 0.85],
                      rng.uniform(0, 200, (40, 2))])
    pred = pred + rng.normal(0, 0.8, pred.shape)
    r = 1.5
    m = match_one_to_one(pred, gt, r)
    d2 = cdist(pred, gt, "sqeuclidean")
    big = (min(d2.shape) + 1) * (r * r + 1)
    cost = np.where(d2 <= r * r, d2, big)
    rows, cols = linear_sum_assignment(cost)
    ok = cost[rows, cols] < big
    assert len(m) == int(ok.sum())
    assert np.sum(m.dist_px ** 2) == pytest.approx(cost[rows, cols][ok].sum(), rel=1e-9)
