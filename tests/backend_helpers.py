"""Shared set-up for the backend tests: a digits checkpoint trained once per session."""

import io
import time

import numpy as np
from PIL import Image

from trainer.config import TrainConfig
from trainer.data import load_dataset
from trainer.train import main as train


def train_digits_run(run_dir, epochs: int = 3, seed: int = 0) -> None:
    train(
        TrainConfig(
            dataset="digits",
            arch="codinet_resnet20",
            image_size=16,
            views=2,
            workers=0,
            epochs=epochs,
            batch_size=64,
            target_blocks=5,
            w_cost=0.5,
            consistency_images=64,
            out=str(run_dir),
            device="cpu",
            seed=seed,
        )
    )


def wait_for_embedding(client, url: str, timeout: float = 120.0):
    """GET until 200, following the job; returns (first status code, final response)."""
    first = client.get(url)
    response = first
    deadline = time.monotonic() + timeout
    while response.status_code == 202:
        job = client.get(f"/api/jobs/{response.json()['job_id']}").json()
        assert job["status"] in ("queued", "running", "done"), job
        assert time.monotonic() < deadline, "embedding job did not finish"
        time.sleep(0.2)
        response = client.get(url)
    return first.status_code, response


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def digit_on_paper(index: int, size: int = 240) -> tuple[Image.Image, int]:
    """A test digit drawn dark on light paper, as a photo of a handwritten digit would be."""
    bundle = load_dataset("digits")
    pixels, label = bundle.test[index]
    light_on_dark = pixels[0].numpy().astype(np.float64)
    paper = 235 - light_on_dark * (200 / 255)
    image = Image.fromarray(paper.astype(np.uint8), "L").resize(
        (size, size), Image.Resampling.BICUBIC
    )
    # A margin of paper around the digit, as in a photo.
    framed = Image.new("L", (size + 120, size + 80), 235)
    framed.paste(image, (60, 40))
    return framed, label
