"""Memory a checkpoint's load takes per byte of the file: the peak while the server's
model store reads it and builds its network, and what stays once it is loaded.

For each network, in a fresh process (so that the process's peak is the load's own):
write an untrained digits checkpoint, note the resident memory, load it through
``backend.store.ModelStore`` as the server does, then read the peak (``VmHWM``) and the
resident memory (``VmRSS``). docs/serving.md states the result beside
``CODINET_MAX_CHECKPOINT_BYTES``, so that the bound can be set for a server's memory.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.common import cpu_summary, parse_args, print_table

ARCHS = ("codinet_resnet50", "codinet_resnet101")
MB = 1e6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", action="append", help=f"networks to load (default {ARCHS})")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a run folder to load, in-process


def memory_kib(field: str) -> int:
    """A ``/proc/self/status`` figure of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def load_in_this_process(run: Path) -> dict:
    """Load ``run``'s checkpoint as the server does; the memory before, at peak, after."""
    import torch

    from backend.store import ModelStore

    torch.set_num_threads(1)
    store = ModelStore(run.parent, Path("data"))
    before = memory_kib("VmRSS")
    store.get(run.name)
    return {"before": before, "peak": memory_kib("VmHWM"), "after": memory_kib("VmRSS")}


def measure(arch: str, folder: Path) -> dict:
    from tests.untrained_models import digits_checkpoint

    run = folder / arch
    digits_checkpoint(run / "checkpoint.pt", 0, arch)
    size = (run / "checkpoint.pt").stat().st_size
    child = [sys.executable, "-m", "bench.load_memory", "--child", str(run)]
    kib = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
    return {
        "arch": arch,
        "bytes": size,
        "peak_per_byte": (kib["peak"] - kib["before"]) * 1024 / size,
        "kept_per_byte": (kib["after"] - kib["before"]) * 1024 / size,
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    if args.child:
        print(json.dumps(load_in_this_process(Path(args.child))))
        return []
    archs = args.arch or (("codinet_resnet20",) if args.tiny else ARCHS)
    with tempfile.TemporaryDirectory() as folder:
        results = [measure(arch, Path(folder)) for arch in archs]
    print(cpu_summary())
    print_table(
        ["network", "checkpoint", "peak per byte", "kept per byte"],
        [
            [
                r["arch"],
                f"{r['bytes'] / MB:.0f} MB",
                f"{r['peak_per_byte']:.2f}",
                f"{r['kept_per_byte']:.2f}",
            ]
            for r in results
        ],
    )
    return results


if __name__ == "__main__":
    main()
