"""The models and images the benchmarks route: the digits demo model and a digit photo."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

DEMO_RUN = Path("runs/digits-demo")


def demo_checkpoint(run: Path = DEMO_RUN) -> Path:
    """The demo model's checkpoint, trained first (about 1.5 min on 2 cores) if missing."""
    checkpoint = run / "checkpoint.pt"
    if not checkpoint.exists():
        print(f"{checkpoint} missing: training the digits demo model first", flush=True)
        command = [
            sys.executable,
            "-m",
            "trainer",
            "train",
            "--config",
            "recipes/digits.yaml",
            "--out",
            str(run),
        ]
        subprocess.run(command, check=True)
    return checkpoint


def undecided_digits_model():
    """An untrained digits ResNet-20 whose gates start undecided, so paths vary."""
    from trainer.data import load_dataset
    from trainer.models import create_model

    model = create_model("codinet_resnet20", num_classes=10, in_channels=1, gate_open_prob=0.5)
    return model.eval(), load_dataset("digits")


def digit_photo(index: int = 0, size: int = 240) -> tuple[Image.Image, int]:
    """A test digit drawn dark on light paper with a margin, as a photo of one would be."""
    from trainer.data import load_dataset

    pixels, label = load_dataset("digits").test[index]
    paper = 235 - pixels[0].numpy().astype(np.float64) * (200 / 255)
    digit = Image.fromarray(paper.astype(np.uint8), "L").resize(
        (size, size), Image.Resampling.BICUBIC
    )
    photo = Image.new("L", (size + 120, size + 80), 235)
    photo.paste(digit, (60, 40))
    return photo, label
