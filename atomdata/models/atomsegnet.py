"""Lin/Xin AtomSegNet (``gaussianMask+`` style): a small U-Net and a watershed locator.

Network (Lin et al., Sci. Rep. 11, 5386 (2021)): two 3x3 conv + BatchNorm + ReLU layers per
level at 64, 128 and 256 channels with two 2x2 max-pools; on the way up, bilinear x2 upsampling
(``align_corners=True``), a 1x1 conv and BatchNorm, concatenation with the skip and a BatchNorm of
the concatenation, two more conv layers; a final 1x1 conv to one channel, ReLU, BatchNorm and
sigmoid.  Module names follow the published ``UNet`` so a published state_dict would load as is.

Inference (the servable Wei et al. benchmarked): the image is min-max scaled to 8-bit levels
(truncation), divided by 255, zero-padded symmetrically to a multiple of 4, passed through the
network and cropped back.  The output is rescaled to 0..255 (uint8).  Locator: the Sobel
gradient of that map is the elevation map of a marker watershed (markers: background where the
map is < 30, atom where it is > 100); the atom region's holes are filled, 4-connected regions
labelled and each region's centroid is a column.

The published ``gaussianMask+`` weights are not reachable from atomdata's environment: atomdata
trains this network itself on the benchmark's ``train`` split with Gaussian-mask targets, and
:meth:`LinAtomSegNet.describe` says which weights file (and training recipe, when the checkpoint
records one) is in use.

Positions are (x, y) in pixels, x = column index, y = row index, origin at the centre of the
top-left pixel.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from atomdata.models.base import BatchedLocator
from atomdata.models.device import default_device
from atomdata.models.runtime import Forward
from atomdata.models.weights import ResolvedWeights, WeightsSpec, load_state_dict_file, resolve_weights
from atomdata.schema import check_image

__all__ = ["LIN_ATOMSEGNET_WEIGHTS", "AtomSegUNet", "LinAtomSegNet", "watershed_centres", "to_8bit"]

#: atomdata's own re-trained gaussianMask+-style weights (no pinned hash until a release asset exists).
LIN_ATOMSEGNET_WEIGHTS = WeightsSpec(
    name="lin-atomsegnet",
    filename="lin-atomsegnet-gaussianmask.pt",
    sha256=None,
    url=None,
    env_var="ATOMDATA_LIN_WEIGHTS",
    how_to_obtain=("The published gaussianMask+ weights are not reachable; atomdata re-trains the network on "
                   "the benchmark's train split (`atomdata train lin-atomsegnet` writes the file to the cache). "
                   "For tests and timing only, pass untrained=True."),
)


def to_8bit(image: np.ndarray) -> np.ndarray:
    """Min-max scale to 0..255 and truncate to uint8, as the published servables do.

    Examples
    --------
    >>> to_8bit(np.array([[0.0, 0.5], [0.999, 1.0]]))
    array([[  0, 127],
           [254, 255]], dtype=uint8)
    """
    lo, hi = image.min(), image.max()
    if not hi > lo:
        return np.zeros(image.shape, np.uint8)
    return np.trunc((image - lo) / (hi - lo) * 255).astype(np.uint8)


class AtomSegUNet(nn.Module):
    """The gaussianMask+ U-Net: (B, 1, H, W) in [0, 1] -> (B, 1, H, W) in (0, 1); H, W multiples of 4.

    Examples
    --------
    >>> net = AtomSegUNet().eval()
    >>> net(torch.zeros(2, 1, 8, 12)).shape
    torch.Size([2, 1, 8, 12])
    """

    def __init__(self):
        super().__init__()
        conv, bn = nn.Conv2d, nn.BatchNorm2d
        self.conv1_1, self.conv1_2 = conv(1, 64, 3, padding=1), conv(64, 64, 3, padding=1)
        self.bn1_1, self.bn1_2 = bn(64), bn(64)
        self.conv2_1, self.conv2_2 = conv(64, 128, 3, padding=1), conv(128, 128, 3, padding=1)
        self.bn2_1, self.bn2_2 = bn(128), bn(128)
        self.conv4_1, self.conv4_2 = conv(128, 256, 3, padding=1), conv(256, 256, 3, padding=1)
        self.bn4_1, self.bn4_2 = bn(256), bn(256)
        self.upconv4, self.bn4, self.bn4_out = conv(256, 128, 1), bn(128), bn(256)
        self.conv7_1, self.conv7_2 = conv(256, 128, 3, padding=1), conv(128, 128, 3, padding=1)
        self.bn7_1, self.bn7_2 = bn(128), bn(128)
        self.upconv7, self.bn7, self.bn7_out = conv(128, 64, 1), bn(64), bn(128)
        self.conv9_1, self.conv9_2 = conv(128, 64, 3, padding=1), conv(64, 64, 3, padding=1)
        self.bn9_1, self.bn9_2 = bn(64), bn(64)
        self.conv9_3 = conv(64, 1, 1)
        self.bn9_3 = bn(1)  # in the published model, never applied
        self.bn9 = bn(1)

    @staticmethod
    def _up(x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)

    def _pair(self, x, c1, b1, c2, b2):
        return F.relu(b2(c2(F.relu(b1(c1(x))))))

    def forward(self, x):
        x1 = self._pair(x, self.conv1_1, self.bn1_1, self.conv1_2, self.bn1_2)
        x2 = self._pair(F.max_pool2d(x1, 2), self.conv2_1, self.bn2_1, self.conv2_2, self.bn2_2)
        up = self._pair(F.max_pool2d(x2, 2), self.conv4_1, self.bn4_1, self.conv4_2, self.bn4_2)
        up = self.bn4_out(torch.cat([x2, self.bn4(self.upconv4(self._up(up)))], dim=1))
        up = self._pair(up, self.conv7_1, self.bn7_1, self.conv7_2, self.bn7_2)
        up = self.bn7_out(torch.cat([x1, self.bn7(self.upconv7(self._up(up)))], dim=1))
        up = F.relu(self.conv9_3(F.relu(self.bn9_2(self.conv9_2(F.relu(self.bn9_1(self.conv9_1(up))))))))
        return torch.sigmoid(self.bn9(up))


def watershed_centres(output8: np.ndarray, *, low: int = 30, high: int = 100) -> np.ndarray:
    """Column centres from an 8-bit network output by marker watershed (the published locator).

    Parameters
    ----------
    output8 : ndarray of uint8, shape (H, W)
        Network output scaled to 0..255, indexed ``output8[y, x]``.
    low, high : int
        Background marker where ``output8 < low``, atom marker where ``output8 > high``.

    Returns
    -------
    ndarray, shape (N, 2)
        Region centroids (x, y) px.

    Examples
    --------
    >>> m = np.zeros((20, 20), np.uint8); m[4:7, 10:13] = 200
    >>> watershed_centres(m)
    array([[11.,  5.]])
    """
    from skimage.filters import sobel
    from skimage.measure import regionprops
    from skimage.segmentation import watershed

    elevation = sobel(output8)
    markers = np.zeros_like(output8)
    markers[output8 < low] = 1
    markers[output8 > high] = 2
    segments = watershed(elevation, markers)
    filled = ndimage.binary_fill_holes(segments - 1)
    labels, _ = ndimage.label(filled)
    centroids = [p.centroid for p in regionprops(labels)]
    if not centroids:
        return np.empty((0, 2))
    return np.asarray(centroids, dtype=np.float64)[:, ::-1].copy()


class LinAtomSegNet(BatchedLocator):
    """Lin/Xin AtomSegNet (gaussianMask+ style), re-trained by atomdata; registry name ``lin-atomsegnet``.

    Parameters
    ----------
    weights : path-like, optional
        A state_dict or checkpoint (``{"state_dict", "meta"}``) of :class:`AtomSegUNet`.  Without
        it: ``$ATOMDATA_LIN_WEIGHTS``, then ``<cache>/weights/lin-atomsegnet-gaussianmask.pt``.
    untrained : bool
        Use a randomly initialised network (seeded with ``seed``) instead of weights: for tests
        and timing only; its positions are meaningless.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    low, high : int
        Watershed marker levels of the 8-bit output (published: 30 and 100).
    batch_size : int
        Images per forward pass in :meth:`predict_batch`.
    seed : int
        Seed of the random initialisation when ``untrained``.
    backend : {"auto", "torch", "onnxruntime"}
        Forward-pass engine (:mod:`atomdata.models.runtime`); "auto" uses ONNX Runtime on CPU
        when it is installed (faster, same columns), else PyTorch.

    Raises
    ------
    atomdata.models.weights.WeightsNotFoundError
        No weights found and ``untrained`` is false; the message says how to obtain them.
    """

    name = "lin-atomsegnet"
    version = "gaussianMask+-retrained"
    description = ("Lin/Xin AtomSegNet U-Net (gaussianMask+ style) with the published watershed locator. "
                   "The published weights are not reachable: these weights are re-trained by atomdata on the "
                   "benchmark's train split with Gaussian-mask targets.")
    citation = ("R. Lin, R. Zhang, C. Wang, X.-Q. Yang, H. L. Xin, 'TEMImageNet training library and AtomSegNet "
                "deep-learning models for high-precision atom segmentation, localization, denoising, and "
                "deblurring of atomic-resolution images', Sci. Rep. 11, 5386 (2021), doi:10.1038/s41598-021-84499-w")
    licence = "architecture after Lin et al. (2021); weights trained by atomdata, MIT"

    def __init__(self, weights=None, *, untrained: bool = False, device=None, low: int = 30, high: int = 100,
                 batch_size: int = 4, seed: int = 0, cache_root=None, backend: str = "auto"):
        if not 0 <= low < high <= 255:
            raise ValueError(f"need 0 <= low < high <= 255 for the watershed markers, got low={low!r}, high={high!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.low, self.high, self.batch_size, self.seed = int(low), int(high), int(batch_size), int(seed)
        self.device = torch.device(device) if device is not None else default_device()
        self.untrained = bool(untrained) and weights is None
        self.weights: Optional[ResolvedWeights] = None
        self.meta: dict = {}
        if self.untrained:
            gen_state = torch.random.get_rng_state()
            torch.manual_seed(self.seed)
            net = AtomSegUNet()
            torch.random.set_rng_state(gen_state)
        else:
            self.weights = resolve_weights(LIN_ATOMSEGNET_WEIGHTS, weights, cache_root=cache_root, download=False)
            state, self.meta = load_state_dict_file(self.weights.path)
            net = AtomSegUNet()
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise ValueError(f"{self.weights.path} is not a state_dict of AtomSegUNet: {e}") from e
        self.forward = Forward(net, device=self.device, backend=backend)
        self.net = self.forward.net

    def output8(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Network outputs of same-shape images scaled to uint8 0..255, shape (B, H, W)."""
        images = [check_image(im) for im in images]
        h, w = images[0].shape
        if any(im.shape != (h, w) for im in images):
            raise ValueError("output8() needs images of one shape; use predict_batch for mixed shapes")
        top, left = ((-h) % 4) // 2, ((-w) % 4) // 2
        batch = np.zeros((len(images), 1, h + (-h) % 4, w + (-w) % 4), np.float32)
        for i, im in enumerate(images):
            batch[i, 0, top:top + h, left:left + w] = to_8bit(im) / np.float32(255)
        out = self.forward(batch)[:, 0, top:top + h, left:left + w].astype(np.float64)
        result = np.empty(out.shape, np.uint8)
        for i, o in enumerate(out):
            o = np.maximum(o, 0)
            lo, hi = o.min(), o.max()
            result[i] = 0 if not hi > lo else ((o - lo) / (hi - lo) * 255).astype(np.uint8)
        return result

    def _maps(self, images):
        return self.output8(images)

    def _decode(self, out):
        return watershed_centres(out, low=self.low, high=self.high)

    def describe(self) -> dict:
        """As :meth:`Locator.describe`, plus ``"training"``: a one-line summary of the training record.

        The full record written by ``atomdata train`` (recipe, seed, dataset name, version and
        SHA-256 of the train split, steps, final validation loss, versions) is in
        ``describe()["weights"]["training"]``.
        """
        info = super().describe()
        info["training"] = self.training_summary()
        return info

    def training_summary(self) -> str:
        """One line saying how the weights in use were obtained."""
        if self.untrained:
            return f"untrained: random initialisation (seed {self.seed})"
        m = self.meta
        if not m:
            return "no training record in the weights file (not written by `atomdata train`)"
        ds = m.get("dataset") or {}
        val = m.get("final_val_loss")
        val_txt = "n/a" if val is None else f"{val:.4g}"
        sha = (ds.get("sha256") or "")[:12]
        by = f"atomdata {m['atomdata_version']}" if m.get("atomdata_version") else "atomdata"  # older files name it
        return (f"trained by {by} (`atomdata train {m.get('model', self.name)}`): "
                f"{m.get('steps', '?')} steps, seed {m.get('seed', '?')}, on {ds.get('name', '?')} "
                f"{ds.get('version', '?')} {ds.get('split', 'train')} (sha256 {sha}...), final val loss {val_txt}")

    def _weights_info(self):
        if self.untrained:
            return {"path": None, "sha256": None, "source": "untrained", "url": None,
                    "note": f"random initialisation (seed {self.seed}); positions are meaningless"}
        info = self.weights.as_dict()
        if self.meta:
            info["training"] = self.meta
        return info

    def _options(self):
        return {"untrained": self.untrained, "low": self.low, "high": self.high, "batch_size": self.batch_size,
                "device": str(self.device), "backend": self.forward.backend}
