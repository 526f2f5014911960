"""``python -m backend extract``: route a model's split ahead of serving it.

The routing of a split is what makes a first map wait (seconds on digits, most of an
hour for 50,000 ImageNet images on a CPU). This command computes it where the compute
is, on a GPU or several (``torchrun --nproc_per_node=8 -m backend extract ...``, any
number of machines: NCCL on GPUs, gloo on CPUs), and writes exactly the cache file the
server reads, so the server serves the split without routing it again. Each process
routes its shard of the split; rank 0 writes the file atomically.
"""

import argparse
import sys

from pydantic import ValidationError

from backend import keys
from backend.cache import DiskCache
from backend.context import Context
from backend.extraction import extract_paths
from backend.settings import Settings, add_setting_arguments, setting_overrides, settings_error
from backend.store import SPLITS, ModelStore
from trainer.checkpoint import CheckpointError
from trainer.data import DatasetError
from trainer.distributed import init_distributed, shutdown
from trainer.execution import DeviceUnavailable
from trainer.models.registry import import_model_modules


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend extract", description=__doc__)
    parser.add_argument("model", help="the model's id, as the server lists it (a run's name)")
    parser.add_argument(
        "--split", choices=SPLITS, default="test", help="which split to route (default: test)"
    )
    add_setting_arguments(parser)  # as the server's: folders, device (one GPU per process)
    parser.add_argument(
        "--batch-size", type=int, default=256, help="images per forward pass (default: 256)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    try:
        settings = Settings(**setting_overrides(args), warmup=False)
        use_cuda = settings.runtime().device.type == "cuda"
        import_model_modules(settings.model_modules)
    except (ValidationError, DeviceUnavailable, ImportError) as error:
        print(f"error: {settings_error(error)}", file=sys.stderr)
        return 2
    dist_info = init_distributed(use_cuda)
    try:
        runtime = settings.runtime(dist_info.local_rank)
        store = ModelStore(
            settings.runs_dir, settings.data_dir, runtime.device, settings.max_checkpoint_bytes
        )
        loaded = store.get(args.model)
        cache = DiskCache(settings.resolved_cache_dir, settings.cache_max_bytes)
        context = Context(store, cache, runtime, args.batch_size)
        name = keys.paths(loaded.content_hash, args.split)
        table = extract_paths(context, loaded, args.split, name, dist_info=dist_info)
    except (LookupError, CheckpointError, DatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        shutdown(dist_info)
    if dist_info.is_main and not (settings.resolved_cache_dir / name).is_file():
        print(f"error: could not write {settings.resolved_cache_dir / name}", file=sys.stderr)
        return 1
    if dist_info.is_main:
        print(
            f"{args.model}/{args.split}: {len(table.labels)} images routed by "
            f"{dist_info.world_size} process(es) on {runtime.device.type}, "
            f"{len(set(map(bytes, table.paths)))} distinct paths; "
            f"wrote {settings.resolved_cache_dir / name}"
        )
    return 0
