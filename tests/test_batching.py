"""Dynamic batching: each request gets its own rows back, and its own errors."""

import gc
import threading
import time
import weakref

import pytest
import torch

from backend.batching import Inputs, MicroBatcher
from trainer.engine import ON_CPU


class TwoOutputs(torch.nn.Module):
    """Stands in for a routed network: a tuple of outputs, each with a row per input."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def route(self, x, force_path=None, execution=None):
        self.calls.append(len(x))
        return x * 2, x.sum(dim=1, keepdim=True)


def run_concurrently(batcher, model, prepares):
    results = [None] * len(prepares)
    start = threading.Barrier(len(prepares))

    def request(i):
        start.wait()
        try:
            results[i] = batcher.run(model, prepares[i]).outputs
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=request, args=(i,)) for i in range(len(prepares))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_each_request_gets_its_rows_and_only_its_own_error():
    batcher, model = MicroBatcher(ON_CPU), TwoOutputs()
    inputs = [torch.full((1 + i % 3, 4), float(i)) for i in range(24)]

    def prepare(i):
        def make():
            if i % 5 == 0:
                raise ValueError(f"bad upload {i}")
            return Inputs(inputs[i])

        return make

    results = run_concurrently(batcher, model, [prepare(i) for i in range(24)])
    for i, result in enumerate(results):
        if i % 5 == 0:
            assert isinstance(result, ValueError) and str(result) == f"bad upload {i}"
        else:
            doubled, sums = result
            assert torch.equal(doubled, inputs[i] * 2)
            assert torch.equal(sums, inputs[i].sum(dim=1, keepdim=True))
    # Every good row went through the model exactly once.
    assert sum(model.calls) == sum(len(inputs[i]) for i in range(24) if i % 5)


def test_a_failing_forward_reaches_every_request_of_its_batch():
    class Broken(torch.nn.Module):
        def route(self, x, force_path=None, execution=None):
            raise RuntimeError("model failed")

    results = run_concurrently(
        MicroBatcher(ON_CPU), Broken(), [lambda: Inputs(torch.ones(1, 2))] * 4
    )
    assert all(isinstance(r, RuntimeError) for r in results)


@pytest.mark.parametrize("max_rows", [1, 3])
def test_batches_never_exceed_max_rows_unless_one_request_does(max_rows):
    batcher, model = MicroBatcher(ON_CPU, max_rows=max_rows), TwoOutputs()
    results = run_concurrently(batcher, model, [lambda: Inputs(torch.ones(2, 2))] * 8)
    assert all(isinstance(r, tuple) for r in results)
    assert max(model.calls) <= max(max_rows, 2)


def test_forced_and_free_requests_each_get_their_own_routing():
    """Forced requests are batched among themselves, each row taking its own request's
    path; free requests never receive a forced path."""
    from tests.conftest import randomize_gates
    from trainer.models import create_model

    model = create_model("codinet_resnet20", num_classes=10)
    randomize_gates(model, seed=6)
    model.eval()
    images = torch.randn(12, 3, 16, 16)
    generator = torch.Generator().manual_seed(1)
    paths = [
        None if i % 3 == 0 else torch.rand(model.num_gates, generator=generator) > 0.5
        for i in range(12)
    ]
    batcher = MicroBatcher(ON_CPU)
    results = [None] * 12
    start = threading.Barrier(12)

    def request(i):
        start.wait()
        answer = batcher.run(model, lambda: Inputs(images[i : i + 1]), force_path=paths[i])
        results[i] = answer.outputs

    threads = [threading.Thread(target=request, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with torch.no_grad():
        for i, (logits, routed) in enumerate(results):
            expected_path = None if paths[i] is None else paths[i][None]
            alone_logits, alone_paths = model.route(images[i : i + 1], force_path=expected_path)
            assert torch.equal(routed, alone_paths)
            torch.testing.assert_close(logits, alone_logits, atol=1e-5, rtol=1e-5)


class Slow(torch.nn.Module):
    """A model whose forward pass takes ``seconds``, saying when it has started."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.started = seconds, threading.Event()

    def route(self, x, force_path=None, execution=None):
        self.started.set()
        time.sleep(self.seconds)
        return x, x


def test_a_long_batch_of_one_model_does_not_delay_another_model():
    """One model's queue never blocks another's: model B answers within a bound while
    model A's 5 s batch is running."""
    batcher, slow, quick = MicroBatcher(ON_CPU), Slow(5.0), TwoOutputs()
    threading.Thread(
        target=batcher.run, args=(slow, lambda: Inputs(torch.ones(33, 2))), daemon=True
    ).start()
    assert slow.started.wait(10)
    began = time.monotonic()
    doubled, _ = batcher.run(quick, lambda: Inputs(torch.ones(1, 2))).outputs
    waited = time.monotonic() - began
    assert torch.equal(doubled, torch.full((1, 2), 2.0))
    assert waited < 1.0, f"model B waited {waited:.1f} s behind model A"


def test_an_idle_models_queue_goes_and_holds_no_model():
    """A model replaced on disk is not kept alive by its queue once it falls idle."""
    batcher, model = MicroBatcher(ON_CPU, idle_s=0.1), TwoOutputs()
    batcher.run(model, lambda: Inputs(torch.ones(1, 2)))
    gone = weakref.ref(model)
    del model
    deadline = time.monotonic() + 10
    while gone() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        gc.collect()
    assert gone() is None


def _inference_threads_started_by(action) -> list[threading.Thread]:
    before = set(threading.enumerate())
    action()
    return [t for t in set(threading.enumerate()) - before if t.name == "inference"]


def test_closing_ends_every_lane_at_once():
    """A closed batcher leaves no inference thread behind: a lane ending on its own
    while the interpreter exits frees its model's tensors after Python's finalisation
    began, and the process aborts ("terminate called without an active exception")."""
    batcher, models = MicroBatcher(ON_CPU, idle_s=60), [TwoOutputs(), TwoOutputs()]
    lanes = _inference_threads_started_by(
        lambda: [batcher.run(model, lambda: Inputs(torch.ones(1, 2))) for model in models]
    )
    assert len(lanes) == 2
    began = time.monotonic()
    batcher.close()
    assert time.monotonic() - began < 5  # not the 60 s each lane would idle for
    assert not any(lane.is_alive() for lane in lanes)
