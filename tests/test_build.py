"""The benchmark builder: completeness, sweeps, determinism, resume, CLI and preview (quick config)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from atomdata.build.builder import build_dataset, build_shard, shard_path, shard_ranges
from atomdata.cli import main
from atomdata.schema import SPLITS
from atomdata.sim.seeds import image_seed
from atomdata.sim.stem.benchmark import MATERIALS, SWEEP_METRICS, benchmark_config, split_specs
from atomdata.sim.stem.catalog import STRUCTURES
from atomdata.storage import SplitFile, read_manifest, sha256_file


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick build (2 worker processes) shared by the tests of this module."""
    return build_dataset(tmp_path_factory.mktemp("quick") / "ds", quick=True, workers=2, progress=False)


def test_quick_build_is_complete_and_valid(quick):
    man = read_manifest(quick)
    assert man.version == "1.0.0-quick" and man.name == "atomdata-benchmark"
    assert list(man.splits) == list(SPLITS)
    for info in man.splits.values():
        path = quick / info.file
        assert sha256_file(path) == info.sha256
        with SplitFile(path) as s:
            s.validate(deep=True)
            assert len(s) == info.n_images > 0 and s.dataset_version == "1.0.0-quick"
    assert not any(p.name.startswith(".shards") for p in quick.iterdir())  # shards cleaned up
    test_subsets = set(man.splits["test"].subsets)
    assert test_subsets == {f"{m}_sim_{metric}" for m in MATERIALS for metric in SWEEP_METRICS}
    gen = set(man.splits["generality"].subsets)
    assert {"gen_si110", "gen_gaas110", "gen_graphene_si", "gen_sto100_defects", "gen_sto_lao_interface",
            "gen_sto_gb_sigma5", "gen_sto_combined", "gen_ws2_combined", "gen_sto_aberration"} == gen


def test_sweep_records_carry_their_value_and_meet_the_request(quick):
    cfg = benchmark_config(quick=True)
    with SplitFile(quick / "test.h5") as s:
        seen = {}
        for i in range(len(s)):
            rec = s.record(i)
            sw = rec.extra["sweep"]
            metric = sw["metric"]
            assert rec.subset.endswith("_sim_" + metric) and rec.subset.split("_")[0] in MATERIALS
            nominal = getattr(rec.quality, metric).nominal
            assert nominal == pytest.approx(sw["value"], rel=1e-9)
            q = rec.quality
            assert q.contrast.measured == pytest.approx(q.contrast.nominal, rel=0.10)
            if q.psnr_db.nominal is not None:
                assert q.psnr_db.measured == pytest.approx(q.psnr_db.nominal, rel=0.10)
            seen.setdefault((rec.subset, sw["value"]), set()).add(sw["seed_index"])
            assert rec.columns.target.sum() > 0
        for (subset, value), seeds in seen.items():
            assert seeds == set(range(cfg.seeds_per_point)), (subset, value)
        metric_values = {m: set() for m in SWEEP_METRICS}
        for subset, value in seen:
            metric_values[subset.split("_sim_")[1]].add(value)
        for sweep in cfg.sweeps:
            assert metric_values[sweep.metric] == set(sweep.values)


def test_full_config_covers_published_cutoffs(shared_reference):
    """The full sweeps span the published cutoffs so the evaluator can locate them."""
    cutoffs = json.loads((shared_reference / "published_cutoffs.json").read_text())["cutoffs"]
    cfg = benchmark_config()
    ranges = {s.metric: (min(s.values), max(s.values)) for s in cfg.sweeps}
    names = {"flyback_error": "flyback_error_px"}
    for material in ("SrTiO3_simulated", "WS2_simulated"):
        for model, values in cutoffs[material].items():
            for metric, v in values.items():
                if v is None:
                    continue
                lo, hi = ranges[names.get(metric, metric)]
                assert lo < v < hi, (material, model, metric, v, lo, hi)
    assert all(len(s.values) >= 10 for s in cfg.sweeps) and cfg.seeds_per_point >= 5
    n_test = len(split_specs(cfg, "test"))
    assert n_test >= 1000 and cfg.n_train >= 1000 and cfg.image_size == 256


def test_train_covers_all_structures_and_seeds_are_disjoint(quick):
    seeds = {}
    for split in SPLITS:
        with SplitFile(quick / f"{split}.h5") as s:
            seeds[split] = {s.record(i).provenance.seed for i in range(len(s))}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not seeds[a] & seeds[b], (a, b)
    specs = split_specs(benchmark_config(), "train")
    assert {s.params.structure for s in specs} == set(STRUCTURES)
    rotations = [s.params.rotation_deg for s in specs]
    assert np.ptp(rotations) > 300


def test_two_builds_are_byte_identical(quick, tmp_path):
    """Determinism: a rebuild in one process gives the same checksums as the parallel build."""
    again = build_dataset(tmp_path / "again", quick=True, workers=1, progress=False)
    a, b = read_manifest(quick), read_manifest(again)
    assert {k: v.sha256 for k, v in a.splits.items()} == {k: v.sha256 for k, v in b.splits.items()}
    assert (quick / "manifest.json").read_text() == (again / "manifest.json").read_text()


def test_interrupted_build_resumes_keeping_finished_shards(quick, tmp_path):
    cfg = benchmark_config(quick=True)
    out = tmp_path / "resume"
    n_shards = len(shard_ranges(len(split_specs(cfg, "test")), cfg.shard_size))
    assert n_shards >= 3
    done = shard_path(out, cfg, "test", 0)
    build_shard(cfg, "test", 0, done)  # a shard finished before the "interruption"
    inode = done.stat().st_ino
    half = done.parent / ".test-00001.h5.abc123.tmp"  # a half-written shard left by the interruption
    half.write_bytes(b"\x89HDF\r\n partial")
    build_dataset(out, recipe=cfg, splits=["test"], workers=1, progress=False, keep_shards=True)
    assert done.stat().st_ino == inode  # reused, not rebuilt
    assert not half.exists()
    assert all(shard_path(out, cfg, "test", k).exists() for k in range(n_shards))
    assert sha256_file(out / "test.h5") == read_manifest(quick).splits["test"].sha256
    # a second run finds the split done and changes nothing
    before = (out / "test.h5").stat().st_mtime_ns
    build_dataset(out, recipe=cfg, splits=["test"], workers=1, progress=False)
    assert (out / "test.h5").stat().st_mtime_ns == before


def test_build_shard_is_pure(tmp_path):
    cfg = benchmark_config(quick=True)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert build_shard(cfg, "generality", 1, a) == build_shard(cfg, "generality", 1, b)
    assert sha256_file(a) == sha256_file(b)
    with pytest.raises(IndexError, match="out of range"):
        build_shard(cfg, "generality", 99, tmp_path / "c.h5")


def test_image_seed_depends_on_every_input():
    base = image_seed("1.0.0", "test", 3)
    assert base == image_seed("1.0.0", "test", 3)
    assert len({base, image_seed("1.0.1", "test", 3), image_seed("1.0.0", "val", 3),
                image_seed("1.0.0", "test", 4), image_seed("1.0.0", "test", 3, stream=1)}) == 5


def test_errors_name_the_valid_choices(tmp_path):
    with pytest.raises(ValueError, match="Valid splits: train, val, test, generality"):
        build_dataset(tmp_path, quick=True, splits=["tset"], progress=False)
    with pytest.raises(ValueError, match="Valid splits"):
        split_specs(benchmark_config(quick=True), "dev")
    with pytest.raises(ValueError, match="workers"):
        build_dataset(tmp_path, quick=True, workers=0, progress=False)
    with pytest.raises(ValueError, match="1.0.0"):
        benchmark_config(version="2.0.0")


def test_default_out_is_the_quick_version_folder_in_the_cache():
    out = build_dataset(quick=True, splits=["val"], workers=1, progress=False)
    assert out.parts[-2:] == ("atomdata-benchmark", "1.0.0-quick")
    assert out.parent.parent == __import__("pathlib").Path(os.environ["ATOMDATA_CACHE"])


def test_cli_build_with_preview(tmp_path, capsys):
    out, png = tmp_path / "cli", tmp_path / "montage.png"
    code = main(["build", "--out", str(out), "--quick", "--workers", "1", "--splits", "val", "test",
                 "--no-progress", "--preview", str(png)])
    assert code == 0
    assert (out / "val.h5").exists() and (out / "test.h5").exists() and not (out / "train.h5").exists()
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 500
    assert str(png) in capsys.readouterr().out
    assert main(["build", "--out", str(tmp_path / "x"), "--quick", "--splits", "nope", "--no-progress"]) == 1


def test_preview_picks_one_image_per_subset(quick):
    from atomdata.build.preview import pick_examples

    with SplitFile(quick / "test.h5") as s:
        picks = pick_examples(s)
        assert [p[0] for p in picks] == list(dict.fromkeys(s.subsets.tolist()))
        for subset, i in picks:
            assert s.subsets[i] == subset
        with pytest.raises(ValueError, match="position"):
            pick_examples(s, position=2)


def test_uncompressed_build_has_the_same_content(tmp_path):
    """--compression none changes the bytes on disk, not the images or labels."""
    import numpy as np

    from atomdata.build.builder import build_dataset
    from atomdata.storage import SplitFile

    a = build_dataset(tmp_path / "gz", quick=True, workers=1, progress=False, splits=["val"])
    b = build_dataset(tmp_path / "raw", quick=True, workers=1, progress=False, splits=["val"], compression=None)
    sa, sb = SplitFile(a / "val.h5"), SplitFile(b / "val.h5")
    key = sa.image_groups[0]
    assert sa.h5[f"images/{key}"].compression == "gzip" and sb.h5[f"images/{key}"].compression is None
    assert len(sa) == len(sb) > 0
    for i in range(len(sa)):
        np.testing.assert_array_equal(sa.image(i), sb.image(i))
        assert sa.record(i) == sb.record(i)
    with pytest.raises(ValueError, match="compression must be 'gzip', 'lzf' or None, got 'zip'"):
        build_dataset(tmp_path / "bad", quick=True, workers=1, progress=False, compression="zip")
