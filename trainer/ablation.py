"""Ablations over seeds: train each variant of a recipe with each seed, then report.

``python -m trainer ablate --config recipes/X.yaml --variants codinet,no-codi,aig
--seeds 3 --out runs/NAME`` trains ``runs/NAME/<variant>-s<seed>/`` (ordinary runs,
which the explorer lists as ``NAME.<variant>-s<seed>``), then writes
``runs/NAME/report.json`` and ``runs/NAME/REPORT.md``: each variant's mean and spread
over seeds, and CoDiNet's difference from each baseline, paired by seed, with a 95%
confidence interval. An interrupted ablation continues where it stopped.
"""

import dataclasses
import json
import logging
import math
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

from scipy import stats

from trainer.checkpoint import load_checkpoint
from trainer.config import TrainConfig
from trainer.formation import FormationError, read_formation, settled_epoch
from trainer.measures import MEASURES
from trainer.training_log import read_training_log

log = logging.getLogger(__name__)

# ConvNet-AIG's default weight of its target-rate loss (its ``--lossfact``).
AIG_WEIGHT = 2.0
REFERENCE = "codinet"
RUN_NAME = re.compile(r"^(?P<variant>[a-z0-9-]+)-s(?P<seed>\d+)$")
# From the paths recorded every epoch (trainer.formation), when a run recorded them.
SETTLED = "settled_90_epoch"
REPORTED = ("accuracy", "mean_executed_blocks", "mean_macs", "unique_paths", *MEASURES, SETTLED)
# Differences without a better direction: said as higher or lower (later or earlier).
NEUTRAL = {
    "mean_executed_blocks": ("higher", "lower"),
    "mean_macs": ("higher", "lower"),
    "unique_paths": ("higher", "lower"),
    SETTLED: ("settles later", "settles earlier"),
}


def parse_run_name(name: str) -> tuple[str, int] | None:
    """(variant, seed) of a run folder named ``<variant>-s<seed>``, else None."""
    found = RUN_NAME.match(name)
    return (found["variant"], int(found["seed"])) if found else None


def variant_settings(variant: str, aig_weight: float = AIG_WEIGHT) -> dict:
    """How a variant changes the recipe: every variant keeps its backbone, data,
    schedule and cost target, so their routing spaces are compared at equal cost."""
    if variant == "codinet":
        return {"w_aig": 0.0}
    if variant == "no-codi":
        return {"w_con": 0.0, "w_div": 0.0, "w_aig": 0.0}
    if variant == "aig":
        return {"w_con": 0.0, "w_div": 0.0, "w_cost": 0.0, "w_aig": aig_weight}
    raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")


VARIANTS = {
    "codinet": "the recipe: CoDiNet's consistency, diversity and cost terms",
    "no-codi": "the recipe without the consistency and diversity terms (cost term only)",
    "aig": "ConvNet-AIG's per-gate target-rate loss instead of CoDiNet's terms and cost term",
}


def run_ablation(
    base: TrainConfig,
    variants: list[str],
    seeds: int,
    command: str,
    aig_weight: float = AIG_WEIGHT,
) -> dict:
    """Train what is missing, then write and return the report."""
    from trainer.train import main as train

    out = Path(base.out)
    for variant in variants:
        variant_settings(variant)  # an unknown variant fails before any training
    for seed in range(seeds):  # seeds outermost: an early stop still covers every variant
        for variant in variants:
            run = out / f"{variant}-s{seed}"
            if finished_run(run, base.epochs):
                log.info("%s is trained already", run)
                continue
            settings = {**variant_settings(variant, aig_weight), "seed": seed, "out": str(run)}
            # Compare final epochs: picking each run's epoch by test accuracy would bias it.
            settings["checkpoint"] = "last"
            settings["resume"] = (run / "last.pt").exists()
            log.info("training %s (%s)", run, VARIANTS[variant])
            train(dataclasses.replace(base, **settings))
    report = build_report(collect_runs(out), base, command)
    write_report(report, out)
    return report


def finished_run(run: Path, epochs: int) -> bool:
    """Whether ``run`` trained all ``epochs`` (a run stopped early resumes instead)."""
    rows = _metrics_rows(run)
    return (run / "checkpoint.pt").exists() and bool(rows) and rows[-1]["epoch"] >= epochs


def _metrics_rows(run: Path) -> list[dict]:
    """The run's epochs (counted from 1), a line the run did not finish writing skipped."""
    return read_training_log(run / "metrics.jsonl")[0]


def collect_runs(out: Path) -> dict[str, dict[int, dict]]:
    """variant -> seed -> the final epoch's metrics (``last.pt``), with the run's
    training time: whichever epoch checkpoint.pt kept, the report compares final ones."""
    runs: dict[str, dict[int, dict]] = {}
    for run in sorted(p for p in out.iterdir() if (p / "last.pt").is_file()):
        identity = parse_run_name(run.name)
        if identity is None:
            continue
        variant, seed = identity
        checkpoint = load_checkpoint(run / "last.pt")
        seconds = sum(row.get("seconds", 0) for row in _metrics_rows(run))
        metrics = {**checkpoint["metrics"], "epoch": checkpoint["epoch"], "seconds": seconds}
        metrics[SETTLED] = _settled_epoch(run)
        runs.setdefault(variant, {})[seed] = metrics
    return runs


def _settled_epoch(run: Path) -> int | None:
    """The epoch from which 90% of the recorded images keep their path (None when the
    run recorded none, or its recording cannot be read)."""
    try:
        formation = read_formation(run)
    except FormationError as error:
        log.warning("%s: paths recorded per epoch unreadable (%s)", run, error)
        return None
    return None if formation is None else settled_epoch(formation)


def summarise(runs: dict[str, dict[int, dict]], reference: str = REFERENCE) -> dict:
    """Mean and spread over seeds per variant, and the reference's paired differences.

    ``runs`` maps variant -> seed -> metrics. A difference is reference minus baseline
    over the seeds both have, with a t-based 95% interval and a paired t-test.
    """
    variants = {
        variant: {name: spread([m.get(name) for m in by_seed.values()]) for name in REPORTED}
        for variant, by_seed in runs.items()
    }
    differences = {}
    if reference in runs:
        for variant, by_seed in runs.items():
            if variant == reference:
                continue
            seeds = sorted(set(by_seed) & set(runs[reference]))
            differences[variant] = {
                name: paired_difference(
                    [runs[reference][s].get(name) for s in seeds],
                    [by_seed[s].get(name) for s in seeds],
                )
                for name in REPORTED
            }
    return {"reference": reference, "variants": variants, "differences": differences}


def spread(values: list) -> dict:
    present = [float(v) for v in values if v is not None]
    n = len(present)
    mean = sum(present) / n if n else None
    sd = math.sqrt(sum((v - mean) ** 2 for v in present) / (n - 1)) if n > 1 else None
    return {"n": n, "mean": mean, "sd": sd, "values": present}


def paired_difference(reference: list, baseline: list) -> dict:
    pairs = [(a, b) for a, b in zip(reference, baseline, strict=True) if None not in (a, b)]
    n = len(pairs)
    result = {"n": n, "mean": None, "ci95": None, "p_value": None}
    if n == 0:
        return result
    d = [a - b for a, b in pairs]
    result["mean"] = sum(d) / n
    if n < 2:
        return result
    sd = math.sqrt(sum((x - result["mean"]) ** 2 for x in d) / (n - 1))
    if sd == 0:
        result["ci95"] = [result["mean"], result["mean"]]
        result["p_value"] = 1.0 if result["mean"] == 0 else 0.0
        return result
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    result["ci95"] = [result["mean"] - half, result["mean"] + half]
    result["p_value"] = float(2 * stats.t.sf(abs(result["mean"]) / (sd / math.sqrt(n)), n - 1))
    return result


def verdict(name: str, difference: dict) -> str:
    """What a difference says, in words: only an interval that excludes 0 counts."""
    ci = difference.get("ci95")
    if not ci:
        return "too few seeds"
    if ci[0] <= 0 <= ci[1]:
        return "no detectable difference"
    better = MEASURES[name].better if name in MEASURES else "higher"
    if name in NEUTRAL:
        return NEUTRAL[name][0] if ci[0] > 0 else NEUTRAL[name][1]
    improves = (ci[0] > 0) == (better == "higher")
    return "CoDiNet better" if improves else "CoDiNet worse"


def build_report(runs: dict, base: TrainConfig, command: str) -> dict:
    return {
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.platform()}",
        "config": dataclasses.asdict(base),
        "variant_descriptions": {v: VARIANTS[v] for v in runs if v in VARIANTS},
        "runs": {v: {str(s): m for s, m in sorted(by.items())} for v, by in runs.items()},
        **summarise(runs),
    }


def write_report(report: dict, out: Path) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "REPORT.md").write_text(report_markdown(report))
    log.info("report written to %s", out / "REPORT.md")


def _fmt(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report_markdown(report: dict) -> str:
    variants = list(report["variants"])
    seeds = max((s["n"] for v in report["variants"].values() for s in v.values()), default=0)
    lines = [
        "# Ablation report",
        "",
        f"Command: `{report['command']}`  ",
        f"Created {report['created']} on {report['machine']}.  ",
        f"Up to {seeds} seeds per variant; each run's final epoch.",
        "",
        *(f"- `{v}`: {d}" for v, d in report["variant_descriptions"].items()),
        "",
        "## Mean ± standard deviation over seeds",
        "",
        "| measure | better | " + " | ".join(variants) + " |",
        "|---|---|" + "---|" * len(variants),
    ]
    for name in REPORTED:
        better = MEASURES[name].better if name in MEASURES else ""
        cells = []
        for v in variants:
            s = report["variants"][v][name]
            cells.append(f"{_fmt(s['mean'])} ± {_fmt(s['sd'])}" if s["n"] else "-")
        lines.append(f"| {name} | {better} | " + " | ".join(cells) + " |")
    seconds = {v: [m["seconds"] for m in report["runs"][v].values()] for v in variants}
    lines.append(
        "| training seconds per run | | "
        + " | ".join(_fmt(sum(s) / len(s), 0) for s in seconds.values())
        + " |"
    )
    reference = report["reference"]
    for baseline, differences in report["differences"].items():
        lines += [
            "",
            f"## {reference} − {baseline}, paired by seed",
            "",
            "| measure | difference | 95% interval | p (paired t) | reading |",
            "|---|---|---|---|---|",
        ]
        for name in REPORTED:
            d = differences[name]
            ci = d["ci95"]
            interval = f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "-"
            lines.append(
                f"| {name} | {_fmt(d['mean'])} | {interval} | {_fmt(d['p_value'])} "
                f"| {verdict(name, d)} |"
            )
    return "\n".join(lines) + "\n"
