"""The locator interface and the registry (atomdata.models, atomdata.models.base)."""
import subprocess
import sys

import numpy as np
import pytest

from atomdata import models
from atomdata.models import Locator


class _Fixed(Locator):
    """Returns the brightest pixel as one column: a tiny locator with an exactly known answer."""

    name = "fixed-test"

    def _locate(self, image, pixel_size_A):
        y, x = np.unravel_index(np.argmax(image), image.shape)
        return [[x, y]], [3]


def test_available_lists_the_three_models():
    assert {"ziatdinov-atomnet-cubic", "lin-atomsegnet", "baseline-peaks"} <= set(models.available())
    assert models.available() == sorted(models.available())


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(KeyError, match="Unknown locator 'atomnet'.*baseline-peaks"):
        models.get("atomnet")


def test_register_get_and_unregister():
    models.register("fixed-test", _Fixed)
    try:
        with pytest.raises(ValueError, match="already registered"):
            models.register("fixed-test", _Fixed)
        loc = models.get("fixed-test")
        image = np.zeros((8, 10))
        image[2, 7] = 5  # row 2, column 7 -> (x, y) = (7, 2)
        xy, classes = loc.predict(image, pixel_size_A=0.1, return_classes=True)
        assert xy.dtype == np.float64 and xy.shape == (1, 2)
        np.testing.assert_array_equal(xy, [[7.0, 2.0]])
        np.testing.assert_array_equal(classes, [3])
    finally:
        models.unregister("fixed-test")
    assert "fixed-test" not in models.available()


def test_register_as_decorator_and_rejects_empty_name():
    @models.register("decorated-test")
    class Decorated(_Fixed):
        pass

    try:
        assert isinstance(models.get("decorated-test"), Decorated)
    finally:
        models.unregister("decorated-test")
    with pytest.raises(ValueError, match="non-empty string"):
        models.register("", _Fixed)


@pytest.mark.parametrize(
    "image, pixel_size, message",
    [
        (np.zeros((8, 8, 3)), 0.1, r"2-D array image\[y, x\], got shape \(8, 8, 3\)"),
        (np.zeros((2, 8)), 0.1, "at least 4 x 4"),
        (np.full((8, 8), np.nan), 0.1, "NaN or infinite"),
        (np.array([["a"] * 4] * 4), 0.1, "real numbers"),
        (np.zeros((8, 8)), 0.0, "pixel_size_A must be a finite number > 0.*got 0.0"),
        (np.zeros((8, 8)), -0.1, "got -0.1"),
        (np.zeros((8, 8)), "big", "must be a number"),
    ],
)
def test_predict_rejects_bad_input(image, pixel_size, message):
    with pytest.raises(ValueError, match=message):
        _Fixed().predict(image, pixel_size_A=pixel_size)


def test_predict_batch_matches_predict_and_checks_sizes():
    rng = np.random.default_rng(0)
    images = [rng.random((6, 9)) for _ in range(3)]
    loc = _Fixed()
    batch = loc.predict_batch(images, pixel_sizes_A=0.2)
    for im, got in zip(images, batch):
        np.testing.assert_array_equal(got, loc.predict(im, pixel_size_A=0.2))
    assert len(loc.predict_batch(images, pixel_sizes_A=[0.1, 0.2, 0.3], return_classes=True)[0]) == 2
    with pytest.raises(ValueError, match="pixel_sizes_A has 2 values for 3 images"):
        loc.predict_batch(images, pixel_sizes_A=[0.1, 0.2])


def test_describe_has_identity_fields():
    info = models.get("baseline-peaks").describe()
    assert {"name", "version", "citation", "licence", "weights", "options", "description"} <= set(info)
    assert info["name"] == "baseline-peaks" and info["weights"] is None


def test_import_atomdata_and_registry_do_not_import_torch():
    code = ("import sys, atomdata, atomdata.models as m; m.available(); m.get('baseline-peaks'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
