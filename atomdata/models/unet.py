"""A U-Net nanoparticle segmenter in the spirit of Horwath et al. (npj Comput. Mater. 6, 108 (2020)).

Horwath et al. segment Au nanoparticles in HRTEM images with a small fully convolutional
encoder-decoder with skip connections and show that a few downsampling levels (a receptive field
of a few lattice fringes) suffice. :class:`SegUNet` is such a network: ``depth`` levels of two
3x3 convolutions + BatchNorm + ReLU, max-pooling down and transposed convolutions up, skips by
concatenation, one output logit per pixel (sigmoid > 0.5 = particle).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from atomdata.models.segmenter import Segmenter

__all__ = ["SegUNet", "UNetSegmenter", "HRTEM_UNET"]

#: Name of the trained U-Net segmenter (``atomdata train hrtem-unet``).
HRTEM_UNET = "hrtem-unet"


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SegUNet(nn.Module):
    """U-Net: (B, 1, H, W) image -> (B, 1, H, W) logits; H and W multiples of ``2**depth``."""

    def __init__(self, *, base_channels: int = 16, depth: int = 3):
        super().__init__()
        self.depth = depth
        ch = [base_channels * 2**k for k in range(depth + 1)]
        self.down = nn.ModuleList([_block(1 if k == 0 else ch[k - 1], ch[k]) for k in range(depth)])
        self.bottom = _block(ch[depth - 1], ch[depth])
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[k + 1], ch[k], 2, stride=2) for k in reversed(range(depth))])
        self.dec = nn.ModuleList([_block(2 * ch[k], ch[k]) for k in reversed(range(depth))])
        self.head = nn.Conv2d(ch[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for blk in self.down:
            x = blk(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)


class UNetSegmenter(Segmenter):
    """The trained :class:`SegUNet` as a :class:`~atomdata.models.segmenter.Segmenter`.

    Parameters
    ----------
    weights : path-like or dict
        A weights file written by ``atomdata train hrtem-unet`` (or its loaded dict).
    device : str, optional
        ``cpu``/``cuda`` (default CPU).
    threshold : float
        Sigmoid probability above which a pixel is a particle.

    Notes
    -----
    Images are standardised (zero mean, unit variance) as in training and reflect-padded to a
    multiple of ``2**depth``; the pixel size is not used (the network was trained on 0.4-1.0 Å/px).
    """

    name = HRTEM_UNET
    version = "1"
    citation = "Horwath et al., npj Comput. Mater. 6, 108 (2020), doi:10.1038/s41524-020-00363-x"
    description = "U-Net trained on the atomdata-hrtem train split (atomdata train hrtem-unet)."

    def __init__(self, weights, *, device: Optional[str] = None, threshold: float = 0.5):
        blob = torch.load(weights, map_location="cpu", weights_only=False) if not isinstance(weights, dict) else weights
        if blob.get("format") != "atomdata-segmenter-weights/1":
            raise ValueError(f"{weights} is not an atomdata segmenter weights file (format {blob.get('format')!r}); "
                             "make one with `atomdata train hrtem-unet`")
        self.meta = blob["meta"]
        self.net = SegUNet(**blob["architecture"])
        self.net.load_state_dict(blob["state_dict"])
        self.device = torch.device(device or "cpu")
        self.net.to(self.device).eval()
        self.threshold = float(threshold)
        self.path = None if isinstance(weights, dict) else Path(weights)

    def _options(self) -> dict:
        return {"weights": str(self.path) if self.path else None, "threshold": self.threshold}

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Particle probability (H, W) float32 of one image."""
        img = np.asarray(image, dtype=np.float32)
        img = (img - img.mean()) / (img.std() + 1e-6)
        m = 2**self.net.depth
        h, w = img.shape
        ph, pw = (-h) % m, (-w) % m
        x = np.pad(img, ((0, ph), (0, pw)), mode="reflect") if (ph or pw) else img
        with torch.no_grad():
            out = torch.sigmoid(self.net(torch.from_numpy(np.ascontiguousarray(x))[None, None].to(self.device)))
        return out[0, 0, :h, :w].cpu().numpy()

    def _segment(self, image: np.ndarray, pixel_size_A: float) -> np.ndarray:
        return self.probabilities(image) > self.threshold
