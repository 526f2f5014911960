"""Evaluate a saved checkpoint on the test split of the data it was trained on."""

import dataclasses

import torch

from trainer.checkpoint import epochs_trained, load_checkpoint, model_from_checkpoint
from trainer.config import TrainConfig
from trainer.data import DataBundle, load_dataset
from trainer.distributed import DistInfo
from trainer.flops import mac_table
from trainer.train import evaluate, make_runtime


def evaluate_checkpoint(path, data_dir: str | None = None, device: str = "auto") -> dict:
    checkpoint = load_checkpoint(path)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in checkpoint["config"].items() if k in fields})
    config = dataclasses.replace(config, device=device, data_dir=data_dir or config.data_dir)
    prep = checkpoint["preprocessing"]
    bundle = load_dataset(prep["dataset"], config.data_dir, prep["image_size"])
    metrics = evaluate_model(model_from_checkpoint(checkpoint), bundle, config)
    return {"epoch": epochs_trained(checkpoint), **metrics}


def evaluate_model(model, bundle: DataBundle, config: TrainConfig) -> dict:
    """A routed network's metrics on ``bundle``'s test split, preprocessed as
    ``bundle.preprocessing`` says, measured as training measures each epoch."""
    runtime = make_runtime(config)
    torch.manual_seed(config.seed)  # the augmented views behind the view distance repeat
    model = model.to(runtime.device).eval()
    prep = bundle.preprocessing
    macs = mac_table(model, prep["image_size"], prep["channels"])
    return evaluate(model, bundle, config, runtime, DistInfo(), macs)[0]
