"""Train a CoDiNet model: read top to bottom, as torchvision's reference scripts."""

import bisect
import dataclasses
import json
import logging
import math
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from trainer.checkpoint import CheckpointError, build_checkpoint, load_checkpoint, save_atomic
from trainer.config import TrainConfig, save_config
from trainer.data import DataBundle, ViewsDataset, build_transform, labels_of, load_dataset
from trainer.distributed import DistInfo, broadcast_buffers, init_distributed, shutdown
from trainer.engine import (
    RoutingResult,
    Runtime,
    ViewProtocol,
    route_dataset,
    route_views,
    train_one_epoch,
)
from trainer.flops import MacTable, mac_table
from trainer.formation import FormationRecorder
from trainer.losses import LossWeights
from trainer.metrics import epoch_metrics
from trainer.models import create_model

log = logging.getLogger(__name__)

# A folder holding any of these holds a run (finished or interrupted).
RUN_FILES = ("checkpoint.pt", "last.pt", "metrics.jsonl")


def make_runtime(config: TrainConfig) -> Runtime:
    if config.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but PyTorch sees no CUDA device")
    use_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if not use_cuda:
        return Runtime(torch.device("cpu"))
    return Runtime(torch.device("cuda"), amp=config.amp, channels_last=config.channels_last)


def build_model(config: TrainConfig, bundle: DataBundle) -> torch.nn.Module:
    return create_model(
        config.arch,
        num_classes=len(bundle.class_names),
        in_channels=bundle.preprocessing["channels"],
        gate_type=config.gate_type,
        gate_hidden=config.gate_hidden,
        gate_open_prob=config.gate_open_prob,
        gumbel_tau=config.gumbel_tau,
        hard_gumbel=config.hard_gumbel,
    )


def loss_weights(config: TrainConfig, num_gates: int) -> LossWeights:
    target = config.target_blocks if config.target_blocks is not None else 0.6 * num_gates
    return LossWeights(
        config.w_con,
        config.w_div,
        config.w_cost,
        config.intra_margin,
        config.inter_margin,
        target,
        target_rate=config.w_aig,
    )


def build_optimization(model, config: TrainConfig, runtime: Runtime):
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )
    # The factor is a pure function of the epoch and the current config, so a run
    # resumed with more epochs follows the schedule of its new length.
    if config.schedule == "cosine":

        def factor(epoch):
            return 0.5 * (1 + math.cos(math.pi * min(epoch, config.epochs) / config.epochs))
    else:

        def factor(epoch):
            return config.gamma ** bisect.bisect_right(config.milestones, epoch)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    scaler = torch.amp.GradScaler("cuda", enabled=runtime.amp)
    return optimizer, scheduler, scaler


def train_loader(bundle, config, dist_info: DistInfo, epoch: int) -> DataLoader:
    dataset = ViewsDataset(
        bundle.train, build_transform(bundle.preprocessing, train=True), config.views
    )
    # Seeded per epoch so that a resumed run draws the same batches and worker seeds.
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    if dist_info.enabled:
        sampler = DistributedSampler(
            dataset, dist_info.world_size, dist_info.rank, shuffle=True, seed=config.seed
        )
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(dataset, generator=generator)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.workers,
        drop_last=True,
        generator=generator,
        pin_memory=torch.cuda.is_available(),
    )


def evaluate(
    model,
    bundle: DataBundle,
    config: TrainConfig,
    runtime: Runtime,
    dist_info: DistInfo,
    macs: MacTable,
) -> tuple[dict, RoutingResult]:
    """Accuracy, cost and the routing measures on the test split, the view distance on
    augmented views of some of its images; and the test split's routing itself."""
    clean = ViewsDataset(bundle.test, build_transform(bundle.preprocessing, train=False), 1)
    common = dict(
        runtime=runtime,
        batch_size=config.eval_batch_size,
        workers=config.workers,
        dist_info=dist_info,
    )
    protocol = ViewProtocol(config.eval_views, config.view_images_per_class)
    _, view_paths = route_views(model, bundle.test, bundle.preprocessing, protocol, **common)
    routed = route_dataset(model, clean, description="eval", **common)
    return epoch_metrics(routed, view_paths, macs), routed


def selection_score(metrics: dict, weights: LossWeights, use_cost: bool) -> list:
    """Best checkpoint: meeting the cost target (within one block) first, then accuracy."""
    meets = abs(metrics["mean_executed_blocks"] - weights.target_blocks) <= 1.0 or not use_cost
    return [float(meets), metrics["accuracy"]]


def main(config: TrainConfig) -> dict:
    config.validate()  # called from code too (trainer ablate, tests), not only the CLI
    runtime = make_runtime(config)
    dist_info = init_distributed(runtime.device.type == "cuda")
    if runtime.device.type == "cuda":
        runtime = dataclasses.replace(runtime, device=torch.device("cuda", dist_info.local_rank))
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(config.seed + dist_info.rank)
    out = Path(config.out)
    _check_out(out, config)

    bundle = load_dataset(config.dataset, config.data_dir, config.image_size, config.download)
    model = build_model(config, bundle).to(runtime.device)
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    _check_trainable(config, bundle, model.num_gates, dist_info.world_size)
    macs = mac_table(model, bundle.preprocessing["image_size"], bundle.preprocessing["channels"])
    weights = loss_weights(config, model.num_gates)
    optimizer, scheduler, scaler = build_optimization(model, config, runtime)

    start_epoch, best_score = 0, None
    if config.resume:
        start_epoch, best_score = _resume(out / "last.pt", model, optimizer, scheduler, scaler)
    recorder = None
    if dist_info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if config.overwrite:
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
        save_config(config, out / "config.yaml")
        _truncate_metrics(out / "metrics.jsonl", start_epoch)
        recorder = _formation_recorder(config, bundle, model.num_gates, out, start_epoch)
        log.info(
            "%s on %s: %d gates, %.2f M MACs full, target %.1f blocks, %s",
            config.arch,
            config.dataset,
            model.num_gates,
            macs.full / 1e6,
            weights.target_blocks,
            runtime.device,
        )

    trained = DistributedDataParallel(model) if dist_info.enabled else model
    if config.compile:
        # Training has no data-dependent shapes (both branches are blended), so it
        # compiles whole; eval's conditional execution does not, and runs ``model``.
        trained = torch.compile(trained)
    best = None
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        loader = train_loader(bundle, config, dist_info, epoch)
        train_stats = train_one_epoch(
            trained,
            loader,
            optimizer,
            scaler,
            weights,
            config.views,
            runtime,
            dist_info,
            f"epoch {epoch + 1}/{config.epochs}",
        )
        scheduler.step()
        broadcast_buffers(model, dist_info)
        metrics, routed = evaluate(model, bundle, config, runtime, dist_info, macs)
        if not dist_info.is_main:
            continue
        if recorder is not None:
            # Before metrics.jsonl: a kill between the two leaves an epoch recorded that
            # --resume cuts back, never one logged but missing here.
            recorder.record(epoch, routed.paths[:, 0], routed.predictions)
        record = {
            "epoch": epoch,
            "lr": optimizer.param_groups[0]["lr"],
            **train_stats,
            **metrics,
            "seconds": round(time.perf_counter() - started, 2),
        }
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        log.info(_epoch_line(record, config.epochs, model.num_gates))

        checkpoint = build_checkpoint(
            model,
            bundle.class_names,
            bundle.preprocessing,
            metrics,
            dataclasses.asdict(config),
            epoch,
        )
        score = selection_score(metrics, weights, weights.controls_cost())
        if config.checkpoint == "last" or best_score is None or score > best_score:
            best_score, best = score, metrics
            save_atomic(checkpoint, out / "checkpoint.pt")
        save_atomic(
            {**checkpoint, **_training_state(optimizer, scheduler, scaler, best_score)},
            out / "last.pt",
        )
    shutdown(dist_info)
    if best is None and dist_info.is_main and (out / "checkpoint.pt").exists():
        best = load_checkpoint(out / "checkpoint.pt")["metrics"]
    return best or {}


def _formation_recorder(
    config: TrainConfig, bundle: DataBundle, num_gates: int, out: Path, start_epoch: int
) -> FormationRecorder | None:
    if not config.formation:
        return None
    return FormationRecorder.start(
        out,
        labels_of(bundle.test),
        num_gates,
        len(bundle.class_names),
        config.formation_images,
        config.seed,
        start_epoch,
    )


def _check_out(out: Path, config: TrainConfig) -> None:
    """Refuse to train into a folder that holds a run unless told what to do with it:
    the first epoch would otherwise empty its metrics and replace its checkpoint."""
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found and not (config.resume or config.overwrite):
        raise ValueError(
            f"{out} already holds a run ({', '.join(found)}); pass --resume to continue it, "
            "--overwrite to train it again from the start, or another --out"
        )


def _check_trainable(config: TrainConfig, bundle: DataBundle, gates: int, processes: int) -> None:
    """Refuse settings that would train nothing, before anything is written."""
    if config.target_blocks is not None and not 0 <= config.target_blocks <= gates:
        raise ValueError(
            f"--target-blocks {config.target_blocks} is not within the {gates} gated blocks "
            f"of {config.arch}"
        )
    # The loader drops incomplete batches: a batch larger than a process's share of the
    # training split would make no step at all, and save an untrained checkpoint.
    share = len(bundle.train) // processes
    if config.batch_size > share:
        per_process = f" ({share} per process)" if processes > 1 else ""
        raise ValueError(
            f"--batch-size {config.batch_size} is larger than the {len(bundle.train)} "
            f"training images{per_process}; lower it"
        )


def _epoch_line(r: dict, epochs: int, gates: int) -> str:
    def ratio(name):
        return "-" if r[name] is None else f"{r[name]:.3f}"

    return (
        f"epoch {r['epoch'] + 1}/{epochs}  loss {r['loss']:.3f}  "
        f"acc {100 * r['accuracy']:.2f}%  blocks {r['mean_executed_blocks']:.2f}/{gates}  "
        f"MACs {r['mean_macs'] / 1e6:.2f}M  paths {r['unique_paths']}  "
        f"view ratio {ratio('view_ratio')}  same-class ratio {ratio('same_class_ratio')}  "
        f"agreement {ratio('neighbor_agreement')}  ({r['seconds']:.1f}s)"
    )


def _training_state(optimizer, scheduler, scaler, best_score) -> dict:
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "best_score": best_score,
    }
    if torch.cuda.is_available():
        state["rng_cuda"] = torch.cuda.get_rng_state_all()
    return state


def _resume(path: Path, model, optimizer, scheduler, scaler) -> tuple[int, list | None]:
    state = load_checkpoint(path)
    if "optimizer" not in state:
        raise CheckpointError(f"{path} has no training state to resume from")
    model.load_state_dict(state["state_dict"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng_cpu"])
    if "rng_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    log.info("resuming from %s after epoch %d", path, state["epoch"] + 1)
    return state["epoch"] + 1, state["best_score"]


def _truncate_metrics(path: Path, start_epoch: int) -> None:
    """Keep only the epochs before ``start_epoch``: a resumed run rewrites the rest."""
    if not path.exists():
        return
    lines = [
        line
        for line in path.read_text().splitlines()
        if line.strip() and json.loads(line)["epoch"] < start_epoch
    ]
    path.write_text("".join(line + "\n" for line in lines))
