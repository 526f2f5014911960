"""One CoDiNet training step vs one plain ResNet step of the same depth and batch.

The CoDiNet step is the trainer's: R views per image, Gumbel-softmax gates mixing both
branches, ``codinet_loss`` (CE, consistency, diversity, cost), SGD. The plain step runs
the same layers without gates on the same number of samples, with CE and the same SGD.
On a GPU both steps take the trainer's AMP (autocast and loss scaling) and channels-last
options alike.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from bench.common import (
    add_device_arguments,
    parse_args,
    pass_fail,
    print_table,
    print_timings,
    runtime_from,
    runtime_summary,
    synchronizer,
    time_it,
    use_all_cores,
)
from bench.plain_resnet import PlainResNet
from trainer.config import TrainConfig
from trainer.engine import Runtime, optimizer_step
from trainer.losses import codinet_loss
from trainer.models import create_model
from trainer.train import build_optimization, loss_weights

MAX_OVERHEAD = 0.15
NUM_CLASSES = 10
LEARNING_RATE = 1e-3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default="codinet_resnet110")
    parser.add_argument("--batch", type=int, default=256, help="samples per step, views included")
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--profile", action="store_true", help="also print where each step spends its time"
    )
    parser.add_argument(
        "--compile",
        nargs="?",
        const="default",
        choices=["default", "reduce-overhead", "max-autotune"],
        help="torch.compile both models (as the trainer's --compile) in this mode",
    )
    add_device_arguments(parser)


def make_step(compute_loss, optimization, runtime: Runtime):
    """One SGD step on ``compute_loss()``, with the trainer's autocast and loss scaling."""
    optimizer, scaler = optimization

    def step():
        with runtime.autocast():
            loss = compute_loss()
        optimizer_step(loss, optimizer, scaler)
        return loss

    return step


@dataclass
class StepProfile:
    """One step's profile, per call: CPU self time by operator, and on a GPU the kernel
    launches and the time the GPU spent running kernels."""

    seconds: dict[str, float] = field(default_factory=dict)
    launches: float = 0.0
    gpu_seconds: float = 0.0


def profile_steps(steps: dict, calls: int, device: torch.device) -> dict[str, StepProfile]:
    """Profile each step ``calls`` times, in alternation, and average per call."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    # Kernels and memory are set up in the first two calls (see ``time_it``); not profiled.
    for step in steps.values():
        step()
        step()
    profiles = {name: StepProfile() for name in steps}
    for _ in range(calls):
        for name, step in steps.items():
            with profile(activities=activities) as prof:
                step()
                synchronizer(device)()
            found = profiles[name]
            for event in prof.key_averages():
                seconds = found.seconds.get(event.key, 0.0) + event.self_cpu_time_total / 1e6
                found.seconds[event.key] = seconds
                if event.key.startswith("cudaLaunchKernel"):
                    found.launches += event.count
                found.gpu_seconds += event.self_device_time_total / 1e6
    for found in profiles.values():
        found.seconds = {op: t / calls for op, t in found.seconds.items()}
        found.launches /= calls
        found.gpu_seconds /= calls
    return profiles


def print_overhead_by_operator(
    steps: dict, device: torch.device, calls: int = 3, rows: int = 12
) -> None:
    """Where the CoDiNet step spends more time than the plain one, operator by operator."""
    profiles = profile_steps(steps, calls, device)
    codinet, plain = profiles["codinet"].seconds, profiles["plain"].seconds

    def extra(op: str) -> float:
        return codinet.get(op, 0.0) - plain.get(op, 0.0)

    def totals_row(label: str, ours: float, theirs: float, unit: str = "ms") -> list[str]:
        scale, digits = (1e3, 1) if unit == "ms" else (1, 0)
        return [label, f"{scale * ours:.{digits}f}", f"{scale * theirs:.{digits}f}"] + [
            f"{scale * (ours - theirs):+.{digits}f}"
        ]

    ops = sorted(set(codinet) | set(plain), key=extra, reverse=True)
    print(f"profile, {calls} steps each: self time per step, operators CoDiNet spends more on")
    rows_out = [
        [op, f"{1e3 * codinet.get(op, 0):.1f}", f"{1e3 * plain.get(op, 0):.1f}"]
        + [f"{1e3 * extra(op):+.1f}"]
        for op in ops[:rows]
    ]
    rows_out.append(totals_row("all operators (CPU)", sum(codinet.values()), sum(plain.values())))
    if device.type == "cuda":
        ours, theirs = profiles["codinet"], profiles["plain"]
        rows_out.append(totals_row("GPU busy (kernels)", ours.gpu_seconds, theirs.gpu_seconds))
        rows_out.append(totals_row("kernel launches", ours.launches, theirs.launches, "count"))
    print_table(["operator", "codinet ms", "plain ms", "extra ms"], rows_out)


def build_steps(
    arch: str, batch: int, views: int, image_size: int, runtime: Runtime, compile_mode=None
) -> dict:
    """The two training steps on one random batch: ``{"codinet": fn, "plain": fn}``."""
    # Every step trains on the same random batch; the recipes' lr of 0.1 makes that
    # diverge within a few steps. The learning rate does not change the step's work.
    config = TrainConfig(arch=arch, views=views, batch_size=batch // views, lr=LEARNING_RATE)
    codinet = create_model(arch, num_classes=NUM_CLASSES).train()
    plain = PlainResNet(codinet).train()
    memory_format = torch.channels_last if runtime.channels_last else torch.contiguous_format
    for model in (codinet, plain):
        model.to(runtime.device, memory_format=memory_format)
    weights = loss_weights(config, codinet.num_gates)
    run_codinet, run_plain = codinet, plain
    if compile_mode is not None:
        run_codinet = torch.compile(codinet, mode=compile_mode)
        run_plain = torch.compile(plain, mode=compile_mode)

    # Random images stand in for the views; the labels of an image's views agree.
    images = runtime.to_device(torch.randn(batch, 3, image_size, image_size))
    labels = torch.randint(0, NUM_CLASSES, (batch // views,)).repeat_interleave(views)
    labels = labels.to(runtime.device)

    def codinet_loss_value():
        logits, gates = run_codinet(images)
        return codinet_loss(logits, gates, labels, views, weights)[0]

    def plain_loss_value():
        return F.cross_entropy(run_plain(images), labels)

    # Both get the trainer's own optimizer (SGD with momentum and weight decay) and
    # its loss scaler (a no-op without AMP).
    def optimization(model):
        optimizer, _, scaler = build_optimization(model, config, runtime)
        return optimizer, scaler

    return {
        "codinet": make_step(codinet_loss_value, optimization(codinet), runtime),
        "plain": make_step(plain_loss_value, optimization(plain), runtime),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    if args.tiny:
        args.arch, args.batch, args.image_size, args.repeats = "codinet_resnet20", 8, 16, 1
    if args.batch % args.views:
        raise SystemExit(f"--batch {args.batch} is not a whole number of {args.views} views")
    runtime = runtime_from(args)
    use_all_cores()
    torch.manual_seed(0)

    steps = build_steps(args.arch, args.batch, args.views, args.image_size, runtime, args.compile)
    print(
        f"{args.arch} training step, {args.batch} samples ({args.batch // args.views} images "
        f"x {args.views} views for CoDiNet) at {args.image_size}x{args.image_size}, "
        f"the trainer's SGD at lr {LEARNING_RATE}, {runtime_summary(runtime)}"
        + (f", torch.compile mode {args.compile}." if args.compile else ".")
    )
    if args.profile:
        print_overhead_by_operator(steps, runtime.device)
    timings = time_it(steps, repeats=args.repeats, synchronize=synchronizer(runtime.device))
    print_timings(timings)

    # A diverging run (inf or NaN) would time other arithmetic; show that it did not.
    losses = {name: step().item() for name, step in steps.items()}
    print("loss after the timed steps: " + ", ".join(f"{k} {v:.3f}" for k, v in losses.items()))
    overhead = timings["codinet"].median / timings["plain"].median - 1
    print_table(
        ["measure", "value", "target", "result"],
        [
            ["CoDiNet step", f"{timings['codinet'].median * 1e3:.1f} ms", "(reported)", "-"],
            ["plain ResNet step", f"{timings['plain'].median * 1e3:.1f} ms", "(reported)", "-"],
            [
                "overhead, codinet / plain - 1",
                f"{100 * overhead:.1f}%",
                f"<= {100 * MAX_OVERHEAD:.0f}%",
                pass_fail(overhead <= MAX_OVERHEAD),
            ],
        ],
    )
    return {"overhead": overhead, "timings": timings, "losses": losses}


if __name__ == "__main__":
    main()
