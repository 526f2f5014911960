"""The models the benchmarks route: the digits demo model (trained first if missing) and
an untrained digits network whose gates start undecided."""

import subprocess
import sys
from pathlib import Path

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
