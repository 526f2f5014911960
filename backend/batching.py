"""Dynamic batching: the inputs of concurrent requests go through the model together.

One forward pass over 32 images costs far less than 32 passes over one image. A model's
inference thread takes every request queued for it, prepares each one's inputs,
runs them as one batch and hands each request its rows; while it computes, new requests
queue up for the next batch. A lone request waits for nothing. Eval-mode BatchNorm and
per-sample routing make each row's result independent of its batch mates (up to
floating-point summation order).

The inputs are prepared (an upload decoded and transformed) on the inference thread
too, not in the requests' own threads. PyTorch releases the GIL around every operator,
and under load each re-acquisition queued behind dozens of request threads doing the
same Python-heavy preparation, so the forward passes, not the cores, capped the
server's uploads a second (measured in bench/HISTORY.md, section 5).

Each model has its own queue and inference thread (a lane), so a long batch of one
model (a large network, an upload with 32 views) never holds up another model's
requests: their forward passes share the cores instead of waiting in one line. A lane
ends once its model has had no request for ``idle_s``, so a model replaced on disk is
not kept alive by it, and at once when the batcher closes with the server.
"""

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, Protocol, TypeVar

import torch

from trainer.engine import Runtime


class Prepared(Protocol):
    """What a request's preparation gives: its rows of the batch, and whatever else it
    found out on the way (an upload's warnings) for the request to read back."""

    inputs: torch.Tensor


@dataclass
class Inputs:
    """A preparation with nothing to tell but the rows."""

    inputs: torch.Tensor


P = TypeVar("P", bound=Prepared)


class Answer(NamedTuple, Generic[P]):
    outputs: tuple[torch.Tensor, ...]  # each output's rows for this request, on the CPU
    prepared: P  # what ``prepare`` returned


@dataclass
class _Pending:
    prepare: Callable[[], Prepared]
    force_path: torch.Tensor | None  # (G,) booleans every row of the request takes
    prepared: Prepared | None = None
    done: threading.Event = field(default_factory=threading.Event)
    outputs: tuple | None = None
    error: BaseException | None = None

    @property
    def inputs(self) -> torch.Tensor:
        return self.prepared.inputs


@dataclass
class _Lane:
    """One model's queue, the requests taken from it for a later batch, and the thread
    serving it."""

    requests: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    held: list[_Pending] = field(default_factory=list)
    thread: threading.Thread | None = None


# What ``close`` puts in each lane's queue: no request, only a waiting lane woken.
_WAKE = object()


class MicroBatcher:
    def __init__(self, runtime: Runtime, max_rows: int = 256, idle_s: float = 10.0):
        self.runtime = runtime  # where models live, and how a batch of a size runs
        self.max_rows = max_rows
        self.idle_s = idle_s
        self._lanes: dict[torch.nn.Module, _Lane] = {}  # by model object (identity)
        self._lock = threading.Lock()  # guards _lanes: a lane ends only when empty
        self._closed = False  # then a lane ends as soon as it holds nothing

    def run(
        self,
        model: torch.nn.Module,
        prepare: Callable[[], P],
        force_path: torch.Tensor | None = None,
    ) -> Answer[P]:
        """``model(prepare().inputs)``: each output's rows for these inputs, batched with
        others, as CPU tensors, and what ``prepare`` returned.

        ``prepare`` runs on the model's inference thread; what it raises is raised here.
        With ``force_path`` (G booleans) every row takes that path; such requests are
        batched with other forced ones, each row keeping its own path.
        """
        pending = _Pending(prepare, force_path)
        with self._lock:
            lane = self._lanes.get(model)
            if lane is None:
                lane = self._lanes[model] = _Lane()
                lane.thread = threading.Thread(
                    target=self._serve, args=(model, lane), name="inference", daemon=True
                )
                lane.thread.start()
            lane.requests.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return Answer(pending.outputs, pending.prepared)

    def _next_batch(self, lane: _Lane) -> list[_Pending] | None:
        """The oldest request of the lane and every queued one that can join it, up to
        max_rows, with their inputs prepared (a request whose preparation fails is
        answered); None when nothing came for ``idle_s``, or nothing is left once the
        batcher closed."""
        waiting = lane.held
        if not waiting:
            try:
                waiting.append(lane.requests.get(timeout=0 if self._closed else self.idle_s))
            except queue.Empty:
                return None
        while True:
            try:
                waiting.append(lane.requests.get_nowait())
            except queue.Empty:
                break
        waiting = [pending for pending in waiting if pending is not _WAKE]
        if not waiting:
            lane.held = []
            return None
        batch, rows, lane.held = [], 0, []
        for pending in waiting:
            if pending.prepared is None and not self._prepare(pending):
                continue
            if not batch or (
                (pending.force_path is None) == (batch[0].force_path is None)
                and rows + len(pending.inputs) <= self.max_rows
            ):
                batch.append(pending)
                rows += len(pending.inputs)
            else:
                lane.held.append(pending)
        return batch

    def close(self) -> None:
        """End every lane once it has answered what it holds, and wait for it. A lane
        left to end on its own may do so while the interpreter exits: freeing its
        model's tensors then aborts the process."""
        with self._lock:
            self._closed = True
            lanes = list(self._lanes.values())
        for lane in lanes:
            lane.requests.put(_WAKE)
        for lane in lanes:
            lane.thread.join()

    @staticmethod
    def _prepare(pending: _Pending) -> bool:
        try:
            pending.prepared = pending.prepare()
            return True
        except Exception as error:  # the request's own bad input: answer it alone
            pending.error = error
            pending.done.set()
            return False

    def _serve(self, model: torch.nn.Module, lane: _Lane) -> None:
        while True:
            batch = self._next_batch(lane)
            if batch is None:
                with self._lock:  # run() adds to a lane under this lock: none is lost
                    if lane.requests.empty() and not lane.held:
                        del self._lanes[model]
                        return
                continue
            self._evaluate(model, batch)
            del batch  # an idle lane holds no request (nor its inputs)

    def _evaluate(self, model: torch.nn.Module, batch: list[_Pending]) -> None:
        """Run one batch and hand each request its rows, or the error."""
        if not batch:
            return
        try:
            with torch.inference_mode():
                inputs = torch.cat([p.inputs for p in batch])
                outputs = self.runtime.evaluate(model, inputs, _forced(batch))
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
