"""The server and its models: health, the model list, ablation groups, training logs."""

from backend.groups import group_summaries
from backend.schemas import Health, ModelInfo, SeedGroup, TrainingLog
from backend.services.shared import Shared
from backend.store import LoadedModel
from trainer.checkpoint import epochs_trained
from trainer.measures import upgrade_metrics
from trainer.training_log import loss_weights, read_training_log


class Models:
    def __init__(self, shared: Shared):
        self.shared = shared

    def health(self) -> Health:
        shared = self.shared
        models, errors = shared.store.load_all()
        runtime = shared.context.runtime
        return Health(
            status="ok",
            models=len(models),
            unloadable=errors,
            loading=shared.store.loading(),
            runs_dir=str(shared.store.runs_dir),
            warmup=shared.warmup,
            device=str(runtime.device),
            execution=runtime.execution,
            execution_by_batch_size={
                str(size): runtime.mode_for(size) for size in (1, shared.settings.batch_size)
            },
            neighbors=shared.settings.neighbors,
        )

    def all(self) -> list[ModelInfo]:
        """Every loadable model's description (the runs directory rescanned)."""
        models, _ = self.shared.store.load_all()
        return [describe(m) for m in models]

    def get(self, model_id: str) -> ModelInfo:
        return describe(self.shared.store.get(model_id))

    def groups(self) -> list[SeedGroup]:
        """Summaries over seeds of the ablations among the runs."""
        models, _ = self.shared.store.load_all()
        return [SeedGroup(**group) for group in group_summaries(models)]

    def training(self, model_id: str) -> TrainingLog:
        """The run's metrics per epoch (its ``metrics.jsonl``), epochs counted from 1."""
        loaded = self.shared.store.get(model_id)
        rows, skipped = read_training_log(loaded.path.parent / "metrics.jsonl")
        return TrainingLog(
            model_id=model_id,
            checkpoint_epoch=epochs_trained(loaded.meta),
            epochs=rows,
            loss_weights=loss_weights(loaded.meta.get("config", {})),
            skipped_lines=skipped,
        )


def describe(loaded: LoadedModel) -> ModelInfo:
    """What a client is told about a model."""
    meta, prep = loaded.meta, loaded.preprocessing
    return ModelInfo(
        id=loaded.id,
        arch=meta["arch"],
        model_args=meta["model_args"],
        family=loaded.model.family,
        conditional=loaded.model.conditional,
        origin=meta.get("origin"),
        dataset=prep["dataset"],
        num_classes=len(loaded.class_names),
        class_names=loaded.class_names,
        num_gates=loaded.num_gates,
        stage_blocks=loaded.model.stage_blocks,
        image_size=prep["image_size"],
        channels=prep["channels"],
        full_macs=loaded.macs.full,
        # An imported network's epochs are those of the codebase that trained it.
        epoch=None if "origin" in meta else epochs_trained(meta),
        metrics=upgrade_metrics(meta.get("metrics", {})),
        content_hash=loaded.content_hash,
        group=loaded.group,
        variant=loaded.variant,
        seed=loaded.seed,
    )
