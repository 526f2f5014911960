"""python -m trainer sweep: the grid, the plan of runs, the report's verdicts, and tiny
sweeps run here, through submitit's local executor, and resumed after a stop."""

import json
from pathlib import Path

import pytest

from trainer.__main__ import main as cli
from trainer.config import TrainConfig
from trainer.sweep import (
    ACCURACY_MARGIN,
    front,
    grid_settings,
    parse_grid,
    plan,
    qualifies,
    setting_name,
)

TINY = [
    "--dataset", "digits", "--image-size", "16", "--epochs", "1", "--batch-size", "128",
    "--workers", "0", "--device", "cpu", "--target-blocks", "5",
    "--view-images-per-class", "2", "--formation-images", "50",
]  # fmt: skip


def test_a_grid_is_parsed_into_numbers_and_its_product_named():
    grid = parse_grid(["w_con=0.1,1", "inter-margin=0.5,3"])
    assert grid == {"w_con": [0.1, 1.0], "inter_margin": [0.5, 3.0]}
    settings = grid_settings(grid)
    assert list(settings) == [
        "wcon0p1-intermargin0p5",
        "wcon0p1-intermargin3",
        "wcon1-intermargin0p5",
        "wcon1-intermargin3",
    ]
    assert settings["wcon1-intermargin0p5"] == {"w_con": 1.0, "inter_margin": 0.5}
    assert setting_name({"w_div": -0.25}) == "wdivm0p25"


@pytest.mark.parametrize(
    "items, words",
    [
        (["lr=0.1"], "the grid varies"),
        (["w_con=a,b"], "numbers"),
        (["w_con="], "no value"),
        (["w_con=1", "w_con=2"], "twice"),
    ],
)
def test_a_wrong_grid_is_refused_with_its_reason(items, words):
    with pytest.raises(ValueError, match=words):
        parse_grid(items)


def test_the_plan_trains_every_setting_and_baseline_per_seed_seeds_outermost(tmp_path):
    base = TrainConfig(out=str(tmp_path / "sweep"), w_con=0.3, w_aig=1.0)
    jobs = plan(base, {"w_con": [0.0, 1.0]}, ["no-codi", "aig"], seeds=2)
    assert [job.name for job in jobs] == [
        "wcon0-s0", "wcon1-s0", "no-codi-s0", "aig-s0",
        "wcon0-s1", "wcon1-s1", "no-codi-s1", "aig-s1",
    ]  # fmt: skip
    by_name = {job.name: job.config for job in jobs}
    assert by_name["wcon1-s1"].w_con == 1.0 and by_name["wcon1-s1"].seed == 1
    assert by_name["wcon1-s1"].w_aig == 0.0  # a CoDiNet setting carries no AIG loss
    assert by_name["no-codi-s0"].w_con == 0.0 and by_name["no-codi-s0"].w_div == 0.0
    assert by_name["aig-s0"].w_aig > 0 and by_name["aig-s0"].w_cost == 0.0
    assert all(c.checkpoint == "last" for c in by_name.values())
    assert by_name["aig-s1"].out == str(tmp_path / "sweep" / "aig-s1")
    with pytest.raises(ValueError, match="unknown baseline"):
        plan(base, {}, ["plain"], 1)


def interval(low, high):
    return {"mean": (low + high) / 2, "ci95": [low, high]}


def test_a_setting_qualifies_only_if_every_interval_says_so():
    good = {
        "accuracy": interval(-ACCURACY_MARGIN / 2, 0.01),
        "view_ratio": interval(-0.3, -0.1),
        "view_distance": interval(-0.9, -0.2),
        "probe_accuracy": interval(0.05, 0.2),
    }
    assert qualifies(good)
    # The view ratio falls with more distinct paths that views keep, the raw view
    # distance with fewer paths: views share their paths more only if both fall.
    assert not qualifies({**good, "view_distance": interval(-0.2, 0.3)})
    assert not qualifies({**good, "accuracy": interval(-0.02, 0.01)})
    assert not qualifies({**good, "view_ratio": interval(-0.3, 0.01)})
    assert not qualifies({**good, "probe_accuracy": interval(-0.01, 0.2)})
    assert not qualifies({**good, "probe_accuracy": {"mean": 0.1, "ci95": None}})


def test_the_front_holds_the_settings_nothing_beats_everywhere():
    def entry(accuracy, view, probe):
        return {
            "accuracy": {"mean": accuracy},
            "view_ratio": {"mean": view},
            "probe_accuracy": {"mean": probe},
        }

    settings = {
        "accurate": entry(0.99, 0.5, 0.5),
        "consistent": entry(0.95, 0.1, 0.6),
        "dominated": entry(0.94, 0.2, 0.55),  # "consistent" beats it on all three
        "tie": entry(0.99, 0.5, 0.5),  # equal to "accurate": neither dominates
        "unmeasured": {**entry(0.99, 0.1, 0.9), "view_ratio": {"mean": None}},
    }
    assert front(settings) == ["accurate", "consistent", "tie"]


def read_report(out: Path) -> dict:
    return json.loads((out / "sweep.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["1", "2"])
def test_a_tiny_sweep_trains_and_reports_here(tmp_path, parallel):
    out = tmp_path / "sweep"
    args = ["sweep", *TINY, "--grid", "w_con=0,0.5", "--seeds", "2", "--out", str(out)]
    assert cli([*args, "--parallel", parallel]) == 0
    report = read_report(out)
    assert report["missing"] == [] and report["failed"] == {}
    assert set(report["settings"]) == {"wcon0", "wcon0p5", "no-codi"}
    versus = report["settings"]["wcon0p5"]["versus"]["accuracy"]
    assert versus["n"] == 2 and versus["ci95"] is not None
    assert report["settings"]["no-codi"]["accuracy"]["n"] == 2
    assert "versus" not in report["settings"]["no-codi"]
    assert set(report["front"]) <= set(report["settings"])
    markdown = (out / "SWEEP.md").read_text()
    assert "## Difference from no-codi, paired by seed" in markdown
    assert "| wcon0p5 | 2 |" in markdown


@pytest.mark.slow
def test_a_sweep_runs_through_submitits_local_executor(tmp_path):
    out = tmp_path / "sweep"
    args = [
        "sweep", *TINY, "--grid", "w_con=0.5", "--baselines", "no-codi", "--seeds", "1",
        "--launcher", "submitit", "--cluster", "local", "--out", str(out),
    ]  # fmt: skip
    assert cli(args) == 0
    report = read_report(out)
    assert report["missing"] == [] and report["failed"] == {}
    assert (out / ".submitit").is_dir()  # the jobs' logs, as on a cluster
    assert (out / "wcon0p5-s0" / "checkpoint.pt").exists()


@pytest.mark.slow
def test_an_interrupted_sweep_reports_what_is_missing_then_resumes(tmp_path, monkeypatch):
    import trainer.sweep

    out = tmp_path / "sweep"
    args = ["sweep", *TINY, "--grid", "w_con=0,0.5", "--seeds", "1", "--out", str(out)]
    train_job, calls = trainer.sweep.train_job, []

    def stop_at_the_second_run(config):
        calls.append(config.out)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train_job(config)

    monkeypatch.setattr(trainer.sweep, "train_job", stop_at_the_second_run)
    with pytest.raises(KeyboardInterrupt):
        cli(args)
    first = out / "wcon0-s0" / "checkpoint.pt"
    stamp = first.stat().st_mtime_ns
    monkeypatch.setattr(trainer.sweep, "train_job", train_job)
    # A report of what finished so far says what is missing.
    jobs = plan(TrainConfig(**_tiny_config(out)), {"w_con": [0.0, 0.5]}, ["no-codi"], 1)
    partial = trainer.sweep.build_sweep_report(out, jobs, {"w_con": [0.0, 0.5]}, ["no-codi"])
    assert partial["missing"] == ["wcon0p5-s0", "no-codi-s0"]
    assert cli(args) == 0
    assert first.stat().st_mtime_ns == stamp  # not trained again
    assert read_report(out)["missing"] == []


def _tiny_config(out: Path) -> dict:
    return dict(
        dataset="digits", image_size=16, epochs=1, batch_size=128, workers=0, device="cpu",
        target_blocks=5, view_images_per_class=2, formation_images=50, out=str(out),
    )  # fmt: skip
