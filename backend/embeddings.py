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
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backend.cache import DiskCache
from backend.errors import InvalidInput
from backend.hamming import hamming_knn
from trainer.paths import unique_paths

log = logging.getLogger(__name__)

METHODS = ("umap", "tsne", "pca")
SEED = 0
# Below this many distinct paths, neighbour-graph methods have nothing to work with.
MIN_PATHS_FOR_GRAPH = 5
# UMAP's epochs by default: a fixed budget of path-epochs (about a second on 2 cores),
# so small path sets get umap-learn's 500 epochs and 10,000 distinct paths get 60, at a
# trustworthiness close to 200 epochs' and umap-learn's default's (measured in
# bench/HISTORY.md, section 4). The SGD is seeded, so it runs on one thread.
UMAP_PATH_EPOCHS = 600_000
UMAP_EPOCHS_RANGE = (50, 500)
# t-SNE's iterations after early exaggeration by default, which runs for half as many:
# half of openTSNE's default schedule (250 + 500). On 10,000 distinct paths the
# trustworthiness is that of the full schedule to three decimals, in a third of the
# time (bench/HISTORY.md, section 4): the neighbourhoods settle early, and later
# iterations mostly spread the clusters, each costing more as the map grows.
TSNE_ITERATIONS = 250
_TSNE_JOBS = min(os.cpu_count() or 1, 4)  # the result does not depend on it


@dataclass(frozen=True)
class Parameter:
    """A setting of one method that a request may choose, within ``[low, high]``."""

    name: str
    method: str
    type: type  # int or float
    default: int | float | None  # None: chosen from the number of distinct paths
    low: int | float
    high: int | float
    description: str


# The one declaration of the methods' settings: the API's query parameters, their
# OpenAPI schema, the checks and the defaults all come from it.
PARAMETERS = (
    Parameter("n_neighbors", "umap", int, 15, 2, 200, "UMAP: neighbours per distinct path"),
    Parameter("min_dist", "umap", float, 0.1, 0.0, 1.0, "UMAP: how closely points may pack"),
    Parameter("n_epochs", "umap", int, None, 10, 2000, "UMAP: epochs; default by number of paths"),
    Parameter(
        "perplexity", "tsne", float, 30.0, 2.0, 100.0, "t-SNE: effective neighbours per path"
    ),
    Parameter(
        "n_iter",
        "tsne",
        int,
        TSNE_ITERATIONS,
        50,
        5000,
        "t-SNE: iterations after early exaggeration (half as many)",
    ),
)
DEFAULT_PARAMS = {
    method: {p.name: p.default for p in PARAMETERS if p.method == method} for method in METHODS
}


def resolve_params(method: str, given: dict) -> dict:
    """The method's defaults, updated with the ``given`` settings; InvalidInput for an
    unknown method, or a setting that is unknown, of another method or out of bounds."""
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    declared = {p.name: p for p in PARAMETERS}
    params = dict(DEFAULT_PARAMS[method])
    for name, value in given.items():
        parameter = declared.get(name)
        if parameter is None:
            raise InvalidInput(f"unknown parameter {name!r}; known: {', '.join(declared)}")
        if parameter.method != method:
            raise InvalidInput(f"{name} applies to {parameter.method}, not {method}")
        if not parameter.low <= value <= parameter.high:
            raise InvalidInput(
                f"{name} must be from {parameter.low} to {parameter.high}, got {value}"
            )
        params[name] = parameter.type(value)
    return params


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
        xy, reducer = _tsne(unique, effective, progress)
    embedding = Embedding(method, effective, unique, counts, inverse, xy.astype(np.float32))
    return embedding, reducer


class LinearProjection:
    """A fitted PCA as its two arrays: new paths are projected, (x - mean) @ axes.T."""

    def __init__(self, mean: np.ndarray, axes: np.ndarray):
        self.mean, self.axes = np.asarray(mean, np.float64), np.asarray(axes, np.float64)

    def transform(self, bits: np.ndarray) -> np.ndarray:
        return _pad_2d((np.asarray(bits, np.float64) - self.mean) @ self.axes.T)


def _pca(samples: np.ndarray, unique_bits: np.ndarray):
    from sklearn.decomposition import PCA

    components = min(2, samples.shape[1], max(len(unique_bits) - 1, 1))
    pca = PCA(n_components=components, random_state=SEED).fit(samples)
    projection = LinearProjection(pca.mean_, pca.components_)
    return projection.transform(unique_bits), projection


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


def default_umap_epochs(distinct_paths: int) -> int:
    low, high = UMAP_EPOCHS_RANGE
    return int(np.clip(round(UMAP_PATH_EPOCHS / distinct_paths), low, high))


def _umap(unique: np.ndarray, params: dict):
    import umap

    k = params["n_neighbors"] = int(min(params["n_neighbors"], len(unique) - 1))
    if params.get("n_epochs") is None:
        params["n_epochs"] = default_umap_epochs(len(unique))
    index, distance = hamming_knn(unique, k)
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=float(params["min_dist"]),
        metric="hamming",
        random_state=SEED,
        n_epochs=int(params["n_epochs"]),
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


class HammingNeighbors:
    """openTSNE's neighbour index (its ``KNNIndex`` interface), exact under Hamming.

    openTSNE's own search for the Hamming metric (a brute-force scan through joblib)
    took most of the time on ten thousand paths; the packed-bit search gives the same
    neighbours. Distances are fractions of differing bits, as its "hamming" metric.
    Queries (openTSNE ``transform`` of an uploaded path) use the same search.
    """

    def __init__(self, unique_paths: np.ndarray, k: int):
        self.paths, self.k, self.n_samples = unique_paths, k, len(unique_paths)

    def build(self) -> tuple[np.ndarray, np.ndarray]:
        # Each distinct path is its own nearest neighbour: leave it out.
        index, distance = hamming_knn(self.paths, self.k + 1)
        return index[:, 1:], distance[:, 1:] / self.paths.shape[1]

    def query(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        index, distance = hamming_knn(self.paths, k, np.asarray(query) > 0.5)
        return index, distance / self.paths.shape[1]


def _tsne_affinities(unique: np.ndarray, perplexity: float):
    from openTSNE import affinity

    neighbors = HammingNeighbors(unique, min(len(unique) - 1, int(3 * perplexity)))
    return affinity.PerplexityBasedNN(
        perplexity=perplexity, knn_index=neighbors, n_jobs=_TSNE_JOBS, random_state=SEED
    )


def _tsne(unique: np.ndarray, params: dict, progress: Callable[[float], None]):
    from openTSNE import TSNE

    params["perplexity"] = float(min(params["perplexity"], (len(unique) - 1) / 3))
    n_iter = int(params["n_iter"])
    iterations = {"early_exaggeration_iter": n_iter // 2, "n_iter": n_iter}
    calls = [0]
    every = 25
    total_calls = sum(iterations.values()) / every

    def report(iteration, error, embedding):
        calls[0] += 1
        progress(0.1 + 0.85 * calls[0] / total_calls)
        return False  # keep going

    tsne = TSNE(
        random_state=SEED,
        n_jobs=_TSNE_JOBS,
        callbacks=report,
        callbacks_every_iters=every,
        **iterations,
    )
    embedding = tsne.fit(
        unique.astype(np.float32), affinities=_tsne_affinities(unique, params["perplexity"])
    )
    # The progress callback is a closure over this job: it must not run again.
    embedding.gradient_descent_params["callbacks"] = None
    return np.asarray(embedding), embedding


class TsnePlacement:
    """openTSNE ``transform`` into a cached map, rebuilt from its arrays on first use.

    A new point is optimised against the fixed map with its Hamming neighbours among the
    distinct paths; rebuilding the neighbour graph costs about what the fit's did, so it
    waits until an upload takes a path the map has not seen.
    """

    def __init__(self, unique_paths: np.ndarray, unique_xy: np.ndarray, params: dict):
        self.unique_paths, self.unique_xy, self.params = unique_paths, unique_xy, params
        self._embedding = None
        self._lock = threading.Lock()

    def transform(self, bits: np.ndarray) -> np.ndarray:
        from openTSNE import TSNE

        with self._lock:
            if self._embedding is None:
                affinities = _tsne_affinities(self.unique_paths, self.params["perplexity"])
                # The fit's own settings, with the map's points as the starting positions
                # (openTSNE logs that these are spread wider than a fresh start; expected).
                openTSNE_log = logging.getLogger("openTSNE.tsne")
                level = openTSNE_log.level
                openTSNE_log.setLevel(logging.ERROR)
                try:
                    self._embedding = TSNE(random_state=SEED, n_jobs=_TSNE_JOBS).prepare_initial(
                        self.unique_paths.astype(np.float32),
                        affinities=affinities,
                        initialization=self.unique_xy.astype(np.float64),
                    )
                finally:
                    openTSNE_log.setLevel(level)
        return self._embedding.transform(bits)


def place_path(embedding: Embedding, reducer, path: np.ndarray) -> tuple[list[float], str]:
    """Coordinates of one new path in an existing embedding, and how it was placed."""
    path = np.asarray(path, dtype=bool)
    same = np.flatnonzero((embedding.unique_paths == path).all(axis=1))
    if len(same):
        return embedding.unique_xy[same[0]].tolist(), "exact: a known path"
    if reducer is not None and "fallback" not in embedding.params:
        bits = path[None].astype(np.float32)
        if embedding.method == "pca":
            return reducer.transform(bits)[0].tolist(), "pca projection"
        if embedding.method == "umap":
            return reducer.transform(bits)[0].tolist(), "umap: weighted k nearest known paths"
        return np.asarray(reducer.transform(bits))[0].tolist(), "opentsne transform"
    distances = (embedding.unique_paths != path).sum(axis=1)
    # Among equally near paths, the most frequent one.
    nearest = np.lexsort((-embedding.counts, distances))[0]
    return embedding.unique_xy[nearest].tolist(), "nearest known path"


def save_embedding(cache: DiskCache, name: str, embedding: Embedding, reducer) -> None:
    """Cache an embedding as plain arrays. Nothing is pickled: whatever lies in the cache
    folder is read as numbers only, and placement is rebuilt from them on load."""
    projection = {}
    if isinstance(reducer, LinearProjection):
        projection = {"projection_mean": reducer.mean, "projection_axes": reducer.axes}
    cache.save(name, **embedding_arrays(embedding), **projection)


def embedding_arrays(embedding: Embedding) -> dict[str, np.ndarray]:
    """An embedding as the plain arrays a cache file holds (``EMBEDDING_SPEC``)."""
    return {
        "unique_paths": embedding.unique_paths,
        "counts": embedding.counts,
        "inverse": embedding.inverse,
        "unique_xy": embedding.unique_xy,
        "method": np.array(embedding.method),
        "params": np.array(json.dumps(embedding.params)),
    }


def embedding_from_arrays(arrays: dict) -> Embedding:
    """The embedding of a cache file's arrays; ValueError (or KeyError, TypeError) when
    they do not make one."""
    embedding = Embedding(
        method=str(arrays["method"]),
        params=json.loads(str(arrays["params"])),
        unique_paths=arrays["unique_paths"],
        counts=arrays["counts"],
        inverse=arrays["inverse"],
        unique_xy=arrays["unique_xy"].astype(np.float32),
    )
    if embedding.method not in METHODS or not isinstance(embedding.params, dict):
        raise ValueError(f"method {embedding.method!r}, params {embedding.params!r}")
    if embedding.inverse.size and embedding.inverse.max() >= len(embedding.unique_xy):
        raise ValueError("inverse indexes beyond the distinct paths")
    return embedding


EMBEDDING_SPEC = {
    "unique_paths": ("b", ("paths", "gates")),
    "counts": ("iu", ("paths",)),
    "inverse": ("iu", ("samples",)),
    "unique_xy": ("f", ("paths", 2)),
    "method": ("U", ()),
    "params": ("U", ()),
}


def load_embedding(cache: DiskCache, name: str):
    """A cached (Embedding, placement or None), or None when not cached or unreadable."""
    arrays = cache.load(name, EMBEDDING_SPEC)
    if arrays is None:
        return None
    try:
        embedding = embedding_from_arrays(arrays)
        return embedding, _rebuilt_placement(embedding, arrays)
    except (KeyError, ValueError, TypeError) as error:
        cache.discard(name, f"{type(error).__name__}: {error}")
        return None


def _rebuilt_placement(embedding: Embedding, arrays: dict):
    """What places new paths into a cached embedding, from its arrays alone."""
    if "fallback" in embedding.params:
        return None
    gates = embedding.unique_paths.shape[1]
    if embedding.method == "pca":
        projection = LinearProjection(arrays["projection_mean"], arrays["projection_axes"])
        if projection.mean.shape != (gates,) or projection.axes.shape[1:] != (gates,):
            raise ValueError(f"a projection of shape {projection.axes.shape} for {gates} gates")
        return projection
    if embedding.method == "umap":
        k = int(embedding.params["n_neighbors"])
        return KnnPlacement(embedding.unique_paths, embedding.unique_xy, k)
    float(embedding.params["perplexity"])  # needed at the first placement, checked now
    return TsnePlacement(embedding.unique_paths, embedding.unique_xy, embedding.params)
