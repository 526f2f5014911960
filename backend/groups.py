"""Seed groups: the runs of one ablation or sweep (``runs/<group>/<variant>-s<seed>/``),
summarised over seeds with the trainer's own statistics (trainer.ablation.summarise),
with the front of its variants (trainer.sweep.front)."""

from backend.store import LoadedModel
from trainer.ablation import summarise, verdict
from trainer.measures import upgrade_metrics
from trainer.sweep import front


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
        settings_front = front(summary["variants"])
        result.append(
            {"group": name, **summary, "models": group["models"], "front": settings_front}
        )
    return result
