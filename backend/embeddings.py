"""2-D embeddings of binary routing paths: UMAP, t-SNE (openTSNE) and PCA.

Paths repeat a lot, so only the distinct paths are embedded (Hamming metric) and each
sample takes its path's point. A new path (an upload) lands on its path's point when
that path is known; otherwise the fitted reducer places it (UMAP ``transform``,
openTSNE ``transform``, PCA projection), or, when no reducer is at hand, at the point
of the nearest known path. The response says which.
"""

import json
import logging
import os
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.cache import load_arrays, save_arrays
from backend.hamming import hamming_knn
from trainer.paths import unique_paths

log = logging.getLogger(__name__)

METHODS = ("umap", "tsne", "pca")
SEED = 0
DEFAULT_PARAMS = {
    "umap": {"n_neighbors": 15, "min_dist": 0.1},
    "tsne": {"perplexity": 30.0},
    "pca": {},
}
# Below this many distinct paths, neighbour-graph methods have nothing to work with.
MIN_PATHS_FOR_GRAPH = 5


@dataclass
class Embedding:
    method: str
    params: dict  # effective parameters, including any fallback
    unique_paths: np.ndarray  # (U, G) bool
    counts: np.ndarray  # (U,) samples per distinct path
    inverse: np.ndarray  # (N,) each sample's index into unique_paths
    unique_xy: np.ndarray  # (U, 2) float32

    @property
    def xy(self) -> np.ndarray:
        return self.unique_xy[self.inverse]


def embed_paths(
    paths: np.ndarray, method: str, params: dict, progress: Callable[[float], None] = lambda f: None
):
    """Embed the distinct paths; returns (Embedding, fitted reducer or None)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    unique, counts, inverse = unique_paths(paths)
    effective = {**DEFAULT_PARAMS[method], **params, "seed": SEED, "metric": "hamming"}
    effective["distinct_paths"] = int(len(unique))
    bits = unique.astype(np.float32)
    if len(unique) == 1:
        effective["fallback"] = "a single distinct path: one point"
        xy, reducer = np.zeros((1, 2)), None
    elif method == "pca" or len(unique) < MIN_PATHS_FOR_GRAPH:
        if method != "pca":
            effective["fallback"] = f"pca: only {len(unique)} distinct paths"
        effective["metric"] = "euclidean"
        xy, reducer = _pca(paths.astype(np.float32), bits)
    elif method == "umap":
        xy, reducer = _umap(unique, effective)
    else:
        xy, reducer = _tsne(bits, effective, progress)
    embedding = Embedding(method, effective, unique, counts, inverse, xy.astype(np.float32))
    return embedding, reducer


def _pca(samples: np.ndarray, unique_bits: np.ndarray):
    from sklearn.decomposition import PCA

    components = min(2, samples.shape[1], max(len(unique_bits) - 1, 1))
    pca = PCA(n_components=components, random_state=SEED).fit(samples)
    return _pad_2d(pca.transform(unique_bits)), pca


def _pad_2d(xy: np.ndarray) -> np.ndarray:
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1]))) if xy.shape[1] < 2 else xy


class KnnPlacement:
    """Places new paths among the k nearest distinct paths of a UMAP embedding.

    umap-learn's own ``transform`` needs the approximate-neighbour index that the exact
    Hamming neighbours replace; this is the placement its transform starts from: the
    mean of the neighbours' points, weighted by UMAP's membership strength
    exp(-(d - d_nearest) / sigma).
    """

    def __init__(self, unique_paths: np.ndarray, unique_xy: np.ndarray, k: int):
        self.unique_paths, self.unique_xy, self.k = unique_paths, unique_xy, k

    def transform(self, bits: np.ndarray) -> np.ndarray:
        index, distance = hamming_knn(self.unique_paths, self.k, bits.astype(bool))
        excess = distance - distance[:, :1]
        sigma = max(float(excess.mean()), 1.0)
        weights = np.exp(-excess / sigma)
        return (weights[..., None] * self.unique_xy[index]).sum(axis=1) / weights.sum(axis=1)[
            :, None
        ]


def _umap(unique: np.ndarray, params: dict):
    import umap

    k = params["n_neighbors"] = int(min(params["n_neighbors"], len(unique) - 1))
    index, distance = hamming_knn(unique, k)
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=float(params["min_dist"]),
        metric="hamming",
        random_state=SEED,
        n_epochs=params.setdefault("n_epochs", 200),
        # Spectral initialisation needs a connected graph of some size.
        init="spectral" if len(unique) > 2 * k else "random",
        # Exact neighbours (fraction of differing bits, as umap's "hamming") instead
        # of an approximate search.
        precomputed_knn=(index, (distance / unique.shape[1]).astype(np.float32), None),
    )
    with warnings.catch_warnings():
        # umap-learn warns that a seed forces one thread, that Hamming has no
        # inverse_transform and that precomputed neighbours disable transform; all
        # expected here.
        warnings.simplefilter("ignore", UserWarning)
        xy = reducer.fit_transform(unique.astype(np.float32))
    return xy, KnnPlacement(unique, xy.astype(np.float32), k)


def _tsne(bits: np.ndarray, params: dict, progress: Callable[[float], None]):
    from openTSNE import TSNE

    params["perplexity"] = float(min(params["perplexity"], (len(bits) - 1) / 3))
    iterations = {"early_exaggeration_iter": 250, "n_iter": 500}
    calls = [0]
    every = 25
    total_calls = sum(iterations.values()) / every

    def report(iteration, error, embedding):
        calls[0] += 1
        progress(0.1 + 0.85 * calls[0] / total_calls)
        return False  # keep going

    tsne = TSNE(
        perplexity=params["perplexity"],
        metric="hamming",
        random_state=SEED,
        n_jobs=min(os.cpu_count() or 1, 4),  # the result does not depend on it
        callbacks=report,
        callbacks_every_iters=every,
        **iterations,
    )
    embedding = tsne.fit(bits)
    return np.asarray(embedding), embedding


def place_path(embedding: Embedding, reducer, path: np.ndarray) -> tuple[list[float], str]:
    """Coordinates of one new path in an existing embedding, and how it was placed."""
    path = np.asarray(path, dtype=bool)
    same = np.flatnonzero((embedding.unique_paths == path).all(axis=1))
    if len(same):
        return embedding.unique_xy[same[0]].tolist(), "exact: a known path"
    if reducer is not None and "fallback" not in embedding.params:
        bits = path[None].astype(np.float32)
        if embedding.method == "pca":
            return _pad_2d(reducer.transform(bits))[0].tolist(), "pca projection"
        if embedding.method == "umap":
            return reducer.transform(bits)[0].tolist(), "umap: weighted k nearest known paths"
        return np.asarray(reducer.transform(bits))[0].tolist(), "opentsne transform"
    distances = (embedding.unique_paths != path).sum(axis=1)
    # Among equally near paths, the most frequent one.
    nearest = np.lexsort((-embedding.counts, distances))[0]
    return embedding.unique_xy[nearest].tolist(), "nearest known path"


def save_embedding(directory: Path, key: str, embedding: Embedding, reducer) -> None:
    save_arrays(
        directory / f"{key}.npz",
        unique_paths=embedding.unique_paths,
        counts=embedding.counts,
        inverse=embedding.inverse,
        unique_xy=embedding.unique_xy,
        method=np.array(embedding.method),
        params=np.array(json.dumps(embedding.params)),
    )
    if reducer is not None:
        try:
            tmp = directory / f".{key}.pkl.tmp"
            with open(tmp, "wb") as f:
                pickle.dump(reducer, f)
            tmp.replace(directory / f"{key}.pkl")
        except Exception as error:  # a reducer that cannot be pickled: nearest-path placement
            log.warning("fitted %s reducer not cached: %s", embedding.method, error)


def load_embedding(directory: Path, key: str):
    """A cached (Embedding, reducer or None), or None when not cached."""
    arrays = load_arrays(directory / f"{key}.npz")
    if arrays is None:
        return None
    embedding = Embedding(
        method=str(arrays["method"]),
        params=json.loads(str(arrays["params"])),
        unique_paths=arrays["unique_paths"],
        counts=arrays["counts"],
        inverse=arrays["inverse"],
        unique_xy=arrays["unique_xy"],
    )
    reducer = None
    try:
        # The cache directory is written by this server alone.
        with open(directory / f"{key}.pkl", "rb") as f:
            reducer = pickle.load(f)
    except FileNotFoundError:
        pass
    except Exception as error:
        log.warning("cached %s reducer unreadable, placing by nearest path: %s", key, error)
    return embedding, reducer
