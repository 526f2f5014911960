"""Timing, argument and table helpers shared by the benchmarks."""

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from trainer.engine import Runtime


@dataclass(frozen=True)
class Timing:
    """Seconds per call over the repeats: the median, the fastest, and the spread.

    The median is the figure to compare. On a shared machine the fastest repeat is the
    one least disturbed by other work, and a large spread says the run was disturbed.
    """

    median: float
    fastest: float
    spread: float  # (slowest - fastest) / median


def time_it(
    candidates: Mapping[str, Callable[[], object]],
    repeats: int,
    warmup: int = 2,
    min_seconds: float = 0.05,
    synchronize: Callable[[], None] = lambda: None,
) -> dict[str, Timing]:
    """Time each candidate, interleaved, and return its seconds per call.

    The candidates take turns within every repeat (in a rotating order), so a load that
    comes and goes on a shared machine slows them alike and their ratio stays fair. A
    repeat runs a candidate enough times to last ``min_seconds``, so that sub-millisecond
    calls are not lost in the timer's resolution. Two warm-up calls by default: glibc
    raises its mmap threshold only once the first call's large buffers are freed, so the
    second call still page-faults its memory in (measured: 1.8 s of system time in a
    ResNet-110 training step) and only the third runs at its steady speed.

    ``synchronize`` waits for queued work (``torch.cuda.synchronize`` on a GPU), so that
    a timing ends when the device finishes, not when the last kernel is queued.
    """
    calls = {}
    for name, fn in candidates.items():
        for _ in range(max(warmup, 1)):
            synchronize()
            started = time.perf_counter()
            fn()
            synchronize()
            elapsed = time.perf_counter() - started
        calls[name] = max(1, math.ceil(min_seconds / max(elapsed, 1e-9)))

    names = list(candidates)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            fn, count = candidates[name], calls[name]
            synchronize()
            started = time.perf_counter()
            for _ in range(count):
                fn()
            synchronize()
            samples[name].append((time.perf_counter() - started) / count)

    timings = {}
    for name, values in samples.items():
        median = statistics.median(values)
        timings[name] = Timing(median, min(values), (max(values) - min(values)) / median)
    return timings


def use_all_cores() -> None:
    """Give PyTorch one thread per core this process may run on.

    An explicit ``OMP_NUM_THREADS`` wins: on a machine shared with other work, one
    thread per benchmark keeps a busy neighbour from stalling every parallel operator.
    """
    threads = os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(int(threads) if threads else len(os.sched_getaffinity(0)))


def cpu_summary() -> str:
    """Threads in use and the machine's load: another busy process skews every timing."""
    return (
        f"{torch.get_num_threads()} CPU threads, "
        f"1-minute load average {os.getloadavg()[0]:.2f} at start"
    )


def device_summary(device: torch.device) -> str:
    """What runs the benchmark: the GPU's name, or the CPU threads and load."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, PyTorch {torch.__version__}"
    return cpu_summary()


def synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def add_device_arguments(parser: argparse.ArgumentParser, model_options: bool = True) -> None:
    """``--device``, and the trainer's CUDA options where a network is run."""
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    if not model_options:
        parser.set_defaults(amp=False, channels_last=False)
        return
    parser.add_argument(
        "--amp", action="store_true", help="float16 autocast, as the trainer's --amp (CUDA only)"
    )
    parser.add_argument(
        "--channels-last", action="store_true", help="channels-last images and weights"
    )


def runtime_from(args: argparse.Namespace) -> Runtime:
    """The trainer's own ``Runtime`` (device, autocast, memory format) for these options."""
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for, but PyTorch sees no CUDA device")
    if args.amp and args.device != "cuda":
        raise SystemExit("--amp needs --device cuda (float16 autocast is a GPU feature here)")
    return Runtime(torch.device(args.device), amp=args.amp, channels_last=args.channels_last)


def runtime_summary(runtime: Runtime) -> str:
    options = [
        name for name, on in (("AMP", runtime.amp), ("channels-last", runtime.channels_last)) if on
    ]
    return device_summary(runtime.device) + (f", {' and '.join(options)}" if options else "")


def parse_args(
    description: str,
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The benchmark's own arguments plus ``--tiny``, a seconds-long run for the tests."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--tiny", action="store_true", help="run at a very small size, to check it works"
    )
    if add_arguments is not None:
        add_arguments(parser)
    return parser.parse_args(argv)


def pass_fail(met: bool) -> str:
    return "PASS" if met else "FAIL"


def print_timings(timings: Mapping[str, Timing]) -> None:
    for name, timing in timings.items():
        print(
            f"  {name}: median {timing.median * 1e3:.2f} ms/call, "
            f"fastest {timing.fastest * 1e3:.2f}, spread {100 * timing.spread:.0f}%"
        )


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a markdown table with padded columns."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
