"""One embedding, cold, in a process of its own: ``python -m bench.cold_embedding PATHS.npy
METHOD WHO OUT.npy`` prints its seconds and the process's peak memory as JSON.

Only numpy is imported before the clock starts, so the peak is the embedding's own
(with its library's imports), not a benchmark harness's.
"""

import json
import os
import resource
import sys
import time

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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak}))


if __name__ == "__main__":
    main(*sys.argv[1:])
