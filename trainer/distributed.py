"""torchrun (DDP) helpers: the process's place in the job and gathering results."""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE_PROCESS = DistInfo()


def init_distributed(use_cuda: bool) -> DistInfo:
    """Join the process group when started by torchrun; a plain run is a world of one."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return SINGLE_PROCESS
    info = DistInfo(
        int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    )
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return info


def shutdown(info: DistInfo) -> None:
    if info.enabled:
        dist.destroy_process_group()


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not info.enabled:
        return [obj]
    gathered = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_buffers(model: torch.nn.Module, info: DistInfo) -> None:
    """Give every rank rank 0's buffers (BatchNorm's running statistics). DDP sends them
    at the start of each training forward, so after the last step each rank holds
    statistics updated by its own batch; an evaluation sharded over ranks must use the
    one model that rank 0 saves."""
    if not info.enabled:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def mean_across(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    if not info.enabled:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return dict(zip(values, (tensor / info.world_size).tolist(), strict=True))
