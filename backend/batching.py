"""Dynamic batching: the inputs of concurrent requests go through the model together.

One forward pass over 32 images costs far less than 32 passes over one image. A single
inference thread takes every request queued for a model, prepares each one's inputs,
runs them as one batch and hands each request its rows; while it computes, new requests
queue up for the next batch. A lone request waits for nothing. Eval-mode BatchNorm and
per-sample routing make each row's result independent of its batch mates (up to
floating-point summation order).

The inputs are prepared (an upload decoded and transformed) on the inference thread
too, not in the requests' own threads. PyTorch releases the GIL around every operator,
and under load each re-acquisition queued behind dozens of request threads doing the
same Python-heavy preparation: a forward pass that takes 4 ms alone took 59 ms, which
capped the server at about 270 uploads a second (bench/RESULTS.md, section 5).
"""

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from trainer.engine import Runtime


@dataclass
class _Pending:
    model: torch.nn.Module
    prepare: Callable[[], torch.Tensor]
    force_path: torch.Tensor | None  # (G,) booleans every row of the request takes
    inputs: torch.Tensor | None = None
    done: threading.Event = field(default_factory=threading.Event)
    outputs: tuple | None = None
    error: BaseException | None = None


class MicroBatcher:
    def __init__(self, runtime: Runtime, max_rows: int = 256):
        self.runtime = runtime  # where models live, and how a batch of a size runs
        self.max_rows = max_rows
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._held: list[_Pending] = []  # taken from the queue for a later batch
        threading.Thread(target=self._serve, name="inference", daemon=True).start()

    def run(
        self,
        model: torch.nn.Module,
        prepare: Callable[[], torch.Tensor],
        force_path: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """``model(prepare())``: each output's rows for these inputs, batched with others,
        as CPU tensors.

        ``prepare`` runs on the inference thread; what it raises is raised here. With
        ``force_path`` (G booleans) every row takes that path; such requests are batched
        with other forced ones, each row keeping its own path.
        """
        pending = _Pending(model, prepare, force_path)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.outputs

    def _next_batch(self) -> list[_Pending]:
        """The oldest request and every queued one for the same model, up to max_rows,
        with their inputs prepared; a request whose preparation fails is answered."""
        waiting = self._held
        if not waiting:
            waiting.append(self._queue.get())
        while True:
            try:
                waiting.append(self._queue.get_nowait())
            except queue.Empty:
                break
        batch, rows, self._held = [], 0, []
        for pending in waiting:
            if pending.inputs is None and not self._prepare(pending):
                continue
            if not batch or (
                pending.model is batch[0].model
                and (pending.force_path is None) == (batch[0].force_path is None)
                and rows + len(pending.inputs) <= self.max_rows
            ):
                batch.append(pending)
                rows += len(pending.inputs)
            else:
                self._held.append(pending)
        return batch

    @staticmethod
    def _prepare(pending: _Pending) -> bool:
        try:
            pending.inputs = pending.prepare()
            return True
        except Exception as error:  # the request's own bad input: answer it alone
            pending.error = error
            pending.done.set()
            return False

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                continue
            try:
                with torch.inference_mode():
                    inputs = torch.cat([p.inputs for p in batch])
                    outputs = self.runtime.evaluate(batch[0].model, inputs, _forced(batch))
                    outputs = [o.cpu() for o in outputs]
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


def _forced(batch: list[_Pending]) -> torch.Tensor | None:
    """The model's ``force_path`` argument for a batch: each request's path on its rows."""
    if batch[0].force_path is None:
        return None
    return torch.cat([p.force_path.expand(len(p.inputs), -1) for p in batch])
