"""Embedding distinct paths: neighbours, deduplication, reproducibility, placement."""

import numpy as np
import pytest

from backend.cache import DiskCache
from backend.embeddings import embed_paths, load_embedding, place_path, save_embedding
from backend.hamming import hamming_knn


def clustered_paths(n=600, bits=20, clusters=12, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.random((clusters, bits)) > 0.5
    return centres[rng.integers(0, clusters, n)] ^ (rng.random((n, bits)) < 0.05)


@pytest.mark.parametrize("bits", [9, 64, 70])
def test_hamming_knn_is_exact(bits):
    rng = np.random.default_rng(bits)
    paths = rng.random((300, bits)) > 0.5
    index, distance = hamming_knn(paths, 7)
    full = (paths[:, None, :] != paths[None, :, :]).sum(axis=2)
    expected = np.argsort(full * 300 + np.arange(300), axis=1)[:, :7]
    assert np.array_equal(index, expected)
    assert np.array_equal(distance, np.take_along_axis(full, expected, axis=1))
    assert (distance[:, 0] == 0).all()  # each path (or an identical one) is its own nearest


@pytest.mark.parametrize("method", ["umap", "tsne", "pca"])
def test_embedding_maps_samples_to_their_distinct_path(method):
    paths = clustered_paths()
    embedding, reducer = embed_paths(paths, method, {})
    assert embedding.xy.shape == (600, 2)
    assert np.array_equal(embedding.unique_paths[embedding.inverse], paths)
    assert embedding.counts.sum() == 600
    # Same path, same point.
    same = np.flatnonzero((paths == paths[0]).all(axis=1))
    assert len(same) > 1 and np.ptp(embedding.xy[same], axis=0).max() == 0
    again, _ = embed_paths(paths, method, {})
    assert np.array_equal(again.unique_xy, embedding.unique_xy)  # seeded
    # A known path lands on its point; an unknown one is placed and says how.
    xy, how = place_path(embedding, reducer, paths[3])
    assert how.startswith("exact") and np.allclose(xy, embedding.xy[3])
    unknown = ~paths[0]
    assert not (embedding.unique_paths == unknown).all(axis=1).any()
    xy, how = place_path(embedding, reducer, unknown)
    assert np.isfinite(xy).all() and not how.startswith("exact")
    assert place_path(embedding, None, unknown)[1] == "nearest known path"


def test_few_distinct_paths_fall_back_to_pca():
    paths = np.array([[1, 0, 1], [0, 1, 1], [1, 0, 1]] * 10, dtype=bool)
    embedding, _ = embed_paths(paths, "umap", {})
    assert "fallback" in embedding.params and embedding.xy.shape == (30, 2)


@pytest.mark.parametrize("method", ["umap", "tsne", "pca"])
def test_cached_reducer_still_places_new_paths(method, tmp_path):
    """Placement is rebuilt from the cached arrays, so it is unchanged after a restart."""
    paths = clustered_paths()
    embedding, reducer = embed_paths(paths, method, {})
    cache = DiskCache(tmp_path, max_bytes=10**9)
    save_embedding(cache, "embeddings/key.npz", embedding, reducer)
    saved = list(tmp_path.rglob("*"))
    assert [p.suffix for p in saved if p.is_file()] == [".npz"]  # arrays only, nothing pickled
    cached, cached_reducer = load_embedding(cache, "embeddings/key.npz")
    assert cached_reducer is not None
    assert np.array_equal(cached.unique_xy, embedding.unique_xy)
    # A path one bit away from a known one is placed by the reducer, near that path.
    flips = np.eye(paths.shape[1], dtype=bool) ^ paths[0]
    unseen = [p for p in flips if not (embedding.unique_paths == p).all(axis=1).any()]
    near = unseen[0]
    xy, how = place_path(cached, cached_reducer, near)
    assert how == place_path(embedding, reducer, near)[1] != "nearest known path"
    assert np.allclose(xy, place_path(embedding, reducer, near)[0], atol=1e-3)
    spread = np.ptp(embedding.unique_xy, axis=0).max()
    assert np.linalg.norm(np.subtract(xy, embedding.xy[0])) < 0.25 * spread
