"""Forward-pass back-ends: ONNX Runtime agrees with PyTorch, falls back, survives pickling; parallel predictions."""
import pickle

import numpy as np
import pytest
import torch

from atomdata.models import runtime
from atomdata.models.atomsegnet import AtomSegUNet, LinAtomSegNet
from atomdata.models.parallel import LocatorSpec, PredictionJob, cached_locator, predict_jobs
from atomdata.models.runtime import Forward, onnxruntime_available
from atomdata.models.ziatdinov import AtomNetCubic

needs_ort = pytest.mark.skipif(not onnxruntime_available(), reason="needs the onnx extra: pip install 'atomdata[onnx]'")
CPU = torch.device("cpu")


def _nets():
    torch.manual_seed(0)
    lin = AtomSegUNet()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in lin.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return {"atomnet": AtomNetCubic(), "atomsegnet": lin}


@needs_ort
@pytest.mark.parametrize("name", ["atomnet", "atomsegnet"])
def test_onnxruntime_matches_torch_on_odd_sizes_and_batches(name):
    net = _nets()[name]
    x = np.random.default_rng(1).random((3, 1, 36, 52), dtype=np.float32)
    ref = Forward(net, device=CPU, backend="torch")(x)
    got = Forward(net, device=CPU, backend="onnxruntime")(x)
    assert got.shape == ref.shape == (3, 1, 36, 52)
    np.testing.assert_allclose(got, ref, atol=2e-5)
    one = Forward(net, device=CPU, backend="onnxruntime")(x[1:2])  # another batch size, same session type
    np.testing.assert_allclose(one, ref[1:2], atol=2e-5)


@needs_ort
def test_a_pickled_forward_makes_its_own_session():
    f = Forward(_nets()["atomnet"], device=CPU, backend="onnxruntime")
    x = np.random.default_rng(2).random((1, 1, 16, 16), dtype=np.float32)
    a = f(x)
    g = pickle.loads(pickle.dumps(f))
    assert g._session is None
    np.testing.assert_array_equal(g(x), a)


def test_auto_falls_back_to_torch_without_onnxruntime(monkeypatch):
    monkeypatch.setattr(runtime, "onnxruntime_available", lambda: False)
    assert Forward(AtomNetCubic(), device=CPU).backend == "torch"
    with pytest.raises(ImportError, match=r"pip install 'atomdata\[onnx\]'"):
        Forward(AtomNetCubic(), device=CPU, backend="onnxruntime")


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="Unknown backend 'tensorrt'. Valid backends: auto, torch, onnxruntime"):
        Forward(AtomNetCubic(), device=CPU, backend="tensorrt")


class _Split:
    """A minimal SplitLike: images, ids, pixel sizes."""

    def __init__(self, images):
        self.images = images
        self.image_ids = [f"im-{k}" for k in range(len(images))]
        self.pixel_sizes_A = np.full(len(images), 0.1)

    def image(self, i):
        return self.images[i]


def test_predictions_on_a_pool_equal_those_made_here():
    """Two models, interleaved chunks, two worker processes: same positions as one by one in this process."""
    from models_helpers import srtio3_100

    from atomdata.build.engine import task_runner

    rng = np.random.default_rng(0)
    images = [srtio3_100(0.2, (64, 64), seed=k)[0] + rng.normal(0, 0.01, (64, 64)) for k in range(5)]
    split = _Split(images)
    specs = [LocatorSpec.of("lin-atomsegnet", untrained=True, backend="torch"), LocatorSpec.of("baseline-peaks")]
    jobs = [PredictionJob(s.name, s, split, [0, 2, 3, 4]) for s in specs]
    with task_runner("processes", workers=2) as runner:
        pool = predict_jobs(jobs, runner=runner, chunk_size=2, progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each pool worker uses
    try:
        here = predict_jobs(jobs, chunk_size=2, progress=False)
    finally:
        torch.set_num_threads(threads)
    for s in specs:
        assert sorted(pool[s.name]) == ["im-0", "im-2", "im-3", "im-4"]
        for k in pool[s.name]:
            np.testing.assert_array_equal(pool[s.name][k], here[s.name][k])
    assert isinstance(cached_locator(specs[0]), LinAtomSegNet)


def test_predict_jobs_checkpoints_each_finished_job():
    split = _Split([np.zeros((16, 16)) + k for k in range(5)])
    seen = []
    spec = LocatorSpec.of("baseline-peaks")
    jobs = [PredictionJob("a", spec, split, [0, 1, 2]), PredictionJob("b", spec, split, [3, 4])]
    got = predict_jobs(jobs, chunk_size=2, progress=False, checkpoint=lambda k, p: seen.append((k, sorted(p))))
    assert ("a", ["im-0", "im-1", "im-2"]) in seen and ("b", ["im-3", "im-4"]) in seen
    assert sorted(got["a"]) == ["im-0", "im-1", "im-2"]
