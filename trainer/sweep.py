"""Sweeps: a grid of CoDiNet settings over seeds, against baselines, and the trade-off.

``python -m trainer sweep --config recipes/X.yaml --grid w_con=0.1,1 --grid
inter_margin=0.5,3 --baselines no-codi --seeds 6 --out runs/NAME`` trains every
setting of the grid (its product) and every baseline with seeds 0..N-1, each run an
ordinary run folder ``runs/NAME/<setting>-s<seed>/`` that the explorer lists as one
group, then writes ``runs/NAME/sweep.json`` and ``SWEEP.md``: per setting the mean and
spread over seeds of accuracy, cost and the routing measures, its difference from the
first baseline paired by seed with a 95% interval, whether it keeps accuracy within
``ACCURACY_MARGIN`` of it while its view ratio and class information are better beyond
their intervals, and which settings lie on the front of accuracy against those
measures.

Each run is an independent job. ``--launcher local`` trains them here, one after the
other or ``--parallel N`` at a time (each with its share of the cores);
``--launcher submitit`` hands them to submitit (a SLURM cluster with
``--cluster slurm``, or local processes with ``--cluster local``, as the tests do). A
run already finished is never trained again and an interrupted one resumes from its
``last.pt``, so a sweep stopped anywhere continues where it stopped; the report is
written from the runs that finished, naming the ones missing.
"""

import dataclasses
import itertools
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from trainer.ablation import (
    SETTLED,
    collect_runs,
    finished_run,
    paired_difference,
    spread,
    variant_settings,
)
from trainer.config import TrainConfig

log = logging.getLogger(__name__)

# Settings a grid may vary: CoDiNet's terms and the cost target (numbers all).
GRID_SETTINGS = ("w_con", "w_div", "w_cost", "intra_margin", "inter_margin", "target_blocks")
BASELINES = ("no-codi", "aig")
# Within this many points of accuracy (lower end of the paired 95% interval) a setting
# "keeps" the baseline's accuracy.
ACCURACY_MARGIN = 0.005
# What the report shows per setting, and what each front objective prefers.
SHOWN = (
    "accuracy",
    "mean_executed_blocks",
    "unique_paths",
    "view_ratio",
    "view_distance",
    "same_class_ratio",
    "neighbor_agreement",
    "probe_accuracy",
    SETTLED,
)
FRONT = {"accuracy": 1, "view_ratio": -1, "probe_accuracy": 1}
# What "views share their paths more" needs: the view ratio, which more distinct paths
# held by their views lower, and the raw view distance, which fewer paths lower, both
# below the reference's beyond their intervals.
CONSISTENCY = ("view_ratio", "view_distance")
# The differences from the reference the report's second table shows.
VERSUS = ("accuracy", "unique_paths", *CONSISTENCY, "probe_accuracy", SETTLED)


def parse_grid(items: list[str]) -> dict[str, list[float]]:
    """``["w_con=0.1,1", ...]`` -> {"w_con": [0.1, 1.0], ...}; ValueError says what is
    wrong."""
    grid = {}
    for item in items:
        name, _, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if name not in GRID_SETTINGS:
            raise ValueError(f"--grid {item!r}: the grid varies {', '.join(GRID_SETTINGS)}")
        if name in grid:
            raise ValueError(f"--grid names {name} twice")
        try:
            grid[name] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--grid {item!r}: values are numbers, comma-separated") from None
        if not grid[name]:
            raise ValueError(f"--grid {item!r} gives no value")
    return grid


def setting_name(values: dict[str, float]) -> str:
    """A run-folder-safe name: {"w_con": 0.1, "inter_margin": 3} -> "wcon0p1-intermargin3"."""

    def number(v: float) -> str:
        text = f"{v:g}".replace("-", "m").replace(".", "p").replace("+", "")
        return text.lower()

    return "-".join(f"{k.replace('_', '')}{number(v)}" for k, v in values.items()) or "recipe"


def grid_settings(grid: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Every setting of the grid's product, by name."""
    names = list(grid)
    settings = {}
    for values in itertools.product(*(grid[n] for n in names)):
        setting = dict(zip(names, values, strict=True))
        settings[setting_name(setting)] = setting
    return settings


@dataclass(frozen=True)
class Job:
    name: str  # <setting or baseline>-s<seed>
    config: TrainConfig


def plan(base: TrainConfig, grid: dict, baselines: list[str], seeds: int) -> list[Job]:
    """Every run of the sweep, seeds outermost (a sweep stopped early covers every
    setting at the first seeds)."""
    for baseline in baselines:
        if baseline not in BASELINES:
            raise ValueError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)}")
    variants = {name: {**s, "w_aig": 0.0} for name, s in grid_settings(grid).items()}
    if set(variants) & set(baselines):
        raise ValueError("a setting's name equals a baseline's")
    variants.update({b: variant_settings(b) for b in baselines})
    out = Path(base.out)
    jobs = []
    for seed in range(seeds):
        for variant, settings in variants.items():
            name = f"{variant}-s{seed}"
            config = dataclasses.replace(
                base, **settings, seed=seed, out=str(out / name), checkpoint="last"
            )
            config.validate()
            jobs.append(Job(name, config))
    return jobs


def train_job(config: TrainConfig) -> str:
    """One run, resumed if it was interrupted: what a launcher executes."""
    from trainer.train import main as train

    run = Path(config.out)
    train(dataclasses.replace(config, resume=(run / "last.pt").exists()))
    return config.out


def launch(
    jobs: list[Job],
    launcher: str,
    cluster: str = "local",
    options: dict | None = None,
    parallel: int = 1,
):
    """Train the jobs not finished yet: here, one after the other or ``parallel`` at a
    time, or through submitit. Returns the names of the jobs that failed, with why."""
    todo = [job for job in jobs if not finished_run(Path(job.config.out), job.config.epochs)]
    log.info("%d of %d runs to train", len(todo), len(jobs))
    if launcher == "local" and parallel > 1:
        return _train_side_by_side(todo, parallel)
    if launcher == "local":
        for job in todo:
            log.info("training %s", job.config.out)
            train_job(job.config)
        return {}
    if launcher != "submitit":
        raise ValueError(f"--launcher is local or submitit, got {launcher!r}")
    import submitit

    folder = Path(jobs[0].config.out).parent / ".submitit" if jobs else Path(".submitit")
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    executor.update_parameters(**(options or {}))
    submitted = executor.map_array(train_job, [job.config for job in todo]) if todo else []
    return _failures(zip(todo, submitted, strict=True))


def _failures(handles) -> dict[str, str]:
    """Wait for each (job, handle with ``result()``); the jobs that failed, with why.
    A failed run is reported, the others still count."""
    failed = {}
    for job, handle in handles:
        try:
            handle.result()
        except Exception as error:
            failed[job.name] = f"{type(error).__name__}: {str(error).splitlines()[-1]}"
            log.warning("%s failed: %s", job.name, failed[job.name])
    return failed


def _train_side_by_side(todo: list[Job], parallel: int) -> dict[str, str]:
    """``parallel`` runs at a time in their own processes, each with an equal share of
    the cores (threads of side-by-side runs competing for the same cores slow every one
    of them many times over). Returns the runs that failed, with why."""
    threads = max(1, (os.cpu_count() or 1) // parallel)
    with ProcessPoolExecutor(
        parallel,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_use_threads,
        initargs=(threads,),
    ) as pool:
        running = {pool.submit(train_job, job.config): job for job in todo}
        return _failures((running[done], done) for done in as_completed(running))


def _use_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def build_sweep_report(out: Path, jobs: list[Job], grid: dict, baselines: list[str]) -> dict:
    """The report of whatever runs finished."""
    planned = {job.name.rsplit("-s", 1)[0] for job in jobs}
    found = collect_runs(out) if out.exists() else {}
    runs = {variant: by_seed for variant, by_seed in found.items() if variant in planned}
    finished = {f"{v}-s{s}" for v, by_seed in runs.items() for s in by_seed}
    missing = [job.name for job in jobs if job.name not in finished]
    reference = baselines[0] if baselines else None
    settings = {}
    for variant, by_seed in runs.items():
        entry = {name: spread([m.get(name) for m in by_seed.values()]) for name in SHOWN}
        if reference in runs and variant != reference:
            seeds = sorted(set(by_seed) & set(runs[reference]))
            entry["versus"] = {
                name: paired_difference(
                    [by_seed[s].get(name) for s in seeds],
                    [runs[reference][s].get(name) for s in seeds],
                )
                for name in SHOWN
            }
            entry["keeps_accuracy_and_improves"] = qualifies(entry["versus"])
        settings[variant] = entry
    return {
        "grid": grid,
        "baselines": baselines,
        "reference": reference,
        "accuracy_margin": ACCURACY_MARGIN,
        "runs_planned": len(jobs),
        "missing": missing,
        "settings": settings,
        "front": front(settings),
    }


def qualifies(versus: dict) -> bool:
    """Accuracy within the margin of the reference (the interval's lower end), view ratio
    and view distance lower and linear probe higher beyond their intervals."""
    accuracy, probe = (versus.get(n, {}).get("ci95") for n in ("accuracy", "probe_accuracy"))
    views = [versus.get(n, {}).get("ci95") for n in CONSISTENCY]
    return bool(
        accuracy and probe and all(views)
        and accuracy[0] >= -ACCURACY_MARGIN
        and all(view[1] < 0 for view in views)
        and probe[0] > 0
    )  # fmt: skip


def front(settings: dict) -> list[str]:
    """Settings no other beats or equals on every objective of ``FRONT`` (by their means)
    while beating it on one."""
    points = {
        name: [entry[n]["mean"] * sign for n, sign in FRONT.items()]
        for name, entry in settings.items()
        if all(entry[n]["mean"] is not None for n in FRONT)
    }

    def dominated(a):
        return any(
            all(o >= s for o, s in zip(other, a, strict=True)) and other != a
            for other in points.values()
        )

    return sorted(name for name, point in points.items() if not dominated(point))


def sweep_markdown(report: dict, command: str) -> str:
    reference = report["reference"]
    lines = [
        "# Sweep report",
        "",
        f"Command: `{command}`  ",
        f"{report['runs_planned']} runs planned; each run's final epoch. "
        + (
            f"Missing (not finished): {', '.join(report['missing'])}."
            if report["missing"]
            else "All finished."
        ),
        "",
        "## Mean ± standard deviation over seeds",
        "",
        "| setting | seeds | " + " | ".join(SHOWN) + " |",
        "|---|---|" + "---|" * len(SHOWN),
    ]
    for name, entry in sorted(report["settings"].items()):
        cells = [_mean_sd(entry[n]) for n in SHOWN]
        lines.append(f"| {name} | {entry['accuracy']['n']} | " + " | ".join(cells) + " |")
    if reference:
        lines += [
            "",
            f"## Difference from {reference}, paired by seed (95% interval)",
            "",
            f"A setting qualifies when accuracy's interval starts above -{ACCURACY_MARGIN:g}, "
            "the view ratio's and the view distance's lie below 0 and the linear probe's "
            "above 0.",
            "",
            "| setting | " + " | ".join(VERSUS) + " | qualifies |",
            "|---|" + "---|" * len(VERSUS) + "---|",
        ]
        for name, entry in sorted(report["settings"].items()):
            if "versus" not in entry:
                continue
            cells = [_interval(entry["versus"][n]) for n in VERSUS]
            verdict = "yes" if entry["keeps_accuracy_and_improves"] else "no"
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {verdict} |")
    lines += ["", f"Front (accuracy ↑, view ratio ↓, linear probe ↑): {', '.join(report['front'])}"]
    return "\n".join(lines) + "\n"


def _mean_sd(s: dict) -> str:
    if not s["n"]:
        return "-"
    return f"{s['mean']:.3f}" + (f" ± {s['sd']:.3f}" if s["sd"] is not None else "")


def _interval(d: dict) -> str:
    if d["mean"] is None:
        return "-"
    ci = d["ci95"]
    return f"{d['mean']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")


def run_sweep(
    base: TrainConfig,
    grid: dict,
    baselines: list[str],
    seeds: int,
    command: str,
    launcher: str = "local",
    cluster: str = "local",
    options: dict | None = None,
    parallel: int = 1,
) -> dict:
    """Train what is missing, then write and return the report."""
    jobs = plan(base, grid, baselines, seeds)
    failed = launch(jobs, launcher, cluster, options, parallel)
    out = Path(base.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"command": command, **build_sweep_report(out, jobs, grid, baselines)}
    report["failed"] = failed
    (out / "sweep.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "SWEEP.md").write_text(sweep_markdown(report, command))
    log.info("sweep report written to %s", out / "SWEEP.md")
    return report
