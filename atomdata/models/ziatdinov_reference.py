"""Oracle: the published Ziatdinov AtomNet inference, followed step by step.

This module is a deliberately literal re-statement of the code path Wei et al. benchmarked:
the Foundry/DLHub servable of Ziatdinov's cubic AtomNet (``wdwzyyg/foundry_ziatdinov``,
function ``run``; network class ``resatomsegnet_s2`` and decoder classes ``dl_image`` /
``find_atoms`` from ``pycroscopy/AICrystallographer``, AtomNet).  The published code cannot be
installed here (it needs OpenCV, PIL and repository-relative paths), so each step is re-written
in plain numpy/scipy/torch, in the same order and with the same arithmetic, slow parts included
(weights read from disk on every call, a mock forward pass to find the padding factor, a Python
loop for the border rule).  It exists to test and time :mod:`atomdata.models.ziatdinov`
against; do not use it for real work.

The steps of :func:`published_locate`:

1. ``map8bit``: ``(image - min) / (max - min) * 255`` cast to ``int8`` and handed to PIL as an
   8-bit greyscale (``'L'``) image, which reads the same bytes as unsigned: the net effect is
   truncation to the integers 0..255 (the int8 wrap-around is undone by the unsigned read).
   ``change_size == 1`` in the benchmark, so no resizing.
2. Build ``resatomsegnet_s2`` and load the state_dict from the weights file (strict).
3. ``dl_image``: the padding factor is ``max / min`` of the output widths of the top-level
   modules on a random 64 x 64 input (4 for this two-pooling network).
4. ``img_pad``: append zero rows at the bottom, then zero columns at the right, until both
   sizes are multiples of that factor.
5. ``torch_format``: min-max normalise the padded stack to [0, 1] in float64, then float32.
6. ``predict``: ``eval()``, ``no_grad``, forward; the sigmoid output, channel last.
7. ``find_atoms``: a background channel ``1 - p`` is appended; for the atom channel, the binary
   map ``p > 0.5`` (OpenCV ``THRESH_BINARY`` is a strict ``>``), ``scipy.ndimage.label`` with
   its default 4-connected structure, and ``scipy.ndimage.center_of_mass`` of the binary map per
   label: (row, column) coordinates.
8. ``rem_edge_coord`` with ``dist_edge = 5``: drop a point when row > H - 5, row < 5,
   column > W - 5 or column < 5, where H, W are the *padded* sizes.
9. ``run`` returns the coordinates transposed with the two rows swapped: (x, y).
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

__all__ = ["PublishedResAtomSegNetS2", "published_locate"]


class _ConvBlock(nn.Module):
    """conv2dblock: 3x3 convolution then leaky ReLU (slope 0.01); no dropout, no batch norm."""

    def __init__(self, cin, cout):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1),
                                   nn.LeakyReLU(negative_slope=0.01))

    def forward(self, x):
        return self.block(x)


class _ResBlock(nn.Module):
    """ResBlock: 1x1 conv, then two 3x3 convs with a skip; batch norms exist but are not applied."""

    def __init__(self, cin, cout, slope):
        super().__init__()
        self.slope = slope
        self.use_batchnorm = False
        self.c0 = nn.Conv2d(cin, cout, kernel_size=1, stride=1, padding=0)
        self.c1 = nn.Conv2d(cout, cout, kernel_size=3, stride=1, padding=1)
        self.c2 = nn.Conv2d(cout, cout, kernel_size=3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = self.c0(x)
        residual = x
        out = self.c1(x)
        if self.use_batchnorm:
            out = self.bn1(out)
        out = F.leaky_relu(out, negative_slope=self.slope)
        out = self.c2(out)
        if self.use_batchnorm:
            out = self.bn2(out)
        out += residual
        return F.leaky_relu(out, negative_slope=self.slope)


class _ResModule(nn.Module):
    """ResModule: ``res_depth`` residual blocks in sequence (slope 0.01)."""

    def __init__(self, cin, cout, res_depth=2):
        super().__init__()
        blocks = [_ResBlock(cin if i == 0 else cout, cout, 0.01) for i in range(res_depth)]
        self.res_module = nn.Sequential(*blocks)

    def forward(self, x):
        return self.res_module(x)


class _Upsample(nn.Module):
    """upsample_block in 'interpolate' mode: bilinear x2 (align_corners=False) then a 1x1 conv."""

    def __init__(self, cin, cout):
        super().__init__()
        self.mode = "interpolate"
        self.conv = nn.Conv2d(cin, cout, kernel_size=1, stride=1, padding=0)
        self.conv_t = nn.ConvTranspose2d(cin, cout, kernel_size=2, stride=2, padding=0)

    def forward(self, x):
        if self.mode == "interpolate":
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            return self.conv(x)
        return self.conv_t(x)


class PublishedResAtomSegNetS2(nn.Module):
    """The published ``resatomsegnet_s2`` (one class, 32 base filters), module for module."""

    def __init__(self, nb_classes=1, nb_filters=32):
        super().__init__()
        self.pxac = "softmax" if nb_classes > 1 else "sigmoid"
        self.c1 = _ConvBlock(1, nb_filters)
        self.c2 = _ResModule(nb_filters, nb_filters * 2)
        self.bn = _ResModule(nb_filters * 2, nb_filters * 4)
        self.upsample_block1 = _Upsample(nb_filters * 4, nb_filters * 2)
        self.c3 = _ResModule(nb_filters * 4, nb_filters * 2)
        self.upsample_block2 = _Upsample(nb_filters * 2, nb_filters)
        self.c4 = _ConvBlock(nb_filters * 2, nb_filters)
        self.px = nn.Conv2d(nb_filters, nb_classes, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        c1 = self.c1(x)
        d1 = F.max_pool2d(c1, kernel_size=2, stride=2)
        c2 = self.c2(d1)
        d2 = F.max_pool2d(c2, kernel_size=2, stride=2)
        bn = self.bn(d2)
        u2 = self.upsample_block1(bn)
        u2 = torch.cat([c2, u2], dim=1)
        u2 = self.c3(u2)
        u1 = self.upsample_block2(u2)
        u1 = torch.cat([c1, u1], dim=1)
        u1 = self.c4(u1)
        px = self.px(u1)
        if self.pxac == "sigmoid":
            return torch.sigmoid(px)
        return F.log_softmax(px, dim=1)


def _map8bit(data: np.ndarray) -> np.ndarray:
    """Step 1: the servable's int8 cast, then PIL's unsigned 8-bit read of the same bytes."""
    scaled = (data - data.min()) / (data.max() - data.min()) * 255
    as_int8 = scaled.astype(np.int64).astype(np.int8)  # float -> integer truncation, then 8-bit wrap
    return as_int8.view(np.uint8)


def _padding_factor(model: nn.Module) -> float:
    """Step 3: ratio of the largest to the smallest top-level module output width (mock input)."""
    widths = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: widths.append(out.shape[-1]))
             for _, m in model._modules.items()]
    model(torch.randn(1, 1, 64, 64))
    for h in hooks:
        h.remove()
    return max(widths) / min(widths)


def _pad(stack: np.ndarray, factor: float) -> np.ndarray:
    """Step 4: append zero rows, then zero columns, one at a time, until divisible by factor."""
    while stack.shape[1] % factor != 0:
        d0, _, d2 = stack.shape
        stack = np.concatenate((stack, np.zeros((d0, 1, d2))), axis=1)
    while stack.shape[2] % factor != 0:
        d0, d1, _ = stack.shape
        stack = np.concatenate((stack, np.zeros((d0, d1, 1))), axis=2)
    return stack


def _remove_edge(coordinates: np.ndarray, h: int, w: int, dist_edge: int) -> np.ndarray:
    """Step 8, as a loop over points (row, column)."""
    drop = []
    for idx, c in enumerate(coordinates):
        if any([c[0] > h - dist_edge, c[0] < dist_edge, c[1] > w - dist_edge, c[1] < dist_edge]):
            drop.append(idx)
    return np.delete(coordinates, np.array(drop, dtype=int), axis=0)


def published_locate(image: np.ndarray, weights_path: os.PathLike | str, *, threshold: float = 0.5,
                     dist_edge: int = 5, return_probability: bool = False):
    """Run the published inference on one image; positions (N, 2) as (x, y) px.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        The image, indexed ``image[y, x]``.
    weights_path : path-like
        The published ``cubic-best_weights.pt`` state_dict (read on every call, as published).
    threshold : float
        Threshold of the sigmoid output (0.5 as published).
    dist_edge : int
        Border rule [px] (5 as published).
    return_probability : bool
        Also return the sigmoid map of the padded image, shape (Hp, Wp).

    Returns
    -------
    xy : ndarray, shape (N, 2)
        Column positions (x, y) in pixels, origin at the centre of the top-left pixel.
    """
    # 1. 8-bit greyscale image
    image8 = _map8bit(np.asarray(image, dtype=np.float64))
    # 2. network and weights
    model = PublishedResAtomSegNetS2()
    model.load_state_dict(torch.load(weights_path, map_location=torch.device("cpu"), weights_only=True))
    # 3. dl_image set-up
    stack = np.expand_dims(np.asarray(image8), axis=0)
    factor = _padding_factor(model)
    # 4. padding (the stack is float64 after the first concatenation, as published)
    stack = _pad(stack, factor)
    # 5. torch format
    stack = np.expand_dims(stack, axis=1)
    stack = (stack - np.amin(stack)) / np.ptp(stack)
    tensor = torch.from_numpy(stack).float()
    # 6. forward
    model.eval()
    with torch.no_grad():
        prob = model.forward(tensor)
    prob = prob.permute(0, 2, 3, 1).numpy()
    # 7. threshold, label, centre of mass (channel 0 of [p, 1 - p])
    decoded = np.concatenate((prob[:, :, :, None], 1 - prob[:, :, :, None]), axis=3)[..., 0]
    decoded = decoded[0]  # (Hp, Wp, 2) for the single image
    binary = (decoded[:, :, 0] > threshold).astype(np.float32)
    labels, nlabels = ndimage.label(binary)
    coords = np.array(ndimage.center_of_mass(binary, labels, np.arange(nlabels) + 1)).reshape(-1, 2)
    # 8. border rule on the padded sizes
    coords = _remove_edge(coords, decoded.shape[0], decoded.shape[1], dist_edge)
    # 9. (row, column) -> (x, y)
    res = coords[:, :2].T.copy()
    res[[0, 1]] = res[[1, 0]]
    xy = res.T
    return (xy, prob[0, :, :, 0]) if return_probability else xy
