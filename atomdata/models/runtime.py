"""Running a network's forward pass on CPU: PyTorch, or ONNX Runtime when it is installed (faster).

:class:`Forward` wraps an ``nn.Module`` in eval mode and runs ``(B, 1, H, W)`` float32 batches
through it with one of two back-ends:

``"torch"``
    PyTorch eager mode, channels-last tensors, ``torch.inference_mode``.
``"onnxruntime"``
    The module exported to ONNX in memory (opset 17, dynamic batch and image size) and run by
    ONNX Runtime's CPU provider (``pip install 'atomdata[onnx]'``). Measured 1.3-1.6x faster
    than PyTorch for both published CNNs on this project's 2-core CPU (``scripts/bench_models.py``);
    outputs agree with PyTorch to ~1e-6.
``"auto"`` (default)
    ONNX Runtime on CPU when it is installed, else PyTorch.

The ONNX Runtime session is made in the process that runs it, on first use, with as many
threads as ``torch.get_num_threads()`` there; a forked worker makes its own.
"""
from __future__ import annotations

import io
import os
import warnings
from typing import Optional

import numpy as np
import torch

__all__ = ["BACKENDS", "Forward", "onnxruntime_available"]

#: Accepted values of ``backend=``.
BACKENDS = ("auto", "torch", "onnxruntime")

ONNX_HINT = "onnxruntime (and onnx, to export) are needed for backend='onnxruntime': pip install 'atomdata[onnx]'"


def onnxruntime_available() -> bool:
    """True when ``onnxruntime`` and ``onnx`` (the exporter needs it) import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class Forward:
    """The forward pass of ``net`` on float32 numpy batches, by the back-end chosen.

    Parameters
    ----------
    net : torch.nn.Module
        Put in eval mode; (B, 1, H, W) -> (B, 1, H, W).
    device : torch.device
        ONNX Runtime is used only on CPU; on another device ``"auto"`` means PyTorch.
    backend : {"auto", "torch", "onnxruntime"}

    Examples
    --------
    >>> from atomdata.models.ziatdinov import AtomNetCubic
    >>> f = Forward(AtomNetCubic(), device=torch.device("cpu"), backend="torch")
    >>> f(np.zeros((2, 1, 8, 8), np.float32)).shape, f.backend
    ((2, 1, 8, 8), 'torch')
    """

    def __init__(self, net: torch.nn.Module, *, device: torch.device, backend: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"Unknown backend {backend!r}. Valid backends: {', '.join(BACKENDS)}.")
        if backend == "onnxruntime" and not onnxruntime_available():
            raise ImportError(ONNX_HINT)
        if backend == "onnxruntime" and device.type != "cpu":
            raise ValueError(f"backend='onnxruntime' runs on the CPU only, got device={device}; use backend='torch'")
        if backend == "auto":
            backend = "onnxruntime" if device.type == "cpu" and onnxruntime_available() else "torch"
        self.backend = backend
        self.device = device
        self.net = net.eval().to(device, memory_format=torch.channels_last)
        self._onnx: Optional[bytes] = None
        self._session = None
        self._session_key: Optional[tuple] = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Network output of ``batch`` (B, 1, H, W) float32, as float32 numpy (B, 1, H, W)."""
        if self.backend == "onnxruntime":
            return self._ort_session().run(None, {"x": np.ascontiguousarray(batch, dtype=np.float32)})[0]
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
            return self.net(x).float().cpu().numpy()

    def _ort_session(self):
        key = (os.getpid(), torch.get_num_threads())
        if self._session is None or self._session_key != key:
            import onnxruntime as ort

            if self._onnx is None:
                self._onnx = _export(self.net)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = key[1]
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # cores are shared
            self._session = ort.InferenceSession(self._onnx, opts, providers=["CPUExecutionProvider"])
            self._session_key = key
        return self._session

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_session"] = None  # a session does not pickle; the receiving process makes its own
        state["_session_key"] = None
        return state


def _export(net: torch.nn.Module) -> bytes:
    """``net`` (on CPU, contiguous weights) as ONNX bytes with dynamic batch, height and width."""
    cpu = net.to("cpu", memory_format=torch.contiguous_format)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(cpu, torch.zeros(1, 1, 16, 16), f, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "b", 2: "h", 3: "w"}, "y": {0: "b", 2: "h", 3: "w"}},
                          opset_version=17, dynamo=False)
    net.to(memory_format=torch.channels_last)
    return f.getvalue()
