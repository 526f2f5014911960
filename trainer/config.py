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


def setting(default=dataclasses.MISSING, *, help: str, factory=dataclasses.MISSING):
    """A TrainConfig field with its help text: what it does and its unit, said once for
    the command line (``--help``) and for readers of this file."""
    return field(default=default, default_factory=factory, metadata={"help": help})


@dataclass
class TrainConfig:
    # data
    dataset: str = setting(
        "digits", help="digits (bundled), cifar10, cifar100, svhn or imagefolder"
    )
    data_dir: str = setting("data", help="folder holding the datasets (torchvision's layout)")
    download: bool = setting(False, help="fetch CIFAR or SVHN into --data-dir if missing")
    image_size: int | None = setting(
        None, help="side of the square input, in pixels (None: the dataset's usual size)"
    )
    views: int = setting(2, help="augmented views per image (R), adjacent in the batch")
    workers: int = setting(2, help="data-loading worker processes (0: load in the main one)")
    # model
    arch: str = setting("codinet_resnet20", help=f"architecture: {', '.join(list_models())}")
    gate_type: str = setting(
        "aig", help="aig: Linear-BN-ReLU-Linear | linear: the public code's Linear-Linear"
    )
    gate_hidden: int = setting(16, help="width of each gate's hidden layer, in units")
    gate_open_prob: float = setting(
        0.85, help="probability that a gate executes its block at the start of training"
    )
    gumbel_tau: float = setting(1.0, help="temperature of the gates' Gumbel-softmax in training")
    hard_gumbel: bool = setting(
        False, help="straight-through hard Gumbel-softmax: 0/1 gates in the forward pass"
    )
    # optimisation
    epochs: int = setting(30, help="passes over the training split")
    batch_size: int = setting(
        128, help="images per step and process; the batch holds batch_size * views samples"
    )
    lr: float = setting(0.1, help="SGD learning rate at the start of the schedule")
    momentum: float = setting(0.9, help="SGD momentum factor (0: plain SGD)")
    weight_decay: float = setting(5e-4, help="L2 penalty on the weights, per step")
    nesterov: bool = setting(False, help="use Nesterov momentum in SGD")
    schedule: str = setting(
        "cosine", help="learning-rate schedule: cosine (to 0 at the last epoch) | step"
    )
    milestones: list[int] = setting(
        factory=lambda: [150, 225], help="epochs at which the step schedule multiplies by gamma"
    )
    gamma: float = setting(0.1, help="factor of the step schedule at each milestone")
    # CoDiNet losses
    w_con: float = setting(0.1, help="weight of the consistency loss (views of one image)")
    w_div: float = setting(0.1, help="weight of the diversity loss (different images)")
    w_cost: float = setting(0.1, help="weight of the cost loss (executed blocks vs target)")
    intra_margin: float = setting(
        0.25, help="consistency margin: distance of a view's path to its image's centre"
    )
    inter_margin: float = setting(
        0.5, help="diversity margin: distance between two images' path centres"
    )
    target_blocks: float | None = setting(
        None, help="executed blocks per image the cost loss aims at (None: 60% of the gates)"
    )
    w_aig: float = setting(
        0.0,
        help="weight of ConvNet-AIG's target-rate loss (each gate pulled to the rate "
        "target_blocks / gates); 0: off",
    )
    # evaluation
    eval_batch_size: int = setting(256, help="images per evaluation batch")
    eval_views: int = setting(
        4, help="augmented views per image that measure the view distance (at least 2)"
    )
    view_images_per_class: int = setting(32, help="test images per class whose views are routed")
    formation: bool = setting(
        True,
        help="record each epoch's path and prediction of the probe images in the run "
        "folder (formation.bin), to watch the routing space form",
    )
    formation_images: int = setting(
        2000,
        help="probe images whose paths are recorded each epoch: the whole test split up "
        "to this many, beyond it a seeded sample stratified by class",
    )
    # run
    out: str = setting("runs/digits-demo", help="run folder: checkpoint, metrics, config")
    resume: bool = setting(False, help="continue the run in --out from its last.pt")
    seed: int = setting(0, help="seed of the weights, the data order and the augmentation")
    device: str = setting("auto", help="auto (CUDA when present) | cpu | cuda")
    amp: bool = setting(True, help="float16 autocast on CUDA; ignored on the CPU")
    channels_last: bool = setting(True, help="channels-last memory on CUDA; ignored on the CPU")
    compile: bool = setting(
        False, help="torch.compile the training forward and backward; eval stays eager"
    )
    checkpoint: str = setting(
        "best",
        help="what checkpoint.pt holds: best (the cost target met within a block first, "
        "then test accuracy) | last (the final epoch: what an ablation compares, free of "
        "selection on the test set)",
    )
    overwrite: bool = setting(False, help="train an existing run (--out) again from the start")

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
        for name in (
            "views",
            "epochs",
            "batch_size",
            "eval_batch_size",
            "view_images_per_class",
            "formation_images",
        ):
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
        # argparse formats help with %: a literal one is doubled.
        text = f"{f.metadata['help']} (default: {default})".replace("%", "%%")
        if tp is bool:
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=text,
            )
        else:
            parser.add_argument(
                flag,
                type=tp,
                nargs="+" if is_list else None,
                default=argparse.SUPPRESS,
                help=text,
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
