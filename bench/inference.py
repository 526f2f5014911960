"""Conditional vs masked execution of a CoDiNet in eval mode, on the CPU or a GPU.

For each executed fraction f the paths are forced (``model(x, force_path=...)``; the
gates still run) so that both modes take exactly the same paths; the conditional mode
should then cost about what the executed MACs say, while the masked mode always
computes the whole network.
"""

import argparse
from collections.abc import Sequence

import torch

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
from bench.forced_paths import per_sample_paths, uniform_paths
from trainer.engine import Runtime
from trainer.flops import mac_table
from trainer.models import create_model
from trainer.models.codinet import EXECUTE

FRACTIONS = (1.0, 0.75, 0.5, 0.25)
PATH_KINDS = {"uniform": uniform_paths, "per-sample": per_sample_paths}
# Conditional execution may cost at most this much more than its share of the MACs.
SLACK = 0.10
FULL_NETWORK_LIMIT = 1.05


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default="codinet_resnet110")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    add_device_arguments(parser)


def target_for(fraction: float, macs_ratio: float) -> float:
    return FULL_NETWORK_LIMIT if fraction == 1.0 else macs_ratio + SLACK


def calibrate_batchnorm(model, images: torch.Tensor) -> None:
    """Set every BatchNorm's running statistics from ``images``, as training would.

    Fresh BatchNorms normalise nothing in eval mode, so activations grow block after
    block; through 54 blocks they overflow float16, which a trained model's do not.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batches
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()


def run_mode(
    model, images: torch.Tensor, paths: torch.Tensor, execution: str, runtime: Runtime
) -> tuple[torch.Tensor, torch.Tensor]:
    model.execution = execution
    with torch.inference_mode(), runtime.autocast():
        return model(images, force_path=paths)


def measure(model, images, paths, macs, repeats: int, runtime: Runtime) -> dict:
    """Time both modes on one forced set of paths and check they agree."""
    paths = paths.to(images.device)
    conditional_logits, gates = run_mode(model, images, paths, "conditional", runtime)
    masked_logits, _ = run_mode(model, images, paths, "masked", runtime)
    if not torch.equal(gates[:, :, EXECUTE].bool(), paths):
        raise RuntimeError("the forced paths did not route the batch as asked")
    timings = time_it(
        {
            "conditional": lambda: run_mode(model, images, paths, "conditional", runtime),
            "masked": lambda: run_mode(model, images, paths, "masked", runtime),
        },
        repeats=repeats,
        synchronize=synchronizer(runtime.device),
    )
    print_timings(timings)
    return {
        "macs_ratio": macs.per_sample(paths).double().mean().item() / macs.full,
        "time_ratio": timings["conditional"].median / timings["masked"].median,
        # Relative to the logits' scale: on a GPU, TF32 convolutions (PyTorch's default)
        # round differently for a sub-batch than for the whole batch.
        "logit_diff": (conditional_logits.float() - masked_logits.float()).abs().max().item()
        / masked_logits.float().abs().max().item(),
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    if args.tiny:
        args.arch, args.batch, args.image_size, args.repeats = "codinet_resnet20", 8, 16, 1
    runtime = runtime_from(args)
    use_all_cores()
    torch.manual_seed(0)
    model = create_model(args.arch, num_classes=10).eval()
    macs = mac_table(model, args.image_size)
    model.to(runtime.device)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    images = runtime.to_device(torch.randn(args.batch, 3, args.image_size, args.image_size))
    calibrate_batchnorm(model, images)
    print(
        f"{args.arch}, eval, batch {args.batch} at {args.image_size}x{args.image_size}, "
        f"{runtime_summary(runtime)}, {model.num_gates} gated blocks. Paths forced "
        "(model(x, force_path=...); the gates still run). uniform: every sample "
        "executes the same evenly spaced blocks; per-sample: each sample executes its own "
        "random blocks, the same number."
    )

    results = []
    for kind, make_paths in PATH_KINDS.items():
        for fraction in FRACTIONS:
            executed = max(1, round(fraction * model.num_gates))
            if kind != "uniform" and executed == model.num_gates:
                continue  # every sample runs every block: the uniform paths again
            paths = make_paths(args.batch, model.num_gates, executed)
            print(f"{kind}, f={fraction}:")
            measured = measure(model, images, paths, macs, args.repeats, runtime)
            target = target_for(fraction, measured["macs_ratio"])
            results.append(
                {
                    "paths": kind,
                    "fraction": fraction,
                    "executed": executed,
                    "target": target,
                    "passed": measured["time_ratio"] <= target,
                    **measured,
                }
            )

    print_table(
        [
            "paths",
            "f",
            "blocks run",
            "MACs ratio",
            "time cond/masked",
            "target",
            "result",
            "max |logit diff| / max |logit|",
        ],
        [
            [
                r["paths"],
                r["fraction"],
                f"{r['executed']}/{model.num_gates}",
                f"{r['macs_ratio']:.3f}",
                f"{r['time_ratio']:.3f}",
                f"<= {r['target']:.3f}",
                pass_fail(r["passed"]),
                f"{r['logit_diff']:.1e}",
            ]
            for r in results
        ],
    )
    return results


if __name__ == "__main__":
    main()
