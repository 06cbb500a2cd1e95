"""Ziatdinov AtomNet: strict loading of the published weights, agreement with the literal oracle."""
import numpy as np
import pytest
import torch
from models_helpers import inside, srtio3_100  # noqa: E402
from scipy.spatial import cKDTree

from atomdata import models
from atomdata.models.weights import WeightsNotFoundError
from atomdata.models.ziatdinov import AtomNetCubic, ZiatdinovAtomNet, blob_centres
from atomdata.models.ziatdinov_reference import PublishedResAtomSegNetS2, published_locate

WEIGHTS = "ziatdinov_atomnet/cubic-best_weights.pt"
IMAGE = "ziatdinov_atomnet/testimage.npy"


@pytest.fixture
def weights_path(shared_reference):
    return shared_reference / WEIGHTS


@pytest.fixture
def locator(weights_path):
    return ZiatdinovAtomNet(weights_path, device="cpu")


@pytest.fixture
def test_image(shared_reference):
    return np.load(shared_reference / IMAGE)


def _match(a, b, tol):
    """Same number of points and every point of ``a`` within ``tol`` px of one of ``b``."""
    assert len(a) == len(b)
    if len(a):
        d, idx = cKDTree(b).query(a)
        assert d.max() <= tol
        assert len(set(idx)) == len(b)  # one-to-one


@pytest.mark.parametrize("net_class", [AtomNetCubic, PublishedResAtomSegNetS2])
def test_published_state_dict_loads_strictly(net_class, weights_path):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    result = net_class().load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_network_matches_the_published_module_structure(weights_path):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    ours, published = AtomNetCubic().eval(), PublishedResAtomSegNetS2().eval()
    ours.load_state_dict(state)
    published.load_state_dict(state)
    x = torch.rand(2, 1, 36, 44, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_allclose(ours(x).numpy(), published(x).numpy(), atol=2e-5)


def test_matches_the_published_inference_on_the_test_image(locator, test_image, weights_path):
    expected = published_locate(test_image, weights_path)
    got = locator.predict(test_image, pixel_size_A=0.1)
    assert len(got) > 100
    _match(got, expected, tol=0.01)


def test_matches_the_published_inference_with_padding(locator, test_image, weights_path):
    crop = test_image[3:246, 5:250]  # 243 x 245: padded to 244 x 248, border rule on the padded size
    _match(locator.predict(crop, pixel_size_A=0.1), published_locate(crop, weights_path), tol=0.01)


def test_test_image_columns_form_a_centred_square_lattice(locator, test_image):
    xy = locator.predict(test_image, pixel_size_A=0.1)
    d, idx = cKDTree(xy).query(xy, k=2)
    nn = d[:, 1]
    assert np.std(nn) / np.mean(nn) < 0.05  # one nearest-neighbour distance
    vec = xy[idx[:, 1]] - xy
    angle = np.degrees(np.arctan2(vec[:, 1], vec[:, 0])) % 90
    assert np.all(np.abs(angle - 45) < 10)  # Sr and Ti-O columns: neighbours along the diagonals
    counts = np.histogram(xy[:, 0], bins=np.arange(0, 257, 4))[0]
    assert counts.max() > 0 and (counts > 0).sum() < 40  # columns line up in vertical rows


def test_finds_synthetic_srtio3_columns_where_they_were_rendered(locator):
    shape = (192, 256)  # not square: a swapped x/y would leave the image or miss the lattice
    image, xy, species = srtio3_100(0.15, shape, origin=(3.3, 9.7))
    pred = locator.predict(image, pixel_size_A=0.15)
    bright = xy[(species != "O") & inside(xy, shape, 8)]
    d_gt, _ = cKDTree(pred).query(bright)
    assert d_gt.max() < 1.0  # every Sr and Ti-O column found within 1 px
    d_pred, _ = cKDTree(xy).query(pred)
    assert d_pred.max() < 1.0  # nothing found away from a rendered column
    swapped = pred[:, ::-1]
    assert np.median(cKDTree(xy).query(swapped)[0]) > 2.0


def test_batch_equals_single_and_handles_mixed_shapes(locator, test_image):
    a, b, c = test_image[:128, :128], test_image[64:192, 32:160], test_image[:100, :120]
    batch = locator.predict_batch([a, b, c], pixel_sizes_A=[0.1, 0.1, 0.1])
    for im, got in zip((a, b, c), batch):
        np.testing.assert_allclose(got, locator.predict(im, pixel_size_A=0.1), atol=1e-6)


def test_constant_image_has_no_columns(locator):
    assert locator.predict(np.full((32, 32), 3.0), pixel_size_A=0.1).shape == (0, 2)


def test_eight_bit_switch_changes_the_input_only_slightly(weights_path, test_image):
    floating = ZiatdinovAtomNet(weights_path, device="cpu", eight_bit=False)
    _match(floating.predict(test_image, pixel_size_A=0.1), published_locate(test_image, weights_path), tol=0.5)


def test_blob_centres_border_rule():
    mask = np.zeros((30, 40), bool)
    mask[0:3, 10:13] = True  # centre y = 1 < 5: dropped
    mask[14:17, 4:7] = True  # centre x = 5: kept (strict rule)
    mask[14:16, 20:23] = True  # centre (21, 14.5)
    np.testing.assert_array_equal(blob_centres(mask), [[5.0, 15.0], [21.0, 14.5]])
    assert blob_centres(mask, border_px=0).shape == (3, 2)


def test_registry_finds_weights_through_the_environment(weights_path, monkeypatch):
    monkeypatch.setenv("ATOMDATA_ZIATDINOV_WEIGHTS", str(weights_path))
    loc = models.get("ziatdinov-atomnet-cubic", download=False)
    info = loc.describe()
    assert info["weights"]["source"] == "env"
    assert info["weights"]["sha256"] == "dc305d6f48bb3e6a22fd91385ef561b4425e73e74a9ecaf8b206a86bbe327c35"
    assert "10.1021/acsnano.7b07504" in info["citation"]


def test_missing_weights_error_says_how_to_supply_them(monkeypatch):
    monkeypatch.delenv("ATOMDATA_ZIATDINOV_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFoundError, match="ATOMDATA_ZIATDINOV_WEIGHTS.*AICrystallographer"):
        models.get("ziatdinov-atomnet-cubic", download=False)


def test_bad_options_are_rejected(weights_path):
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\), got 1.5"):
        ZiatdinovAtomNet(weights_path, threshold=1.5)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        ZiatdinovAtomNet(weights_path, batch_size=0)
