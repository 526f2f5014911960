"""Dynamic batching: the inputs of concurrent requests go through the model together.

One forward pass over 32 images costs far less than 32 passes over one image. A single
inference thread takes every input queued for a model, runs them as one batch and
hands each request its rows; while it computes, new requests queue up for the next
batch. A lone request waits for nothing. Eval-mode BatchNorm and per-sample routing
make each row's result independent of its batch mates (up to floating-point summation
order).
"""

import queue
import threading
from dataclasses import dataclass, field

import torch


@dataclass
class _Pending:
    model: torch.nn.Module
    inputs: torch.Tensor
    done: threading.Event = field(default_factory=threading.Event)
    outputs: tuple | None = None
    error: BaseException | None = None


class MicroBatcher:
    def __init__(self, max_rows: int = 256):
        self.max_rows = max_rows
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._held: list[_Pending] = []  # taken from the queue for a later batch
        threading.Thread(target=self._serve, name="inference", daemon=True).start()

    def run(self, model: torch.nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``model(inputs)``: each output's rows for these inputs, batched with others."""
        pending = _Pending(model, inputs)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.outputs

    def _next_batch(self) -> list[_Pending]:
        """The oldest request and every queued one for the same model, up to max_rows."""
        first = self._held.pop(0) if self._held else self._queue.get()
        waiting = self._held
        while True:
            try:
                waiting.append(self._queue.get_nowait())
            except queue.Empty:
                break
        batch, rows, self._held = [first], len(first.inputs), []
        for pending in waiting:
            if pending.model is first.model and rows + len(pending.inputs) <= self.max_rows:
                batch.append(pending)
                rows += len(pending.inputs)
            else:
                self._held.append(pending)
        return batch

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                with torch.inference_mode():
                    outputs = batch[0].model(torch.cat([p.inputs for p in batch]))
                start = 0
                for p in batch:
                    rows = slice(start, start + len(p.inputs))
                    p.outputs = tuple(o[rows].clone() for o in outputs)
                    start = rows.stop
            except Exception as error:  # every waiting request must learn of it
                for p in batch:
                    p.error = error
            finally:
                for p in batch:
                    p.done.set()
