"""Reports, plots and the `atomdata evaluate` command on a real split file."""
import csv
import json

import numpy as np
import pytest
from evaluate_data import degrading_predictions, write_sweep_split

from atomdata.cli import main
from atomdata.evaluation import Criteria, evaluate, find_cutoff, save_predictions
from atomdata.evaluation.plots import plot_overlay, plot_radar, radar_radius
from atomdata.storage import SplitFile

SWEEPS = {"psnr_db": (30.0, 15.0, 5.0), "resolution_pm": (100.0, 200.0, 300.0), "contrast": (0.9, 0.3, 0.05)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rep")
    path = write_sweep_split(root / "test.h5", SWEEPS, n_seeds=2, shape=(40, 40))
    split = SplitFile(path)
    sev = {"psnr_db": lambda v: (30 - v) / 25, "resolution_pm": lambda v: (v - 100) / 200, "contrast": lambda v: 0}
    preds = {}
    for metric, f in sev.items():
        d = degrading_predictions(split, severity=f, seed=2)
        preds.update({k: v for k, v in d.items() if f"-{metric}-" in k})
    return root, split, preds


def test_report_files(data, tmp_path):
    root, split, preds = data
    report, scores = evaluate(preds, split, model_name="synthetic", model_version="1.2", out_dir=tmp_path,
                              n_boot=50)
    js = json.loads((tmp_path / "report.json").read_text())
    assert js["dataset_name"] == "unit" and js["dataset_version"] == "1.0.0" and js["split"] == "test"
    assert js["model_name"] == "synthetic" and js["model_version"] == "1.2"
    assert js["protocol"] == "one_to_one" and js["tolerance_A"] is None and "0.5" in js["tolerance_note"]
    assert set(js["aggregates"]) == {"all", "sto_sim_psnr_db", "sto_sim_resolution_pm", "sto_sim_contrast"}
    assert {c["subset"] for c in js["cutoffs"]} == {"sto_sim_psnr_db", "sto_sim_resolution_pm", "sto_sim_contrast"}
    rows = list(csv.DictReader(open(tmp_path / "per_image.csv")))
    assert len(rows) == len(split)
    assert {"image_id", "subset", "sweep_value", "tp", "fp", "fn", "id_recall", "id_precision",
            "position_accuracy_A"} <= set(rows[0])
    tp_csv = sum(int(r["tp"]) for r in rows)
    assert tp_csv == js["aggregates"]["all"]["tp"] == sum(s.tp for s in scores.scores)
    md = (tmp_path / "summary.md").read_text()
    assert "| sto_sim_psnr_db |" in md and "synthetic 1.2" in md


def test_evaluate_checks_each_prediction_array_once_and_reads_no_full_record(data, tmp_path, monkeypatch):
    """Validation at the boundary: one position check per predicted image, no pydantic record per image."""
    from atomdata.evaluation import inputs
    from atomdata.storage import SplitFile as Reader

    root, split, preds = data
    calls = {"check_xy": 0, "record": 0}
    real_check, real_record = inputs.check_xy, Reader.record

    def counting_check(*a, **k):
        calls["check_xy"] += 1
        return real_check(*a, **k)

    def counting_record(self, i):
        calls["record"] += 1
        return real_record(self, i)

    monkeypatch.setattr(inputs, "check_xy", counting_check)
    monkeypatch.setattr(Reader, "record", counting_record)
    evaluate(preds, split.path, n_boot=0, out_dir=tmp_path)
    assert calls == {"check_xy": len(preds), "record": 0}


def test_radar_radius_orientation():
    kw = dict(id_precision=[1] * 3, position_accuracy_A=[0.1] * 3, interpolation="linear", n_boot=0)
    worse_higher = find_cutoff([100, 200, 300], [1.0, 1.0, 0.8], metric="resolution_pm", **kw)
    assert worse_higher.cutoff == pytest.approx(250) and radar_radius(worse_higher) == pytest.approx(0.75)
    worse_lower = find_cutoff([5, 15, 30], [0.8, 1.0, 1.0], metric="psnr_db", **kw)
    assert worse_lower.cutoff == pytest.approx(10) and radar_radius(worse_lower) == pytest.approx(20 / 25)
    never = find_cutoff([5, 15, 30], [1.0] * 3, metric="psnr_db", **kw)
    assert radar_radius(never) == 1.0


def test_radar_of_two_models_and_overlay_svg(data, tmp_path):
    root, split, preds = data
    good = evaluate({k: split.columns(split.index(k)).target_xy for k in split.image_ids}, split, n_boot=0)[0]
    bad = evaluate(preds, split, n_boot=0)[0]
    fig = plot_radar({"perfect": good.cutoffs, "synthetic": bad.cutoffs}, path=tmp_path / "r.svg")
    assert (tmp_path / "r.svg").read_text().lstrip().startswith("<?xml")
    assert fig is not None
    i = 0
    from atomdata.evaluation import score_image

    s = score_image(preds[split.image_ids[i]], split.columns(i), pixel_size_A=float(split.pixel_sizes_A[i]))
    plot_overlay(split.image(i), s, preds[split.image_ids[i]], split.columns(i), path=tmp_path / "o.png")
    assert (tmp_path / "o.png").stat().st_size > 1000


def test_cli_evaluate_writes_reports_and_plots(data, tmp_path, capsys):
    root, split, preds = data
    pfile = save_predictions(preds, tmp_path / "preds.csv")
    plots = tmp_path / "plots"
    rc = main(["evaluate", "--predictions", str(pfile), "--data", str(root), "--split", "test", "--out",
               str(tmp_path / "out"), "--plots", str(plots), "--n-boot", "20", "--quiet", "--max-overlays", "2",
               "--model-name", "cli-model", "--protocol", "wei2022"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "cli-model" in out and "wei2022" in out
    js = json.loads((tmp_path / "out" / "report.json").read_text())
    assert js["protocol"] == "wei2022" and js["model_name"] == "cli-model"
    names = sorted(p.name for p in plots.iterdir())
    assert "radar_sto.png" in names
    assert {"sweep_sto_sim_psnr_db.png", "sweep_sto_sim_resolution_pm.png", "sweep_sto_sim_contrast.png"} <= set(names)
    overlays = [n for n in names if n.startswith("overlay_")]
    assert len(overlays) == 2
    assert any("psnr_db-02" in n for n in overlays)  # the worst images (PSNR 5 dB) are drawn
    for n in names:
        assert (plots / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors(data, tmp_path, capsys):
    root, split, preds = data
    pfile = save_predictions(preds, tmp_path / "preds.csv")
    assert main(["evaluate", "--predictions", str(pfile), "--split", "test"]) == 1
    err = capsys.readouterr().err
    assert "Run `atomdata build`" in err and "--data" in err
    bad = save_predictions({"nope": np.zeros((1, 2))}, tmp_path / "bad.npz")
    assert main(["evaluate", "--predictions", str(bad), "--data", str(split.path), "--quiet"]) == 1
    assert "'nope'" in capsys.readouterr().err
    assert main(["evaluate", "--predictions", str(pfile), "--data", str(root), "--split", "val"]) == 1
    assert "Unknown split 'val'. Valid splits: test." in capsys.readouterr().err


def test_criteria_are_configurable_in_the_report(data):
    root, split, preds = data
    strict = evaluate(preds, split, criteria=Criteria(id_recall_min=0.999), n_boot=0)[0]
    loose = evaluate(preds, split, criteria=Criteria(id_recall_min=0.5, id_precision_min=0.5,
                                                     position_accuracy_max_A=0.45), n_boot=0)[0]
    s = {c.subset: c for c in strict.cutoffs}["sto_sim_resolution_pm"]
    lo = {c.subset: c for c in loose.cutoffs}["sto_sim_resolution_pm"]
    assert s.cutoff is not None and (lo.cutoff is None or lo.cutoff > s.cutoff)


def test_radar_radius_reads_decade_ranges_on_a_log_axis():
    from atomdata.evaluation import Criteria, Cutoff
    from atomdata.evaluation.plots import radar_radius

    def cut(value, lo, hi):
        return Cutoff(subset="sto_sim_dose_e_per_A2", metric="dose_e_per_A2", worse_when="lower", cutoff=value,
                      failed_first="id_recall", per_criterion={}, tested_min=lo, tested_max=hi, n_points=5,
                      n_seeds=2, criteria=Criteria())

    # dose 100 in a 10..1e5 sweep (worse when lower): 3 of 4 decades into the worsening direction
    assert radar_radius(cut(100.0, 10.0, 1e5)) == pytest.approx(0.75)
    # a linear range stays linear: contrast 0.25 in 0.0..1.0 (worse when lower) is 75 % of the way
    c = cut(0.25, 0.0, 1.0)
    assert radar_radius(c) == pytest.approx(0.75)


def _counts_in(text: str) -> dict[str, int]:
    import re

    return {k: int(v) for k, v in re.findall(r"\b(TP|FP|FN) (\d+)", text)}


def test_overlay_title_and_legend_count_the_same_columns(tmp_path):
    """A miss in the border band is not an FN: the legend must not count it as one (it did)."""
    from atomdata.evaluation import score_image
    from atomdata.schema import ColumnSet

    # 64 x 64 px at 0.1 Å/px: match radius 5 px, border band 6 px. Four target columns: one found,
    # one missed inside, two missed in the band; one prediction far from everything (FP).
    gt = ColumnSet.from_arrays([[20.0, 20.0], [40.0, 40.0], [2.0, 30.0], [30.0, 61.0]], ["Sr"] * 4)
    pred = np.array([[20.5, 20.0], [10.0, 50.0]])
    s = score_image(pred, gt, pixel_size_A=0.1, image_shape=(64, 64))
    assert (s.tp, s.fp, s.fn) == (1, 1, 1)
    fig = plot_overlay(np.zeros((64, 64)), s, pred, gt)
    ax = fig.axes[0]
    title = ax.get_title()
    legend = {t.get_text().rsplit(" (", 1)[0]: int(t.get_text().rsplit("(", 1)[1].rstrip(")"))
              for t in ax.get_legend().get_texts()}
    assert _counts_in(title) == {"TP": 1, "FP": 1, "FN": 1}
    assert legend["ground truth missed (FN)"] == s.fn == 1
    assert legend["ground truth matched"] == legend["TP"] == s.tp
    assert legend["FP"] == s.fp
    assert legend["ground truth in border band (not scored)"] == 2
    assert "2 columns in the border band" in title
    import matplotlib.pyplot as plt

    plt.close(fig)
