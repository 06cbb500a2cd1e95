"""Reading microscope files: real vendor files, round trips through the real writers, and the error paths."""
import numpy as np
import pytest

pytest.importorskip("rsciio")
import tifffile  # noqa: E402

from atomdata.sources.microscope import UncalibratedError, length_to_A, normalise_unit, read_images  # noqa: E402

FILES = "microscope_files"
WIDE = (1e-3, 1e6)  # accept any pixel size: these tests check the calibration, not plausibility

# Pixel sizes as RosettaSciIO reports them, from ../shared/reference/microscope_files/README.md
# (value, unit) -> Angstrom by the unit's definition.
REAL = [
    ("multi_signal.dm3", 0.017751578241586685 * 10, (512, 512), "HAADF", 1),
    ("test_STEM_image.dm3", 0.24853801727294922 * 10, (68, 68), None, 1),
    ("Acquisition_18.emd", 0.012246524915099144 * 10, (1024, 1024), None, 1),
    ("FFTComplexEven.emd", 0.027115295630818652 * 1e4, (128, 128), "HAADF", 1),
    ("128x128-TEM_search.emi", 5.261214205047081 * 10, (128, 128), None, 1),
    ("128x128-TEM_search_1.ser", 5.261214205047081 * 10, (128, 128), None, 1),
    ("test_loading_image_saved_with_imageJ.tif", 0.16867471098853332 * 1e4, (68, 68), None, 1),
    ("test_tiff_Zeiss_SEM_512pix.tif", 1.1649976e-08 * 1e10, (384, 512), None, 1),
    ("test_stackbuilder_imagestack.dm3", 0.05998290330171585 * 1e4, (2, 16), None, 3),
]


@pytest.mark.parametrize("name, pixel_A, shape, signal, n", REAL, ids=[r[0] for r in REAL])
def test_real_files_give_their_calibrated_images(shared_reference, name, pixel_A, shape, signal, n):
    images = read_images(shared_reference / FILES / name, plausible_A=WIDE)
    assert len(images) == n  # a stack gives every frame; spectra, profiles and FFTs are skipped
    for im in images:
        assert im.image.shape == shape
        assert im.pixel_size_A == pytest.approx(pixel_A, rel=1e-12)
        assert im.calibration == "file"
        if signal:
            assert im.signal == signal
    assert len({im.name for im in images}) == n


def test_stack_frames_are_the_stack(shared_reference):
    import rsciio.digitalmicrograph as dm

    path = shared_reference / FILES / "test_stackbuilder_imagestack.dm3"
    stack = dm.file_reader(str(path))[0]["data"]
    frames = read_images(path, plausible_A=WIDE)
    for k, im in enumerate(frames):
        np.testing.assert_array_equal(im.image, stack[k])
        assert im.frame == k and im.name.endswith(f"frame{k:03d}")


def test_uncalibrated_file_is_a_clear_error_naming_the_file(shared_reference):
    path = shared_reference / FILES / "test_loading_image_saved_with_imageJ_no_scale.tif"
    with pytest.raises(UncalibratedError, match=r"imageJ_no_scale\.tif: no pixel size.*--pixel-size-A"):
        read_images(path)
    (im,) = read_images(path, pixel_size_A=0.2)  # the explicit pixel size is the fix
    assert im.pixel_size_A == 0.2 and im.calibration == "given"


def test_non_square_pixels_are_refused(shared_reference):
    path = shared_reference / FILES / "dmTest_float32_nonSquare_diffPixelSize.dm4"
    with pytest.raises(ValueError, match=r"nonSquare_diffPixelSize\.dm4: non-square pixels \(2 Å along y, 10 Å along x\)"):
        read_images(path, plausible_A=WIDE)
    assert read_images(path, pixel_size_A=1.5)[0].pixel_size_A == 1.5


def test_implausible_pixel_size_names_the_file_and_the_value(shared_reference):
    with pytest.raises(ValueError, match=r"Zeiss_SEM_512pix\.tif: pixel size 116\.5 Å/px .* outside"):
        read_images(shared_reference / FILES / "test_tiff_Zeiss_SEM_512pix.tif")


def test_explicit_pixel_size_overrides_the_file(shared_reference):
    (im,) = read_images(shared_reference / FILES / "multi_signal.dm3", pixel_size_A=0.3)
    assert im.pixel_size_A == 0.3 and im.calibration == "given" and im.unit_in_file is None


# -- round trips through the real writers ---------------------------------------------------------
def _signal(data, scale, unit):
    axes = [{"name": n, "size": s, "scale": scale, "offset": 0.0, "units": unit, "navigate": False}
            for n, s in zip("yx", data.shape)]
    return {"data": data, "axes": axes, "metadata": {"General": {"title": "HAADF"}, "Signal": {"signal_type": ""}},
            "original_metadata": {}}


@pytest.mark.parametrize("scale, unit, expected_A", [(0.0125, "nm", 0.125), (0.5, "Å", 0.5), (62.5, "pm", 0.625),
                                                     (0.0001, "µm", 1.0)])
def test_rosettasciio_tiff_round_trip(tmp_path, scale, unit, expected_A):
    import rsciio.tiff

    data = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64)
    rsciio.tiff.file_writer(str(tmp_path / "img.tif"), _signal(data, scale, unit))
    (im,) = read_images(tmp_path / "img.tif")
    assert im.pixel_size_A == expected_A
    np.testing.assert_array_equal(im.image, data)


def test_rosettasciio_emd_round_trip(tmp_path):
    import rsciio.emd

    data = np.random.default_rng(0).integers(0, 60000, (32, 40)).astype(np.uint16)
    rsciio.emd.file_writer(str(tmp_path / "img.emd"), _signal(data, 0.0125, "nm"))
    (im,) = read_images(tmp_path / "img.emd")
    assert im.pixel_size_A == 0.125
    np.testing.assert_array_equal(im.image, data)


@pytest.mark.parametrize("unit, pixel, expected_A", [("nm", 0.0125, 0.125), ("\\u00C5", 0.25, 0.25), ("A", 0.5, 0.5),
                                                     ("micron", 0.0001, 1.0)])
def test_tifffile_imagej_round_trip(tmp_path, unit, pixel, expected_A):
    data = np.random.default_rng(1).random((3, 40, 48)).astype(np.float32)
    tifffile.imwrite(tmp_path / "stack.tif", data, imagej=True, resolution=(1 / pixel, 1 / pixel),
                     metadata={"unit": unit, "axes": "ZYX"})
    images = read_images(tmp_path / "stack.tif")
    assert [im.pixel_size_A for im in images] == [expected_A] * 3
    for k, im in enumerate(images):
        np.testing.assert_array_equal(im.image, data[k])


def test_png_needs_a_pixel_size(tmp_path):
    import imageio.v3 as iio

    data = (np.arange(32 * 32) % 251).astype(np.uint8).reshape(32, 32)
    iio.imwrite(tmp_path / "img.png", data)
    with pytest.raises(UncalibratedError, match=r"img\.png: no pixel size"):
        read_images(tmp_path / "img.png")
    (im,) = read_images(tmp_path / "img.png", pixel_size_A=0.1)
    np.testing.assert_array_equal(im.image, data)


def test_npy_stack_and_errors(tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((2, 8, 8)))
    with pytest.raises(UncalibratedError, match=r"s\.npy: a \.npy file has no pixel size"):
        read_images(tmp_path / "s.npy")
    assert [im.name for im in read_images(tmp_path / "s.npy", pixel_size_A=0.1)] == ["s_frame000", "s_frame001"]
    with pytest.raises(FileNotFoundError, match="nothere.dm4: no such file"):
        read_images(tmp_path / "nothere.dm4")
    (tmp_path / "x.mrc").write_bytes(b"0")
    with pytest.raises(ValueError, match=r"x\.mrc: unknown file type '\.mrc'"):
        read_images(tmp_path / "x.mrc")
    with pytest.raises(ValueError, match="pixel_size_A must be a finite number > 0"):
        read_images(tmp_path / "s.npy", pixel_size_A=-1)


def test_split_file_images_keep_their_pixel_sizes(tmp_path):
    from tiny_dataset import build

    from atomdata.sources import open_split

    folder = build(tmp_path / "ds", progress=False)
    split = open_split(folder / "test.h5")
    images = read_images(folder / "test.h5")
    assert len(images) == len(split)
    assert [im.pixel_size_A for im in images] == [float(p) for p in split.pixel_sizes_A]
    np.testing.assert_array_equal(images[1].image, split.image(1))


@pytest.mark.parametrize("unit, key", [("n_m", "nm"), ("\u00b5m", "um"), ("\u03bcm", "um"), ("micron", "um"),
                                       ("Å", "A"), ("A", "A"), ("Angstrom", "A"), ("m", "m"), ("pm", "pm")])
def test_unit_spellings(unit, key):
    assert normalise_unit(unit) == key


@pytest.mark.parametrize("unit", [None, "", "px", "1 / nm", "<undefined>", "eV"])
def test_non_lengths_are_uncalibrated(unit):
    with pytest.raises(UncalibratedError, match="not a real-space length"):
        length_to_A(1.0, unit)
