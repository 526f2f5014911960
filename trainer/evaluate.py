"""Evaluate a saved checkpoint on the test split of the data it was trained on."""

import dataclasses

import torch

from trainer.checkpoint import epochs_trained, load_checkpoint, model_from_checkpoint
from trainer.config import TrainConfig
from trainer.data import load_dataset
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
    runtime = make_runtime(config)
    torch.manual_seed(config.seed)  # the augmented views behind "consistency" repeat

    model = model_from_checkpoint(checkpoint).to(runtime.device)
    macs = mac_table(model, prep["image_size"], prep["channels"])
    metrics = evaluate(model, bundle, config, runtime, DistInfo(), macs)
    return {"epoch": epochs_trained(checkpoint), **metrics}
