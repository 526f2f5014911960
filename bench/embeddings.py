"""Our path embeddings vs the libraries' defaults, on 10,000 routing vectors.

Ours (backend.embeddings): deduplicate the paths, embed the distinct ones with the
Hamming metric (UMAP on exact packed-bit neighbours, 200 epochs; openTSNE), give each
sample its path's point. Baselines: ``umap.UMAP()`` and ``sklearn.manifold.TSNE()``
with their defaults on every vector, as a user would otherwise call them.

Two inputs: the paths of a trained model (augmented views of the digits, many
repeats) and 10,000 distinct clustered paths of 54 bits (ResNet-110's gate count).
Warm times are measured in this process after a first call; cold times (the first
call in a fresh process, compilation included) in a subprocess each.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.common import cpu_summary, parse_args, pass_fail, print_table, use_all_cores
from bench.demo_model import demo_checkpoint, undecided_digits_model

SPEEDUP_TARGET = 3.0
TRUST_SLACK = 0.01
BASELINES = {"umap": "umap-learn default", "tsne": "scikit-learn default"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--bits", type=int, default=54)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="model whose paths form the first input (default: the "
        "digits demo model, trained if missing)",
    )
    parser.add_argument("--no-cold", action="store_true", help="skip the cold subprocesses")
    parser.add_argument(
        "--cold-run", nargs=3, metavar=("PATHS_NPY", "METHOD", "WHO"), help=argparse.SUPPRESS
    )  # internal: one cold call, JSON to stdout


def embed(paths: np.ndarray, method: str, who: str) -> np.ndarray:
    """Per-sample 2-D coordinates from one pipeline."""
    if who == "ours":
        from backend.embeddings import embed_paths

        return embed_paths(paths, method, {})[0].xy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "umap":
            import umap

            return umap.UMAP().fit_transform(paths.astype(np.float32))
        from sklearn.manifold import TSNE

        return TSNE().fit_transform(paths.astype(np.float32))


def timed(paths, method, who) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    xy = embed(paths, method, who)
    return time.perf_counter() - started, xy


def clustered_unique_paths(samples: int, bits: int, seed: int = 0) -> np.ndarray:
    """Distinct paths around a few dozen centres, as a trained router would spread them."""
    rng = np.random.default_rng(seed)
    centres = rng.random((32, bits)) < rng.uniform(0.3, 0.8, (32, 1))
    found = np.zeros((0, bits), dtype=bool)
    while len(found) < samples:
        noisy = centres[rng.integers(0, 32, samples)] ^ (rng.random((samples, bits)) < 0.08)
        found = np.unique(np.concatenate([found, noisy]), axis=0)
    return found[rng.permutation(len(found))[:samples]]


def model_paths(checkpoint: Path | None, samples: int, tiny: bool) -> np.ndarray:
    """Paths of augmented views of every digit, routed by a trained model."""
    import torch

    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.data import ViewsDataset, build_transform, load_dataset
    from trainer.engine import Runtime, route_dataset

    if tiny:
        model, prep = undecided_digits_model()[0], load_dataset("digits").preprocessing
    else:
        saved = load_checkpoint(checkpoint or demo_checkpoint())
        model, prep = model_from_checkpoint(saved), saved["preprocessing"]
    bundle = load_dataset("digits", image_size=prep["image_size"])
    images = torch.utils.data.ConcatDataset([bundle.train, bundle.test])
    if samples < len(images):  # --tiny: route only the images it keeps a path of
        images = torch.utils.data.Subset(images, range(samples))
    views = -(-samples // len(images))
    torch.manual_seed(0)
    result = route_dataset(
        model,
        ViewsDataset(images, build_transform(prep, train=True), views),
        Runtime(torch.device("cpu")),
        description="routing views",
    )
    return result.paths.reshape(-1, result.paths.shape[-1])[:samples]


def cold_time(paths_file: Path, method: str, who: str) -> float:
    result = subprocess.run(
        [sys.executable, "-m", "bench.embeddings", "--cold-run", str(paths_file), method, who],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def trust(paths: np.ndarray, xy: np.ndarray) -> float:
    from sklearn.manifold import trustworthiness

    return trustworthiness(paths.astype(np.float32), xy, n_neighbors=10)


def compare(case: str, paths: np.ndarray, cold: bool, warm: bool, workdir: Path) -> list[list]:
    paths_file = workdir / f"{case}.npy"
    np.save(paths_file, paths)
    distinct = len(np.unique(paths, axis=0))
    rows = []
    for method, baseline in BASELINES.items():
        seconds, trusts, colds = {}, {}, {}
        for who in ("ours", "default"):
            if warm:  # a warm-up call, so that the timing leaves out compilation
                timed(paths[: min(len(paths), 500)], method, who)
            seconds[who], xy = timed(paths, method, who)
            trusts[who] = trust(paths, xy)
            colds[who] = cold_time(paths_file, method, who) if cold else float("nan")
        speedup = seconds["default"] / seconds["ours"]
        met = speedup >= SPEEDUP_TARGET and trusts["ours"] >= trusts["default"] - TRUST_SLACK
        rows.append(
            [
                case,
                f"{len(paths)} ({distinct} distinct)",
                method,
                baseline,
                f"{seconds['ours']:.2f} / {seconds['default']:.2f}",
                f"{colds['ours']:.2f} / {colds['default']:.2f}",
                f"{speedup:.1f}x",
                f"{colds['default'] / colds['ours']:.1f}x",
                f"{trusts['ours']:.4f} / {trusts['default']:.4f}",
                pass_fail(met),
            ]
        )
        print(
            f"{case} {method}: ours {seconds['ours']:.2f}s, {baseline} {seconds['default']:.2f}s",
            flush=True,
        )
    return rows


def main(argv: Sequence[str] | None = None) -> list[list]:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    if args.cold_run:
        paths_file, method, who = args.cold_run
        seconds, _ = timed(np.load(paths_file), method, who)
        print(json.dumps({"seconds": seconds}))
        return []
    use_all_cores()
    samples = 300 if args.tiny else args.samples
    print(f"embeddings of {samples} paths; {cpu_summary()}")
    cases = {
        "model paths": model_paths(args.checkpoint, samples, args.tiny),
        "all distinct": clustered_unique_paths(samples, 12 if args.tiny else args.bits),
    }
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for case, paths in cases.items():
            rows += compare(
                case,
                paths,
                cold=not (args.no_cold or args.tiny),
                warm=not args.tiny,  # --tiny checks that it runs, not its timing
                workdir=Path(workdir),
            )
    print(
        f"\ntarget: ours >= {SPEEDUP_TARGET:g}x faster (warm), trustworthiness (k=10) "
        f"within {TRUST_SLACK} of the default's\n"
    )
    print_table(
        [
            "input",
            "paths",
            "method",
            "baseline",
            "warm s ours / default",
            "cold s ours / default",
            "speedup warm",
            "speedup cold",
            "trustworthiness ours / default",
            "target",
        ],
        rows,
    )
    return rows


if __name__ == "__main__":
    main()
