"""Training: determinism, checkpoints and exact resume, the weights file and its training record, the CLI."""
import json

import numpy as np
import pytest
import torch
from column_fixtures import random_columns, render_columns, write_dataset_folder  # noqa: E402

from atomdata import models
from atomdata.cli import main
from atomdata.models.train import CHECKPOINT_FORMAT, TrainRecipe, train, trainable
from atomdata.models.train.data import StepStream as _StepStream
from atomdata.storage import sha256_file

#: a run of a few 16 px crops on 32 x 32 images: a fraction of a second per step
TINY = dict(steps=6, batch_size=2, crop_px=16, checkpoint_every=2, val_every=3, progress=False)
TINY_RECIPE = TrainRecipe(val_images=3, val_crop_px=16, warmup_steps=2)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Dataset folder: manifest.json + train.h5 (6 images) + val.h5 (4 images) of Gaussian columns."""
    folder = tmp_path_factory.mktemp("tiny-train") / "data"
    return write_dataset_folder(folder, splits=("train", "val"), n=6, shape=(32, 32), n_columns=6)


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_gives_the_weights_of_an_uninterrupted_run(tiny_data, tmp_path):
    full = train("lin-atomsegnet", tiny_data, out=tmp_path / "full.pt", recipe=TINY_RECIPE,
                 checkpoint_dir=tmp_path / "ck-full", **TINY)
    # same run, stopped after step 3 (between two periodic checkpoints), then resumed
    ckpt = train("lin-atomsegnet", tiny_data, out=tmp_path / "resumed.pt", recipe=TINY_RECIPE,
                 checkpoint_dir=tmp_path / "ck-resumed", stop_at=3, **TINY)
    assert ckpt == tmp_path / "ck-resumed" / "checkpoint.pt"
    assert not (tmp_path / "resumed.pt").exists()
    saved = _state(ckpt)
    assert saved["format"] == CHECKPOINT_FORMAT and saved["step"] == 3
    assert {"state_dict", "optimizer", "rng", "history"} <= set(saved)
    resumed = train("lin-atomsegnet", tiny_data, out=tmp_path / "resumed.pt", recipe=TINY_RECIPE,
                    checkpoint_dir=tmp_path / "ck-resumed", **TINY)
    a, b = _state(full), _state(resumed)
    _assert_same_weights(a["state_dict"], b["state_dict"])
    assert a["meta"]["val_history"] == b["meta"]["val_history"]
    assert b["meta"]["steps"] == 6 and _state(tmp_path / "ck-resumed" / "checkpoint.pt")["step"] == 6
    # the weights changed during training (an untrained network differs)
    torch.manual_seed(TINY_RECIPE.seed)
    from atomdata.models.atomsegnet import AtomSegUNet

    init = AtomSegUNet().state_dict()
    assert not torch.equal(init["conv1_1.weight"], a["state_dict"]["conv1_1.weight"])


def test_resume_continues_from_the_checkpoint_and_no_resume_starts_over(tiny_data, tmp_path):
    kw = dict(recipe=TINY_RECIPE, checkpoint_dir=tmp_path / "ck", **TINY)
    reference = _state(train("lin-atomsegnet", tiny_data, out=tmp_path / "ref.pt",
                             **{**kw, "checkpoint_dir": tmp_path / "ck-ref"}))["state_dict"]
    ckpt = train("lin-atomsegnet", tiny_data, stop_at=4, out=tmp_path / "x.pt", **kw)
    saved = _state(ckpt)
    saved["state_dict"]["conv9_3.bias"] += 5.0  # mark the checkpoint: a resumed run must carry this on
    torch.save(saved, ckpt)
    resumed = _state(train("lin-atomsegnet", tiny_data, out=tmp_path / "x.pt", **kw))["state_dict"]
    assert not torch.equal(resumed["conv9_3.bias"], reference["conv9_3.bias"])
    restarted = _state(train("lin-atomsegnet", tiny_data, out=tmp_path / "y.pt", resume=False, **kw))["state_dict"]
    _assert_same_weights(restarted, reference)


def test_weights_load_through_the_registry_and_describe_shows_the_training_record(tiny_data):
    path = train("lin-atomsegnet", tiny_data, recipe=TINY_RECIPE, **TINY)  # default out: the user cache
    assert path.name == "lin-atomsegnet-gaussianmask.pt"
    loc = models.get("lin-atomsegnet", device="cpu")  # found in the cache without being told where
    info = loc.describe()
    assert info["weights"]["source"] == "cache" and info["weights"]["sha256"] == sha256_file(path)
    record = info["weights"]["training"]
    assert record["steps"] == 6 and record["seed"] == 0
    assert record["recipe"]["crop_px"] == 16 and record["recipe"]["sigma_px"] == TINY_RECIPE.sigma_px
    assert record["dataset"]["sha256"] == sha256_file(tiny_data / "train.h5")
    assert record["dataset"]["name"] == "atomdata-benchmark" and record["dataset"]["version"] == "1.0.0"
    assert isinstance(record["final_val_loss"], float) and record["final_val_loss"] > 0
    assert record["val_history"][-1]["step"] == 6 and [h["step"] for h in record["val_history"]] == [3, 6]
    assert "created" not in record and "wall_time_s" not in record  # same run, same bytes
    from atomdata._version import __version__

    run_log = json.loads(path.with_name(path.name + ".run.json").read_text())
    assert run_log["atomdata_version"] == __version__ and run_log["wall_time_s"] > 0
    assert "6 steps" in info["training"] and "seed 0" in info["training"]
    json.dumps(info)  # describe() stays JSON-friendly
    xy = loc.predict(np.random.default_rng(0).random((40, 44)), pixel_size_A=0.1)
    assert xy.ndim == 2 and xy.shape[1] == 2


def test_the_data_stream_is_one_permutation_per_epoch(tiny_data):
    from atomdata.datasets.atoms import AtomColumnDataset

    ds = AtomColumnDataset(tiny_data, "train", label="heatmap", seed=1)
    stream = _StepStream(ds, seed=1)
    epochs = [[stream.index(g) for g in range(e * 6, e * 6 + 6)] for e in range(3)]
    for e, pairs in enumerate(epochs):
        assert [p[0] for p in pairs] == [e] * 6
        assert sorted(p[1] for p in pairs) == list(range(6))
    assert [p[1] for p in epochs[0]] != [p[1] for p in epochs[1]] or [p[1] for p in epochs[1]] != [
        p[1] for p in epochs[2]]
    # the same sample index gives the same item, whatever was read before
    a = stream[7]["label"]
    stream[0]
    assert torch.equal(a, _StepStream(ds, seed=1)[7]["label"])


def test_worker_processes_do_not_change_the_weights(tiny_data, tmp_path):
    kw = dict(recipe=TINY_RECIPE, **{**TINY, "steps": 2})
    a = train("lin-atomsegnet", tiny_data, out=tmp_path / "a.pt", checkpoint_dir=tmp_path / "a", **kw)
    b = train("lin-atomsegnet", tiny_data, out=tmp_path / "b.pt", checkpoint_dir=tmp_path / "b", workers=1, **kw)
    _assert_same_weights(_state(a)["state_dict"], _state(b)["state_dict"])


def test_errors_say_what_is_wrong(tiny_data, tmp_path):
    assert trainable() == ["lin-atomsegnet"]
    with pytest.raises(ValueError, match="Unknown trainable model 'ziatdinov-atomnet-cubic'.*lin-atomsegnet"):
        train("ziatdinov-atomnet-cubic", tiny_data)
    with pytest.raises(ValueError, match="crop_px must be a multiple of 4.*got 30"):
        train("lin-atomsegnet", tiny_data, crop_px=30, progress=False)
    with pytest.raises(ValueError, match="Unknown loss 'l1'"):
        TrainRecipe(loss="l1")
    with pytest.raises(ValueError, match="stop_at must be an integer >= 1"):
        train("lin-atomsegnet", tiny_data, stop_at=0, progress=False)
    # a checkpoint of another run in the requested folder is not silently reused
    train("lin-atomsegnet", tiny_data, recipe=TINY_RECIPE, checkpoint_dir=tmp_path / "ck", stop_at=1,
          out=tmp_path / "w.pt", **TINY)
    with pytest.raises(ValueError, match="not a checkpoint of this run.*--no-resume"):
        train("lin-atomsegnet", tiny_data, recipe=TINY_RECIPE, checkpoint_dir=tmp_path / "ck",
              out=tmp_path / "w.pt", **{**TINY, "seed": 1})
    from atomdata.sources import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="Run `atomdata build`"):
        train("lin-atomsegnet", tmp_path / "empty", progress=False)


def test_cli_train_prints_the_weights_and_their_sha256(tiny_data, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    code = main(["train", "lin-atomsegnet", "--data", str(tiny_data), "--out", str(out), "--steps", "2",
                 "--batch-size", "2", "--crop-px", "16", "--seed", "3", "--quiet", "--no-resume",
                 "--checkpoint-dir", str(tmp_path / "ck")])
    assert code == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == str(out) and lines[1] == f"sha256 {sha256_file(out)}"
    assert _state(out)["meta"]["seed"] == 3
    assert main(["train", "no-such-model", "--data", str(tiny_data), "--quiet"]) == 1
    assert "Trainable models: lin-atomsegnet" in capsys.readouterr().err


@pytest.mark.slow
def test_a_short_training_run_learns_to_locate_columns(tmp_path):
    """About 200 steps on Gaussian-column images: the watershed locator then finds held-out columns."""
    from column_fixtures import write_dataset_folder as write

    from atomdata.evaluation import score_image

    data = write(tmp_path / "data", splits=("train", "val"), n=24, shape=(48, 48), n_columns=14)
    path = train("lin-atomsegnet", data, out=tmp_path / "w.pt", steps=200, batch_size=4, crop_px=32,
                 recipe=TrainRecipe(val_images=4, val_crop_px=48), progress=False)
    loc = models.get("lin-atomsegnet", weights=path, device="cpu")
    record = loc.meta
    assert record["final_val_loss"] < record["val_history"][0]["val_loss"]
    recalls, precisions = [], []
    for seed in range(4):
        xy = random_columns((64, 64), 20, seed=1000 + seed, min_dist=7.0, margin=4.0)
        image = render_columns(xy, (64, 64), background=0.1) + np.random.default_rng(seed).normal(0, 0.03, (64, 64))
        s = score_image(loc.predict(image, pixel_size_A=0.1), xy, pixel_size_A=0.1, tolerance_A=0.2)
        recalls.append(s.id_recall)
        precisions.append(s.id_precision)
    assert np.mean(recalls) > 0.9 and np.mean(precisions) > 0.9, (recalls, precisions)


def test_quick_weights_never_take_the_place_of_the_full_ones(tiny_data):
    from atomdata.models.train import QUICK_RECIPE
    from atomdata.models.weights import WeightsNotFoundError

    path = train("lin-atomsegnet", tiny_data, quick=True, steps=2, progress=False)
    assert path.name == "lin-atomsegnet-gaussianmask-quick.pt"
    record = _state(path)["meta"]["recipe"]
    assert record["crop_px"] == QUICK_RECIPE.crop_px and record["steps"] == 2
    with pytest.raises(WeightsNotFoundError):
        models.get("lin-atomsegnet", device="cpu")
    assert models.get("lin-atomsegnet", weights=path, device="cpu").meta["steps"] == 2


def test_training_again_keeps_finished_weights_and_a_fresh_run_writes_the_same_bytes(tiny_data, tmp_path):
    out = tmp_path / "w.pt"
    first = train("lin-atomsegnet", tiny_data, out=out, recipe=TINY_RECIPE, checkpoint_dir=tmp_path / "ck", **TINY)
    digest, mtime = sha256_file(first), out.stat().st_mtime_ns
    again = train("lin-atomsegnet", tiny_data, out=out, recipe=TINY_RECIPE, checkpoint_dir=tmp_path / "ck", **TINY)
    assert sha256_file(again) == digest and out.stat().st_mtime_ns == mtime  # found finished: not rewritten
    fresh = train("lin-atomsegnet", tiny_data, out=tmp_path / "w2.pt", recipe=TINY_RECIPE,
                  checkpoint_dir=tmp_path / "ck2", **TINY)
    assert sha256_file(fresh) == digest  # no time or wall clock inside the weights file
