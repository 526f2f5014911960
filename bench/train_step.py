"""One CoDiNet training step vs one plain ResNet step of the same depth and batch, CPU.

The CoDiNet step is the trainer's: R views per image, Gumbel-softmax gates mixing both
branches, ``codinet_loss`` (CE, consistency, diversity, cost), SGD. The plain step runs
the same layers without gates on the same number of samples, with CE and the same SGD.
"""

import argparse
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from bench.common import (
    cpu_summary,
    parse_args,
    pass_fail,
    print_table,
    print_timings,
    time_it,
    use_all_cores,
)
from bench.plain_resnet import PlainResNet
from trainer.config import TrainConfig
from trainer.engine import Runtime
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


def make_codinet_step(model, optimizer, images, labels, views: int, weights):
    def step():
        logits, gates = model(images)
        loss, _ = codinet_loss(logits, gates, labels, views, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def make_plain_step(model, optimizer, images, labels):
    def step():
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def profile_steps(steps: dict, calls: int = 3, rows: int = 15) -> None:
    """Print each step's operators, by their own CPU time over ``calls`` steps."""
    from torch.profiler import ProfilerActivity, profile

    for name, step in steps.items():
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                step()
        print(f"{name}: top operators over {calls} steps")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    if args.tiny:
        args.arch, args.batch, args.image_size, args.repeats = "codinet_resnet20", 8, 16, 1
    if args.batch % args.views:
        raise SystemExit(f"--batch {args.batch} is not a whole number of {args.views} views")
    use_all_cores()
    torch.manual_seed(0)

    # Every step trains on the same random batch; the recipes' lr of 0.1 makes that
    # diverge within a few steps. The learning rate does not change the step's work.
    config = TrainConfig(
        arch=args.arch, views=args.views, batch_size=args.batch // args.views, lr=LEARNING_RATE
    )
    runtime = Runtime(torch.device("cpu"))
    codinet = create_model(args.arch, num_classes=NUM_CLASSES).train()
    plain = PlainResNet(codinet).train()
    weights = loss_weights(config, codinet.num_gates)

    # Random images stand in for the views; the labels of an image's views agree.
    images = torch.randn(args.batch, 3, args.image_size, args.image_size)
    labels = torch.randint(0, NUM_CLASSES, (args.batch // args.views,))
    labels = labels.repeat_interleave(args.views)
    # Both get the trainer's own optimizer (SGD with momentum and weight decay).
    codinet_sgd = build_optimization(codinet, config, runtime)[0]
    plain_sgd = build_optimization(plain, config, runtime)[0]
    steps = {
        "codinet": make_codinet_step(codinet, codinet_sgd, images, labels, args.views, weights),
        "plain": make_plain_step(plain, plain_sgd, images, labels),
    }
    print(
        f"{args.arch} training step, {args.batch} samples ({args.batch // args.views} images "
        f"x {args.views} views for CoDiNet) at {args.image_size}x{args.image_size}, "
        f"SGD lr {config.lr} momentum {config.momentum}, {cpu_summary()}."
    )
    if args.profile:
        profile_steps(steps)
    timings = time_it(steps, repeats=args.repeats)
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
