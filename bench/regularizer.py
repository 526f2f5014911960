"""The vectorised path regulariser vs the public code's Python loops, forward and backward."""

import argparse
from collections.abc import Callable, Sequence

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
from tests.loop_regularizer import loop_regularizer
from trainer.losses import path_regularizer

MAX_VALUE_DIFF = 1e-6
MIN_SPEEDUP = 100.0
# Random softmax gates put images about 2.7 apart (2G = 108 entries); an inter margin of
# 3.0 keeps most pairs inside it, so the diversity term and its gradient are not zero.
INTRA_MARGIN, INTER_MARGIN = 0.25, 3.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=256, help="samples, views included")
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--gates", type=int, default=54)
    parser.add_argument("--repeats", type=int, default=5)
    add_device_arguments(parser, model_options=False)


Regularizer = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def forward_backward(regularizer: Regularizer, logits: torch.Tensor, views: int):
    """Both terms and the gradient of their sum with respect to the gate logits."""
    gates = logits.softmax(dim=2)
    consistency, diversity = regularizer(gates, views, INTRA_MARGIN, INTER_MARGIN)
    (grad,) = torch.autograd.grad(consistency + diversity, logits)
    return consistency.detach(), diversity.detach(), grad


def max_value_diff(a: tuple, b: tuple) -> float:
    """Largest gap between the (consistency, diversity) values of two results."""
    return max((x.double() - y.double()).abs().item() for x, y in zip(a[:2], b[:2], strict=True))


def value_row(measure: str, diff: float) -> list[str]:
    target = f"<= {MAX_VALUE_DIFF:.0e}"
    return [measure, f"{diff:.1e}", target, pass_fail(diff <= MAX_VALUE_DIFF)]


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    if args.tiny:
        args.batch, args.gates, args.repeats = 8, 9, 1
    runtime = runtime_from(args)
    device = runtime.device
    use_all_cores()
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(args.batch, args.gates, 2, generator=generator).to(device)
    logits.requires_grad_(True)
    print(
        f"B={args.batch} samples, R={args.views} views, G={args.gates} gates, float32, "
        f"margins {INTRA_MARGIN}/{INTER_MARGIN}, forward + backward, "
        f"{runtime_summary(runtime)}."
    )

    fast = forward_backward(path_regularizer, logits, args.views)
    slow = forward_backward(loop_regularizer, logits, args.views)
    # The loops in float64 give the exact values, to tell whose rounding a gap comes from.
    exact = forward_backward(
        loop_regularizer, logits.detach().double().requires_grad_(True), args.views
    )
    print(f"values: vectorised {fast[0]:.7f}, {fast[1]:.7f}; loops {slow[0]:.7f}, {slow[1]:.7f}")
    timings = time_it(
        {
            "vectorised": lambda: forward_backward(path_regularizer, logits, args.views),
            "loops": lambda: forward_backward(loop_regularizer, logits, args.views),
        },
        repeats=args.repeats,
        synchronize=synchronizer(device),
    )
    print_timings(timings)

    result = {
        "value_diff": max_value_diff(fast, slow),
        "value_error": max_value_diff(fast, exact),
        "loop_value_error": max_value_diff(slow, exact),
        "grad_diff": (fast[2] - slow[2]).abs().max().item(),
        "speedup": timings["loops"].median / timings["vectorised"].median,
    }
    print_table(
        ["measure (values: consistency and diversity)", "value", "target", "result"],
        [
            # The target compares with the loops' exact values: in float32 the loops add
            # their terms one at a time, and their own rounding error exceeds 1e-6.
            value_row("max |value diff| vectorised vs loops in float64", result["value_error"]),
            ["max |value diff| vectorised vs loops, both float32", f"{result['value_diff']:.1e}"]
            + ["(reported)", "-"],
            [
                "max |value error| float32 loops vs float64 loops",
                f"{result['loop_value_error']:.1e}",
            ]
            + ["(reported)", "-"],
            ["max |gradient diff| vectorised vs loops", f"{result['grad_diff']:.1e}"]
            + ["(reported)", "-"],
            [
                "speedup, loops / vectorised",
                f"{result['speedup']:.0f}x",
                f">= {MIN_SPEEDUP:.0f}x",
                pass_fail(result["speedup"] >= MIN_SPEEDUP),
            ],
        ],
    )
    return result


if __name__ == "__main__":
    main()
