"""Micro-batching: the inputs of concurrent requests go through the model together.

One forward pass over 32 images costs far less than 32 passes over one image, so when
many uploads arrive at once, the first request waits a moment for others to join,
runs the whole batch, and hands each request its rows. A lone request pays only the
short wait. Eval-mode BatchNorm and per-sample routing make each row's result
independent of its batch mates (up to floating-point summation order).
"""

import threading
import time
from dataclasses import dataclass, field

import torch


@dataclass
class _Pending:
    inputs: torch.Tensor
    done: threading.Event = field(default_factory=threading.Event)
    outputs: tuple | None = None
    error: BaseException | None = None


class MicroBatcher:
    def __init__(self, max_wait_s: float = 0.003, max_rows: int = 256):
        self.max_wait_s = max_wait_s
        self.max_rows = max_rows
        self._queues: dict[int, list[_Pending]] = {}
        self._lock = threading.Lock()

    def run(self, model: torch.nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``model(inputs)`` (each output's rows for these inputs), batched with others."""
        pending = _Pending(inputs)
        with self._lock:
            queue = self._queues.setdefault(id(model), [])
            queue.append(pending)
            leader = len(queue) == 1
        if leader:
            self._lead(model)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.outputs

    def _lead(self, model: torch.nn.Module) -> None:
        deadline = time.perf_counter() + self.max_wait_s
        while time.perf_counter() < deadline:
            with self._lock:
                if sum(len(p.inputs) for p in self._queues[id(model)]) >= self.max_rows:
                    break
            time.sleep(self.max_wait_s / 4)
        with self._lock:
            batch = self._queues.pop(id(model))
        try:
            with torch.no_grad():
                outputs = model(torch.cat([p.inputs for p in batch]))
            start = 0
            for p in batch:
                rows = slice(start, start + len(p.inputs))
                p.outputs = tuple(o[rows] for o in outputs)
                start = rows.stop
        except BaseException as error:  # every waiting request must learn of it
            for p in batch:
                p.error = error
        finally:
            for p in batch:
                p.done.set()
