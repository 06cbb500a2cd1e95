"""Ziatdinov's AtomNet for cubic lattices: the published network and inference, batched.

The network is the ``resatomsegnet_s2`` of AICrystallographer (Ziatdinov et al., ACS Nano 11,
12742 (2017); pycroscopy/AICrystallographer, AtomNet), rebuilt so that the published state_dict
``cubic-best_weights.pt`` loads with ``strict=True``: a 3x3 conv block (32 filters), a residual
stage (64), max-pool, a residual bottleneck (128) at 1/4 resolution, then bilinear x2 upsampling
+ 1x1 conv with skip concatenations back to full resolution and a 1x1 conv with sigmoid.  Every
residual block is 1x1 conv -> 3x3 conv -> leaky ReLU -> 3x3 conv -> + skip -> leaky ReLU
(slope 0.01).  The published model carries batch-norm layers and transposed convolutions it never
uses; they are kept here only so the state_dict loads strictly.

The inference is the one Wei et al. benchmarked (their Foundry/DLHub servable of this model):
the image is scaled to 8-bit levels 0..255 by truncation, padded with zeros at the bottom and
right to a multiple of 4, scaled to [0, 1], passed through the network; the sigmoid map is
thresholded at ``> 0.5``, 4-connected blobs are labelled and each blob's centre of mass is a
column; points within 5 px of the (padded) image border are dropped.
:mod:`atomdata.models.ziatdinov_reference` follows the published code step by step and is the
oracle this module is tested against; this module does the same arithmetic with the network built
once, images batched, and the locator vectorised.

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

__all__ = ["ZIATDINOV_CUBIC_WEIGHTS", "AtomNetCubic", "ZiatdinovAtomNet", "blob_centres"]

#: The published cubic AtomNet state_dict (AICrystallographer, commit of 2019-07-09).
ZIATDINOV_CUBIC_WEIGHTS = WeightsSpec(
    name="ziatdinov-atomnet-cubic",
    filename="ziatdinov-cubic-best_weights.pt",
    sha256="dc305d6f48bb3e6a22fd91385ef561b4425e73e74a9ecaf8b206a86bbe327c35",
    url="https://github.com/pycroscopy/AICrystallographer/raw/master/AtomNet/saved_models/cubic-best_weights.pt",
    env_var="ATOMDATA_ZIATDINOV_WEIGHTS",
    how_to_obtain="It is AtomNet/saved_models/cubic-best_weights.pt of pycroscopy/AICrystallographer on GitHub.",
)

_SLOPE = 0.01  # leaky ReLU slope everywhere in the published network
_DOWNSAMPLING = 4  # two 2x2 max-pools


class _Conv3(nn.Module):
    # attribute name ``block`` and index 0 match the published keys ``c1.block.0.*``
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(_SLOPE))

    def forward(self, x):
        return self.block(x)


class _Residual(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.c0 = nn.Conv2d(cin, cout, 1)
        self.c1 = nn.Conv2d(cout, cout, 3, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        # present in the published weights, never applied by the published forward pass
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        skip = self.c0(x)
        y = F.leaky_relu(self.c1(skip), _SLOPE)
        return F.leaky_relu(self.c2(y) + skip, _SLOPE)


class _ResidualStage(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.res_module = nn.Sequential(_Residual(cin, cout), _Residual(cout, cout))

    def forward(self, x):
        return self.res_module(x)


class _Upsample(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)
        self.conv_t = nn.ConvTranspose2d(cin, cout, 2, stride=2)  # unused, kept for the state_dict

    def forward(self, x):
        # bilinear x2 (align_corners=False) then 1x1 conv, as published.  Both are linear and the
        # interpolation weights sum to one, so the 1x1 conv is applied first, on fewer channels.
        return F.interpolate(self.conv(x), scale_factor=2, mode="bilinear", align_corners=False)


class AtomNetCubic(nn.Module):
    """The ``resatomsegnet_s2`` network: (B, 1, H, W) in [0, 1] -> (B, 1, H, W) sigmoid map.

    H and W must be multiples of 4.  Module names follow the published state_dict keys.

    Examples
    --------
    >>> net = AtomNetCubic().eval()
    >>> net(torch.zeros(1, 1, 16, 20)).shape
    torch.Size([1, 1, 16, 20])
    """

    def __init__(self, filters: int = 32):
        super().__init__()
        f = filters
        self.c1 = _Conv3(1, f)
        self.c2 = _ResidualStage(f, 2 * f)
        self.bn = _ResidualStage(2 * f, 4 * f)  # the bottleneck ("bn" in the published keys)
        self.upsample_block1 = _Upsample(4 * f, 2 * f)
        self.c3 = _ResidualStage(4 * f, 2 * f)
        self.upsample_block2 = _Upsample(2 * f, f)
        self.c4 = _Conv3(2 * f, f)
        self.px = nn.Conv2d(f, 1, 1)

    def forward(self, x):
        full = self.c1(x)
        half = self.c2(F.max_pool2d(full, 2))
        quarter = self.bn(F.max_pool2d(half, 2))
        half = self.c3(torch.cat([half, self.upsample_block1(quarter)], dim=1))
        full = self.c4(torch.cat([full, self.upsample_block2(half)], dim=1))
        return torch.sigmoid(self.px(full))


def blob_centres(mask: np.ndarray, *, border_px: float = 5.0) -> np.ndarray:
    """Centres of mass of the 4-connected blobs of a binary mask, minus those near the border.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
        Indexed ``mask[y, x]``.
    border_px : float
        A centre is dropped when x < border_px, y < border_px, x > W - border_px or
        y > H - border_px (the published rule, strict inequalities).

    Returns
    -------
    ndarray, shape (N, 2)
        (x, y) px, in label order (row-major order of each blob's first pixel).

    Examples
    --------
    >>> m = np.zeros((20, 20), bool); m[9:11, 6:9] = True
    >>> blob_centres(m)
    array([[7. , 9.5]])
    """
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.empty((0, 2))
    flat = labels.ravel()
    on = np.flatnonzero(flat)
    lab = flat[on]
    rows, cols = np.divmod(on, mask.shape[1])
    count = np.bincount(lab, minlength=n + 1)[1:]
    y = np.bincount(lab, weights=rows.astype(np.float64), minlength=n + 1)[1:] / count
    x = np.bincount(lab, weights=cols.astype(np.float64), minlength=n + 1)[1:] / count
    h, w = mask.shape
    keep = (y <= h - border_px) & (y >= border_px) & (x <= w - border_px) & (x >= border_px)
    return np.column_stack([x[keep], y[keep]])


class ZiatdinovAtomNet(BatchedLocator):
    """Ziatdinov's AtomNet (cubic) with the published inference; registry name ``ziatdinov-atomnet-cubic``.

    Parameters
    ----------
    weights : path-like, optional
        The published ``cubic-best_weights.pt``.  Without it: ``$ATOMDATA_ZIATDINOV_WEIGHTS``,
        then ``<cache>/weights/ziatdinov-cubic-best_weights.pt``, then a download from GitHub
        checked against the pinned SHA-256 (see :mod:`atomdata.models.weights`).
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    threshold : float
        Threshold of the sigmoid map (published: 0.5).
    border_px : float
        Columns closer than this to the padded image border are dropped (published: 5).
    eight_bit : bool
        Truncate the min-max scaled image to 256 levels first, as the benchmarked servable did
        (default).  ``False`` feeds the min-max scaled float image.
    batch_size : int
        Images per forward pass in :meth:`predict_batch`.
    download : bool
        Allow downloading the weights when they are not found locally.
    backend : {"auto", "torch", "onnxruntime"}
        Forward-pass engine (:mod:`atomdata.models.runtime`); "auto" uses ONNX Runtime on CPU
        when it is installed (faster, same columns), else PyTorch.

    Notes
    -----
    The network ignores ``pixel_size_A``: it was trained at one scale, which is why its scores
    depend on the atoms-per-100-px metric.

    Examples
    --------
    >>> import os
    >>> locator = ZiatdinovAtomNet(download=False)  # doctest: +SKIP
    >>> xy = locator.predict(image, pixel_size_A=0.15)  # doctest: +SKIP
    """

    name = "ziatdinov-atomnet-cubic"
    version = "2019.07.09"
    description = ("Ziatdinov's AtomNet (resatomsegnet_s2) for cubic lattices with the published weights "
                   "and the inference benchmarked by Wei et al. (8-bit input, sigmoid > 0.5, blob centres).")
    citation = ("M. Ziatdinov, O. Dyck, A. Maksov, X. Li, X. Sang, K. Xiao, R. R. Unocic, R. Vasudevan, "
                "S. Jesse, S. V. Kalinin, 'Deep Learning of Atomically Resolved Scanning Transmission "
                "Electron Microscopy Images: Chemical Identification and Tracking Local Transformations', "
                "ACS Nano 11, 12742-12752 (2017), doi:10.1021/acsnano.7b07504; weights: "
                "pycroscopy/AICrystallographer, AtomNet/saved_models/cubic-best_weights.pt")
    licence = ("not stated in pycroscopy/AICrystallographer (AtomNet); atomdata does not redistribute the "
               "weights, it downloads them from the authors' repository")

    def __init__(self, weights=None, *, device=None, threshold: float = 0.5, border_px: float = 5.0,
                 eight_bit: bool = True, batch_size: int = 8, download: bool = True, progress: bool = False,
                 cache_root=None, backend: str = "auto"):
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.threshold = float(threshold)
        self.border_px = float(border_px)
        self.eight_bit = bool(eight_bit)
        self.batch_size = int(batch_size)
        self.device = torch.device(device) if device is not None else default_device()
        self.weights: ResolvedWeights = resolve_weights(ZIATDINOV_CUBIC_WEIGHTS, weights, cache_root=cache_root,
                                                        download=download, progress=progress)
        state, _ = load_state_dict_file(self.weights.path)
        net = AtomNetCubic()
        net.load_state_dict(state, strict=True)
        self.forward = Forward(net, device=self.device, backend=backend)
        self.net = self.forward.net

    # -- pipeline ---------------------------------------------------------------------------
    def _scale(self, image: np.ndarray) -> Optional[np.ndarray]:
        """Network input of one image in [0, 1] (float32), or None for a constant image."""
        lo, hi = image.min(), image.max()
        if not hi > lo:
            return None
        scaled = (image - lo) / (hi - lo)
        if self.eight_bit:
            scaled = np.trunc(scaled * 255) / 255
        return scaled.astype(np.float32)

    def probability(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Sigmoid maps of same-shape images, shape (B, Hp, Wp) with Hp, Wp padded to multiples of 4.

        Constant images give an all-zero map.
        """
        images = [check_image(im) for im in images]
        h, w = images[0].shape
        if any(im.shape != (h, w) for im in images):
            raise ValueError("probability() needs images of one shape; use predict_batch for mixed shapes")
        hp, wp = -(-h // _DOWNSAMPLING) * _DOWNSAMPLING, -(-w // _DOWNSAMPLING) * _DOWNSAMPLING
        batch = np.zeros((len(images), 1, hp, wp), np.float32)
        live = []
        for i, im in enumerate(images):
            scaled = self._scale(im)
            if scaled is not None:
                batch[i, 0, :h, :w] = scaled
                live.append(i)
        out = np.zeros((len(images), hp, wp), np.float32)
        if live:
            out[live] = self.forward(batch[live])[:, 0]
        return out

    def _maps(self, images):
        return self.probability(images)

    def _decode(self, prob):
        return blob_centres(prob > self.threshold, border_px=self.border_px)

    # -- identity -----------------------------------------------------------------------------
    def _weights_info(self):
        return self.weights.as_dict()

    def _options(self):
        return {"threshold": self.threshold, "border_px": self.border_px, "eight_bit": self.eight_bit,
                "batch_size": self.batch_size, "device": str(self.device), "backend": self.forward.backend}
