"""Lin/Xin AtomSegNet: U-Net shapes, weights loading, the watershed locator."""
import numpy as np
import pytest
import torch
from models_helpers import render_columns  # noqa: E402

from atomdata import models
from atomdata.models.atomsegnet import AtomSegUNet, LinAtomSegNet, to_8bit, watershed_centres
from atomdata.models.weights import WeightsNotFoundError


def test_unet_keeps_the_image_shape_and_the_published_layer_names():
    net = AtomSegUNet().eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, 12, 16))
    assert out.shape == (2, 1, 12, 16) and float(out.min()) > 0 and float(out.max()) < 1
    keys = set(net.state_dict())
    # names of the published gaussianMask+ UNet (foundry_Lin/UNet.py)
    for key in ("conv1_1.weight", "bn4_out.running_var", "upconv7.weight", "conv9_3.bias", "bn9_3.weight",
                "bn9.num_batches_tracked"):
        assert key in keys
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert max(c.out_channels for c in convs) == 256
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 16


def test_to_8bit_truncates_like_the_servable():
    image = np.array([[1.0, 2.0], [2.999, 3.0]])
    np.testing.assert_array_equal(to_8bit(image), [[0, 127], [254, 255]])
    assert to_8bit(np.ones((3, 3))).max() == 0


def test_watershed_centres_of_a_gaussian_mask():
    # a perfect gaussianMask+ output: Gaussian blobs at known positions, scaled to 0..255
    xy = np.array([(10.0, 12.0), (30.5, 12.0), (20.0, 30.5)])
    mask = render_columns(xy, [1, 1, 1], (44, 42), sigma_px=2.0)
    out8 = (mask / mask.max() * 255).astype(np.uint8)
    got = watershed_centres(out8)
    assert got.shape == (3, 2)
    order = np.lexsort((got[:, 0], got[:, 1]))
    np.testing.assert_allclose(got[order], xy[np.lexsort((xy[:, 0], xy[:, 1]))], atol=0.05)
    assert watershed_centres(np.zeros((8, 8), np.uint8)).shape == (0, 2)


def test_missing_weights_error_names_the_ways_to_get_them(monkeypatch):
    monkeypatch.delenv("ATOMDATA_LIN_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFoundError, match="ATOMDATA_LIN_WEIGHTS.*atomdata train lin-atomsegnet"):
        models.get("lin-atomsegnet")


def test_checkpoint_round_trip_and_provenance(tmp_path):
    untrained = LinAtomSegNet(untrained=True, seed=5, device="cpu")
    path = tmp_path / "lin.pt"
    torch.save({"state_dict": untrained.net.state_dict(), "meta": {"seed": 5, "recipe": "test"}}, path)
    loaded = models.get("lin-atomsegnet", weights=path, device="cpu")
    image = render_columns([(8, 9), (20, 21)], [1, 1], (30, 34), sigma_px=2, noise=0.05)
    np.testing.assert_array_equal(loaded.output8([image]), untrained.output8([image]))
    info = loaded.describe()
    assert info["weights"]["source"] == "explicit" and len(info["weights"]["sha256"]) == 64
    assert info["weights"]["training"] == {"seed": 5, "recipe": "test"}
    assert "re-trained" in info["description"]
    assert untrained.describe()["weights"]["source"] == "untrained"


def test_wrong_state_dict_is_rejected(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="is not a state_dict of AtomSegUNet"):
        LinAtomSegNet(path, device="cpu")


def test_untrained_locator_runs_on_odd_shapes_and_batches():
    loc = LinAtomSegNet(untrained=True, device="cpu", batch_size=2)
    rng = np.random.default_rng(0)
    images = [rng.random((30, 33)), rng.random((30, 33)), rng.random((21, 26))]
    out = loc.output8(images[:2])
    assert out.shape == (2, 30, 33) and out.dtype == np.uint8
    batch = loc.predict_batch(images, pixel_sizes_A=0.1)
    for im, got in zip(images, batch):
        np.testing.assert_allclose(got, loc.predict(im, pixel_size_A=0.1), atol=1e-9)
    with pytest.raises(ValueError, match="low < high"):
        LinAtomSegNet(untrained=True, low=120, high=100)
