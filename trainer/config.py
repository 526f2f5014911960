"""Training configuration: a typed dataclass, an optional YAML file, the command line.

Precedence: dataclass defaults < ``--config FILE.yaml`` < command-line flags. Flags
are generated from the dataclass fields, so every hyperparameter has one.
"""

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from trainer.models import list_models


@dataclass
class TrainConfig:
    # data
    dataset: str = "digits"
    data_dir: str = "data"
    download: bool = False
    image_size: int | None = None  # None: the dataset's usual size
    views: int = 2  # augmented views per image (R), adjacent in the batch
    workers: int = 2
    # model
    arch: str = "codinet_resnet20"
    gate_type: str = "aig"  # aig: Linear-BN-ReLU-Linear | linear: the public code's Linear-Linear
    gate_hidden: int = 16
    gate_open_prob: float = 0.85
    gumbel_tau: float = 1.0
    hard_gumbel: bool = False
    # optimisation
    epochs: int = 30
    batch_size: int = 128  # images per step and process; the batch holds batch_size * views samples
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    schedule: str = "cosine"  # cosine | step
    milestones: list[int] = field(default_factory=lambda: [150, 225])
    gamma: float = 0.1
    # CoDiNet losses
    w_con: float = 0.1
    w_div: float = 0.1
    w_cost: float = 0.1
    intra_margin: float = 0.25
    inter_margin: float = 0.5
    target_blocks: float | None = None  # None: 60% of the gated blocks
    # ConvNet-AIG's target-rate loss (every gate pulled to rate target_blocks / gates)
    w_aig: float = 0.0
    # evaluation
    eval_batch_size: int = 256
    eval_views: int = 4  # augmented views per image that measure the view distance
    view_images_per_class: int = 32  # test images per class whose views are routed
    # run
    out: str = "runs/digits-demo"
    resume: bool = False
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # float16 autocast on CUDA; ignored on the CPU
    channels_last: bool = True  # on CUDA; ignored on the CPU
    compile: bool = False  # torch.compile the training forward and backward; eval stays eager
    # checkpoint.pt: best (the cost target met within a block first, then test accuracy)
    # or last (the final epoch: what an ablation compares, free of selection on the test set)
    checkpoint: str = "best"
    overwrite: bool = False  # train an existing run (--out) again from the start

    def validate(self) -> None:
        if self.arch not in list_models():
            raise ValueError(
                f"unknown architecture {self.arch!r}; known: {', '.join(list_models())}"
            )
        if self.schedule not in ("cosine", "step"):
            raise ValueError(f"schedule must be 'cosine' or 'step', got {self.schedule!r}")
        if self.checkpoint not in ("best", "last"):
            raise ValueError(f"checkpoint must be 'best' or 'last', got {self.checkpoint!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.resume and self.overwrite:
            raise ValueError("--resume continues a run and --overwrite restarts it: pick one")
        if self.eval_views < 2:
            raise ValueError(f"eval_views must be at least 2, got {self.eval_views}")
        for name in ("views", "epochs", "batch_size", "eval_batch_size", "view_images_per_class"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def _field_type(tp):
    """(python type, is_list) of a field, unwrapping ``X | None``."""
    if isinstance(tp, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is list:
        return typing.get_args(tp)[0], True
    return tp, False


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field; unset flags stay absent (SUPPRESS)."""
    hints = typing.get_type_hints(TrainConfig)
    parser.add_argument("--config", help="YAML file of settings; flags override it")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        tp, is_list = _field_type(hints[f.name])
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        if tp is bool:
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"(default: {default})",
            )
        else:
            parser.add_argument(
                flag,
                type=tp,
                nargs="+" if is_list else None,
                default=argparse.SUPPRESS,
                help=f"(default: {default})",
            )


def load_yaml(path: str | Path) -> dict:
    try:
        with open(path) as f:
            values = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except yaml.YAMLError as error:
        raise ValueError(f"config file {path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"config file {path} must hold a mapping of settings")
    return values


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    values = dict(vars(args))
    values.pop("command", None)
    config_file = values.pop("config", None)
    merged = load_yaml(config_file) if config_file else {}
    merged.update(values)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}")
    config = TrainConfig(**merged)
    config.validate()
    return config


def save_config(config: TrainConfig, path: str | Path) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(dataclasses.asdict(config), f, sort_keys=False)
