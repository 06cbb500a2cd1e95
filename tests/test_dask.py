"""The Dask engine: byte-identical builds on a LocalCluster of 2 worker processes, and a worker killed mid-build.

Everything runs on this machine (LocalCluster on 127.0.0.1); nothing needs the network.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from atomdata.build import build_dataset
from atomdata.build.engine import check_scheduler, task_runner
from atomdata.storage import read_manifest, sha256_file
from atomdata.storage.verify import validate_path

distributed = pytest.importorskip("distributed", reason="needs the dask extra: pip install 'atomdata[dask]'")


@pytest.fixture(scope="module")
def pool_build(tmp_path_factory):
    """The quick benchmark built by the process pool (2 workers): the reference bytes."""
    return build_dataset(tmp_path_factory.mktemp("pool") / "ds", quick=True, workers=2, progress=False)


def _same_bytes(a, b) -> None:
    ma, mb = read_manifest(a), read_manifest(b)
    assert list(ma.splits) == list(mb.splits) == ["train", "val", "test", "generality"]
    for split, info in ma.splits.items():
        assert sha256_file(b / info.file) == sha256_file(a / info.file) == info.sha256 == mb.splits[split].sha256
    assert (a / "manifest.json").read_text() == (b / "manifest.json").read_text()


@pytest.mark.slow
def test_dask_local_cluster_builds_the_quick_benchmark_byte_identically(pool_build, tmp_path, capsys):
    out = build_dataset(tmp_path / "dask", quick=True, workers=2, progress=False, scheduler="dask")
    _same_bytes(pool_build, out)
    assert "dashboard: http://" in capsys.readouterr().err
    assert not any(p.name.startswith(".shards") for p in out.iterdir())


@pytest.mark.slow
def test_build_survives_a_worker_killed_mid_build(pool_build, tmp_path):
    """A worker process is SIGKILLed while shards are being built; Dask reruns its task, the build completes."""
    out = tmp_path / "killed"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        errors: list = []

        def build():
            try:  # by address, like a remote cluster: the workers return each shard's bytes
                build_dataset(out, quick=True, progress=False, scheduler="dask", address=cluster.scheduler_address)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        thread = threading.Thread(target=build)
        thread.start()
        killed = None
        deadline = time.monotonic() + 600
        while killed is None and thread.is_alive() and time.monotonic() < deadline:
            busy = [w for w, keys in client.processing().items() if keys]
            done = list(out.glob(".shards-*/*.h5"))
            if busy and done:  # at least one shard written, a task running: kill its worker
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed = busy[0]
            time.sleep(0.01)
        thread.join(timeout=900)
        assert killed is not None, "the build finished before a worker could be killed"
        assert not thread.is_alive() and not errors, errors
    _same_bytes(pool_build, out)
    validate_path(out)


@pytest.mark.slow
def test_dask_runner_runs_tasks_and_reports_their_positions():
    with task_runner("dask", workers=2, announce=None) as runner:
        got = dict(runner.run(np.square, [(k,) for k in range(7)], max_in_flight=3))
    assert got == {k: k * k for k in range(7)}


def test_scheduler_choices_are_checked():
    with pytest.raises(ValueError, match="Unknown scheduler 'slurm'. Valid schedulers: processes, dask"):
        check_scheduler("slurm")
    with pytest.raises(ValueError, match="needs scheduler='dask'"):
        check_scheduler("processes", address="tcp://127.0.0.1:8786")


def _scores_table(scores) -> list:
    return [(r["image_id"], r["tp"], r["fp"], r["fn"], r["position_accuracy_A"]) for r in scores.rows()]


@pytest.fixture(scope="module")
def sweep_split(tmp_path_factory):
    from evaluate_data import degrading_predictions, write_sweep_split

    from atomdata.storage import SplitFile

    path = tmp_path_factory.mktemp("ev") / "test.h5"
    write_sweep_split(path, {"psnr_db": (30.0, 20.0, 10.0, 5.0)}, n_seeds=40, shape=(48, 48))
    split = SplitFile(path)
    return split, degrading_predictions(split, severity=lambda v: (30.0 - v) / 25.0, seed=3)


def test_scoring_on_a_process_pool_gives_the_same_scores(sweep_split):
    from atomdata.evaluation import score_split

    split, preds = sweep_split
    here = score_split(preds, split)
    pool = score_split(preds, split, workers=2)
    assert len(here) == len(split) > 64  # more than one chunk
    assert _scores_table(pool) == _scores_table(here)
    assert pool.sweeps == here.sweeps and pool.image_ids == here.image_ids


@pytest.mark.slow
def test_scoring_on_dask_gives_the_same_scores(sweep_split):
    from atomdata.evaluation import score_split

    split, preds = sweep_split
    assert _scores_table(score_split(preds, split, scheduler="dask", workers=2)) == _scores_table(score_split(preds, split))


def test_cli_refuses_an_address_without_dask(tmp_path, capsys):
    from atomdata.cli import main

    code = main(["build", "--quick", "--out", str(tmp_path / "x"), "--address", "tcp://127.0.0.1:8786", "--no-progress"])
    assert code == 1
    assert "needs scheduler='dask'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # checked before anything is made


def test_cli_evaluate_on_a_pool_writes_the_same_report(sweep_split, tmp_path):
    import json

    from atomdata.cli import main
    from atomdata.evaluation import save_predictions

    split, preds = sweep_split
    save_predictions(preds, tmp_path / "p.npz")
    outs = {}
    for label, extra in (("here", []), ("pool", ["--workers", "2"])):
        assert main(["evaluate", "--predictions", str(tmp_path / "p.npz"), "--data", str(split.path), "--out",
                     str(tmp_path / label), "--n-boot", "50", "--quiet", *extra]) == 0
        outs[label] = json.loads((tmp_path / label / "report.json").read_text())
    assert outs["pool"]["aggregates"] == outs["here"]["aggregates"]


@pytest.mark.slow
def test_cli_examples_of_the_scaling_docs_run(sweep_split, tmp_path, capsys):
    """`atomdata build --scheduler dask --workers N` and `atomdata evaluate ... --scheduler dask --workers N`."""
    from atomdata.cli import main
    from atomdata.evaluation import save_predictions

    out = tmp_path / "b"
    assert main(["build", "--quick", "--scheduler", "dask", "--workers", "2", "--splits", "val", "--out", str(out),
                 "--no-progress"]) == 0
    assert "LocalCluster of 2 worker process(es); dashboard: http://" in capsys.readouterr().err
    validate_path(out)
    split, preds = sweep_split
    save_predictions(preds, tmp_path / "p.npz")
    assert main(["evaluate", "--predictions", str(tmp_path / "p.npz"), "--data", str(split.path), "--scheduler", "dask",
                 "--workers", "2", "--n-boot", "0", "--quiet"]) == 0


@pytest.mark.slow
def test_reproduction_predictions_on_dask_equal_the_pool(tmp_path, pool_build):
    """The prediction step of `atomdata reproduce --scheduler dask`: same positions as on the process pool."""
    from atomdata.evaluation import load_predictions
    from atomdata.reproduce import reproduce

    got = {}
    for scheduler in ("processes", "dask"):
        res = reproduce(tmp_path / scheduler, data=pool_build, models=["baseline-peaks"], n_boot=0, progress=False,
                        scheduler=scheduler, workers=2)
        assert res.models_run == ["baseline-peaks"]
        got[scheduler] = load_predictions(tmp_path / scheduler / "baseline-peaks" / "predictions_test.npz")
    assert sorted(got["dask"]) == sorted(got["processes"]) and len(got["dask"]) > 0
    for k, xy in got["processes"].items():
        np.testing.assert_array_equal(got["dask"][k], xy)
