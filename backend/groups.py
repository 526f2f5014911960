"""Seed groups: the runs of one ablation (``runs/<group>/<variant>-s<seed>/``), summarised
over seeds with the trainer's own statistics (trainer.ablation.summarise)."""

from backend.store import LoadedModel
from trainer.ablation import RUN_NAME, summarise, verdict
from trainer.measures import upgrade_metrics


def run_identity(group: str | None, run_name: str) -> tuple[str | None, int | None]:
    """(variant, seed) of a run inside a group folder, or (None, None) outside one."""
    found = RUN_NAME.match(run_name) if group else None
    return (found["variant"], int(found["seed"])) if found else (None, None)


def group_summaries(models: list[LoadedModel]) -> list[dict]:
    """Every group with at least one run: each variant's mean and spread over seeds and
    the reference's paired differences, from the metrics the trainer saved."""
    groups: dict[str, dict] = {}
    for model in models:
        if model.group is None or model.variant is None:
            continue
        group = groups.setdefault(model.group, {"runs": {}, "models": {}})
        metrics = upgrade_metrics(model.meta.get("metrics", {}))
        group["runs"].setdefault(model.variant, {})[model.seed] = metrics
        group["models"].setdefault(model.variant, {})[str(model.seed)] = model.id
    result = []
    for name, group in sorted(groups.items()):
        summary = summarise(group["runs"])
        for differences in summary["differences"].values():
            for measure, difference in differences.items():
                difference["reading"] = verdict(measure, difference)
        result.append({"group": name, **summary, "models": group["models"]})
    return result
