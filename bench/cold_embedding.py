"""One embedding, cold, in a process of its own: ``python -m bench.cold_embedding PATHS.npy
METHOD WHO OUT.npy`` prints its seconds and the process's peak memory as JSON.

Only numpy is imported before the clock starts, so the peak is the embedding's own
(with its library's imports and the paths), not a benchmark harness's.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def embed(paths: np.ndarray, method: str, who: str) -> np.ndarray:
    """Per-sample 2-D coordinates: ours, or the library's defaults on every sample."""
    if who == "ours":
        from backend.embeddings import embed_paths

        return embed_paths(paths, method, {})[0].xy
    if method == "umap":
        import umap

        return umap.UMAP().fit_transform(paths.astype(np.float32))
    from openTSNE import TSNE

    return np.asarray(TSNE(n_jobs=len(os.sched_getaffinity(0))).fit(paths.astype(np.float32)))


def main(paths_file: str, method: str, who: str, out_file: str) -> None:
    paths = np.load(paths_file)
    started = time.perf_counter()
    xy = embed(paths, method, who)
    seconds = time.perf_counter() - started
    np.save(out_file, xy)
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib()}))


def peak_mib(pid: int | str = "self") -> float:
    """A process's resident-memory high-water mark (this one's by default). Not
    getrusage's ru_maxrss: Linux carries that over from the parent at fork, so a child of
    a large benchmark process reports the parent's size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


if __name__ == "__main__":
    main(*sys.argv[1:])
