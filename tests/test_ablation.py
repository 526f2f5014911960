"""The ablation command end to end on a tiny configuration, and its statistics."""

import json

import pytest
import yaml

from trainer.__main__ import main as cli
from trainer.ablation import paired_difference, spread, summarise, verdict

pytestmark = pytest.mark.slow


def test_ablate_trains_every_variant_and_seed_then_reports(tmp_path, capsys):
    out = tmp_path / "runs" / "tiny"
    args = [
        "ablate",
        "--dataset", "digits",
        "--image-size", "16",
        "--epochs", "1",
        "--batch-size", "128",
        "--workers", "0",
        "--device", "cpu",
        "--target-blocks", "5",
        "--view-images-per-class", "2",
        "--seeds", "2",
        "--variants", "codinet,no-codi,aig",
        "--out", str(out),
    ]  # fmt: skip
    assert cli(args) == 0
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert runs == [f"{v}-s{s}" for v in ("aig", "codinet", "no-codi") for s in (0, 1)]
    report = json.loads((out / "report.json").read_text())
    assert report["command"].startswith("python -m trainer ablate")
    assert set(report["variants"]) == {"codinet", "no-codi", "aig"}
    accuracy = report["variants"]["codinet"]["accuracy"]
    assert accuracy["n"] == 2 and 0 <= accuracy["mean"] <= 1
    assert set(report["differences"]) == {"no-codi", "aig"}
    assert report["differences"]["aig"]["accuracy"]["n"] == 2
    # The variants differ in their routing losses alone.
    aig = yaml.safe_load((out / "aig-s1" / "config.yaml").read_text())
    codinet = yaml.safe_load((out / "codinet-s1" / "config.yaml").read_text())
    changed = {k for k in aig if aig[k] != codinet[k]}
    assert changed == {"w_con", "w_div", "w_cost", "w_aig", "out"}
    assert aig["w_aig"] == 2.0 and aig["seed"] == 1 and codinet["w_aig"] == 0
    assert codinet["checkpoint"] == "last"  # final epochs are compared, not picked ones
    # One recorded epoch: every path is its last from epoch 1.
    assert report["variants"]["no-codi"]["settled_90_epoch"]["values"] == [1, 1]
    markdown = (out / "REPORT.md").read_text()
    assert "## codinet − no-codi, paired by seed" in markdown and "view_ratio" in markdown
    assert "REPORT.md" in capsys.readouterr().out

    # Run again: nothing is retrained, the report is rewritten from the same runs.
    stamp = (out / "codinet-s0" / "checkpoint.pt").stat().st_mtime_ns
    assert cli(args) == 0
    assert (out / "codinet-s0" / "checkpoint.pt").stat().st_mtime_ns == stamp


def test_ablate_refuses_an_unknown_variant_before_training(tmp_path, capsys):
    out = tmp_path / "runs" / "bad"
    assert cli(["ablate", "--variants", "codinet,skipnet", "--out", str(out)]) == 2
    assert "skipnet" in capsys.readouterr().err and not out.exists()


def test_summary_statistics_by_hand():
    assert spread([1.0, 2.0, 3.0]) == {"n": 3, "mean": 2.0, "sd": 1.0, "values": [1.0, 2.0, 3.0]}
    # Differences 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.3027 -> half-width 2.4841.
    d = paired_difference([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert d["mean"] == 2.0 and d["ci95"] == pytest.approx([2 - 2.48414, 2 + 2.48414], abs=1e-4)
    assert d["p_value"] == pytest.approx(0.0742, abs=1e-3)  # t = 3.464 on 2 degrees
    assert verdict("view_ratio", d) == "no detectable difference"
    clear = paired_difference([0.2, 0.21, 0.19], [0.5, 0.52, 0.49])
    assert verdict("view_ratio", clear) == "CoDiNet better"  # lower is better
    assert verdict("neighbor_agreement", clear) == "CoDiNet worse"  # higher is better
    assert verdict("view_ratio", paired_difference([0.1], [0.2])) == "too few seeds"


def test_summary_pairs_differences_by_seed():
    runs = {
        "codinet": {0: {"accuracy": 0.9}, 1: {"accuracy": 0.8}, 2: {"accuracy": 0.7}},
        "no-codi": {1: {"accuracy": 0.7}, 2: {"accuracy": 0.6}},
    }
    summary = summarise(runs)
    assert summary["variants"]["codinet"]["accuracy"]["n"] == 3
    difference = summary["differences"]["no-codi"]["accuracy"]
    assert difference["n"] == 2 and difference["mean"] == pytest.approx(0.1)
    assert difference["ci95"] == pytest.approx([0.1, 0.1])
