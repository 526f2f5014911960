"""Shared set-up for the tests: quick digits training runs, images, embedding polling,
servers started as processes."""

import io
import socket
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

from trainer.checkpoint import build_checkpoint, save_atomic
from trainer.config import TrainConfig
from trainer.data import ViewsDataset, build_transform, labels_of, load_dataset
from trainer.engine import Runtime, route_dataset
from trainer.evaluate import evaluate_model
from trainer.formation import FormationRecorder
from trainer.models import create_model
from trainer.train import main as train


def quick_config(out, **overrides) -> TrainConfig:
    """A digits ResNet-20 run of a few seconds per epoch on the CPU."""
    settings = dict(
        dataset="digits",
        arch="codinet_resnet20",
        image_size=16,
        views=2,
        workers=0,
        epochs=3,
        batch_size=64,
        lr=0.1,
        target_blocks=5,
        w_cost=0.5,
        view_images_per_class=8,
        out=str(out),
        device="cpu",
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def train_digits_run(run_dir, epochs: int = 3, seed: int = 0) -> None:
    train(quick_config(run_dir, epochs=epochs, seed=seed))


def save_untrained_run(run_dir, seed: int = 0) -> None:
    """A digits ResNet-20 checkpoint with initial weights, saved as the trainer saves one
    (no training), calibrated on the test split so that its answers vary as a trained
    model's do: each gate executes for about half the images (varied paths) and the
    classifier predicts every class (untrained, it answers one class for all)."""
    config = quick_config(run_dir, seed=seed)
    bundle = load_dataset("digits", Path("data"), config.image_size)
    torch.manual_seed(seed)
    model = create_model(config.arch, num_classes=len(bundle.class_names), in_channels=1).eval()
    images = torch.stack(
        [build_transform(bundle.preprocessing, train=False)(bundle.test[i][0]) for i in range(360)]
    )
    _calibrate(model, images)
    metrics = evaluate_model(model, bundle, config)  # what training would have saved
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = build_checkpoint(
        model, bundle.class_names, bundle.preprocessing, metrics, asdict(config), epoch=0
    )
    save_atomic(checkpoint, run_dir / "checkpoint.pt")
    record_formation(run_dir, model, bundle, seed=seed)


# Epochs of the formation recorded beside an untrained model, and the share of its path
# bits flipped at the first of them (falling to none at the last).
FORMATION_EPOCHS = 5
FORMATION_FIRST_FLIPS = 0.2


def record_formation(run_dir, model, bundle, seed: int = 0, cap: int = 2000) -> None:
    """Paths recorded as the trainer records them (trainer.formation), for a model that
    was not trained: each epoch the model's own paths of the test split with a seeded
    share of bits flipped, falling to none at the last epoch, so that paths settle."""
    clean = ViewsDataset(bundle.test, build_transform(bundle.preprocessing, train=False), 1)
    routed = route_dataset(model, clean, Runtime(torch.device("cpu")))
    recorder = FormationRecorder.start(
        run_dir,
        labels_of(bundle.test),
        model.num_gates,
        len(bundle.class_names),
        cap,
        seed,
        start_epoch=0,
    )
    rng = np.random.default_rng(seed)
    paths = routed.paths[:, 0]
    for epoch in range(FORMATION_EPOCHS):
        share = FORMATION_FIRST_FLIPS * (FORMATION_EPOCHS - 1 - epoch) / (FORMATION_EPOCHS - 1)
        recorder.record(epoch, paths ^ (rng.random(paths.shape) < share), routed.predictions)


@torch.no_grad()
def _calibrate(model, images: torch.Tensor) -> None:
    """Centre each gate's logit margin at its median over ``images``, input side first
    (a gate's inputs depend on the decisions before it), then the classifier's logits at
    their means."""
    for gated in model.blocks:
        seen = []
        handle = gated.gate.register_forward_hook(lambda _m, _i, out, seen=seen: seen.append(out))
        model.route(images)
        handle.remove()
        gated.gate.fc2.bias[0] -= (seen[0][:, 0] - seen[0][:, 1]).median()
    logits, _ = model.route(images)
    model.classifier.bias -= logits.mean(dim=0)


def wait_for_result(client, url: str, timeout: float = 120.0):
    """GET until 200, following the job; returns (first status code, final response)."""
    first = client.get(url)
    response = first
    deadline = time.monotonic() + timeout
    while response.status_code == 202:
        job = client.get(f"/api/jobs/{response.json()['job_id']}").json()
        assert job["status"] in ("queued", "running", "done"), job
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.2)
        response = client.get(url)
    return first.status_code, response


def free_port() -> int:
    """A port nothing listens on now, for a server started next."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_answer(server: subprocess.Popen, url: str, timeout: float = 120.0) -> httpx.Response:
    """GET ``url`` until the server process answers it; fails if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            assert server.poll() is None, f"the server exited: {server.stderr.read()}"
            assert time.monotonic() < deadline, "the server did not answer"
            time.sleep(0.3)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def digit_on_paper(index: int, size: int = 240) -> tuple[Image.Image, int]:
    """A test digit drawn dark on light paper with a margin, as a photo of a handwritten
    digit would be (the benchmarks upload it too)."""
    pixels, label = load_dataset("digits").test[index]
    paper = 235 - pixels[0].numpy().astype(np.float64) * (200 / 255)
    digit = Image.fromarray(paper.astype(np.uint8), "L").resize(
        (size, size), Image.Resampling.BICUBIC
    )
    photo = Image.new("L", (size + 120, size + 80), 235)
    photo.paste(digit, (60, 40))
    return photo, label
