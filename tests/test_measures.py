"""The routing measures on hand-made path sets whose answers are known."""

import itertools

import numpy as np
import pytest

from trainer import measures
from trainer.measures import (
    MEASURES,
    neighbor_agreement,
    probe_accuracy,
    routing_measures,
    upgrade_metrics,
)


def brute_force(paths, labels, view_paths=None, k=10):
    """The definitions, written out pair by pair."""
    n = len(paths)
    d = (paths[:, None, :] != paths[None, :, :]).sum(axis=2)
    pairs = list(itertools.combinations(range(n), 2))
    any_two = np.mean([d[i, j] for i, j in pairs])
    same = [d[i, j] for i, j in pairs if labels[i] == labels[j]]
    agreement = []
    for i in range(n):
        others = np.delete(np.arange(n), i)
        kth = np.sort(d[i, others])[k - 1]
        nearer, tied = others[d[i, others] < kth], others[d[i, others] == kth]
        share = (k - len(nearer)) / len(tied)  # each tied image's part of a place
        own = np.sum(labels[nearer] == labels[i]) + share * np.sum(labels[tied] == labels[i])
        agreement.append(own / k)
    result = {
        "any_two_distance": any_two,
        "same_class_distance": np.mean(same),
        "neighbor_agreement": np.mean(agreement),
    }
    if view_paths is not None:
        per_image = [
            np.mean([(a != b).sum() for a, b in itertools.combinations(views, 2)])
            for views in view_paths
        ]
        result["view_distance"] = np.mean(per_image)
    return result


def test_identical_paths_carry_no_class_and_have_no_ratios():
    paths = np.tile([True, False, True], (40, 1))
    labels = np.repeat(np.arange(4), 10)
    result = routing_measures(paths, labels, np.tile(paths[:10, None], (1, 3, 1)))
    assert result["any_two_distance"] == 0 and result["same_class_distance"] == 0
    assert result["view_distance"] == 0
    assert result["same_class_ratio"] is None and result["view_ratio"] is None
    # Everyone is everyone's neighbour: the share of the own class among the others.
    assert result["neighbor_agreement"] == pytest.approx(9 / 39)


def test_one_path_per_class_is_fully_separated():
    codes = np.array([[0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=bool)
    labels = np.repeat(np.arange(3), 12)
    paths = codes[labels]
    views = np.stack([paths, paths], axis=1)
    result = routing_measures(paths, labels, views)
    assert result["same_class_distance"] == 0 and result["same_class_ratio"] == 0
    assert result["view_ratio"] == 0
    assert result["neighbor_agreement"] == 1
    # Two images of different classes differ in 3 (classes 0-1, 0-2) or 6 (1-2) blocks.
    different = (2 * 144 * 3 + 144 * 6) / (36 * 35 / 2)
    assert result["any_two_distance"] == pytest.approx(different)
    assert result["class_mean_distance"] == pytest.approx(np.mean([3, 4.5, 4.5]))


def test_random_paths_sit_at_chance():
    rng = np.random.default_rng(0)
    paths = rng.random((3000, 16)) > 0.5
    labels = rng.integers(0, 4, 3000)
    views = rng.random((200, 4, 16)) > 0.5
    result = routing_measures(paths, labels, views)
    assert result["any_two_distance"] == pytest.approx(8, abs=0.1)
    assert result["same_class_ratio"] == pytest.approx(1, abs=0.02)
    assert result["view_ratio"] == pytest.approx(1, abs=0.03)
    assert result["neighbor_agreement"] == pytest.approx(0.25, abs=0.02)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_measures_equal_their_pairwise_definitions(seed):
    rng = np.random.default_rng(seed)
    centres = rng.random((5, 12)) > 0.5
    labels = rng.integers(0, 3, 150)
    paths = centres[rng.integers(0, 5, 150)] ^ (rng.random((150, 12)) < 0.1)
    paths[labels == 2] |= centres[0]  # some class structure, many ties
    view_paths = paths[:30, None] ^ (rng.random((30, 3, 12)) < 0.1)
    result = routing_measures(paths, labels, view_paths)
    expected = brute_force(paths, labels, view_paths)
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, abs=1e-9), name
    assert result["same_class_ratio"] == pytest.approx(
        expected["same_class_distance"] / expected["any_two_distance"]
    )
    assert result["view_ratio"] == pytest.approx(
        expected["view_distance"] / expected["any_two_distance"]
    )


def test_neighbor_agreement_on_a_subset_of_queries_estimates_the_whole(monkeypatch):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, 4000)
    paths = (rng.random((4000, 10)) < 0.2 + 0.12 * labels[:, None]) & (rng.random(10) > 0.2)
    exact = neighbor_agreement(paths, labels)
    monkeypatch.setattr(measures, "KNN_MAX_QUERIES", 1500)
    assert neighbor_agreement(paths, labels) == pytest.approx(exact, abs=0.02)


def test_every_measure_is_defined_once_with_its_direction():
    result = routing_measures(np.eye(6, dtype=bool), np.arange(6) % 2, np.ones((2, 2, 6), bool))
    assert set(result) == set(MEASURES)
    assert all(m.better in ("lower", "higher") and m.description for m in MEASURES.values())


def test_older_metric_names_are_upgraded_and_redefined_measures_left_out():
    old = {"accuracy": 0.9, "consistency": 0.7, "diversity": 2.1, "neighbor_agreement": 0.5}
    assert upgrade_metrics(old) == {
        "accuracy": 0.9,
        "view_distance": 0.7,
        "any_two_distance": 2.1,
    }
    new = {"accuracy": 0.9, "neighbor_agreement": 0.4, "measures_version": 2}
    assert upgrade_metrics(new) == new


def _tie_inclusive_agreement(paths, labels, k=10):
    """Version 1 of neighbor_agreement: every image tied at the k-th distance counted."""
    d = (paths[:, None, :] != paths[None, :, :]).sum(axis=2)
    shares = []
    for i in range(len(paths)):
        others = np.delete(np.arange(len(paths)), i)
        near = others[d[i, others] <= np.sort(d[i, others])[k - 1]]
        shares.append(np.mean(labels[near] == labels[i]))
    return float(np.mean(shares))


def few_or_many_paths(many: bool, seed: int):
    """400 images of 10 classes whose class structure lives in 8 code bits (each class
    owns 4 of 40 codes; 60% of images take one of their class's codes, the rest any),
    each bit repeated 3 times; then 2 bits that are constant (few distinct paths: 40 at
    most) or random per image (many: each code's path splits in four). The class
    information is the same in both."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), 40)
    codes = rng.random((40, 8)) > 0.5
    own = labels * 4 + rng.integers(0, 4, len(labels))
    code = np.where(rng.random(len(labels)) < 0.6, own, rng.integers(0, 40, len(labels)))
    extra = rng.random((len(labels), 2)) > 0.5
    paths = np.concatenate([np.repeat(codes[code], 3, axis=1), extra & many], axis=1)
    return paths, labels


def test_class_information_measures_do_not_move_with_the_number_of_distinct_paths():
    new, old, probe = [], [], []
    for seed in range(3):
        few, many = few_or_many_paths(False, seed), few_or_many_paths(True, seed)
        assert len(np.unique(many[0], axis=0)) > 3 * len(np.unique(few[0], axis=0))
        new.append(neighbor_agreement(*few) - neighbor_agreement(*many))
        old.append(_tie_inclusive_agreement(*few) - _tie_inclusive_agreement(*many))
        probe.append(probe_accuracy(*few) - probe_accuracy(*many))
    assert max(map(abs, new)) < 0.01, new
    # The definition it replaces moved with the paths: fewer paths, lower agreement.
    assert all(d < -0.02 for d in old), old
    assert abs(np.mean(probe)) < 0.03, probe


def test_the_ratios_move_with_bits_that_ignore_the_class():
    """What docs/research.md says they are biased by: repeating every bit leaves them, bits
    that vary independently of the class push them towards 1."""
    paths, labels = few_or_many_paths(False, 0)
    ratio = routing_measures(paths, labels)["same_class_ratio"]
    doubled = routing_measures(np.repeat(paths, 2, axis=1), labels)["same_class_ratio"]
    noisy = np.concatenate([paths, np.random.default_rng(1).random((400, 24)) > 0.5], axis=1)
    assert doubled == pytest.approx(ratio)
    assert routing_measures(noisy, labels)["same_class_ratio"] > ratio + 0.05


def views_of(paths, flipping, seed=0, views=4):
    """Each image's augmented views: its path with the bits ``flipping`` drawn at random
    for every view (the bits views disagree on), the others kept."""
    rng = np.random.default_rng(seed)
    view_paths = np.repeat(paths[:, None, :], views, axis=1)
    view_paths[:, :, flipping] = rng.random((len(paths), views, len(flipping))) > 0.5
    return view_paths


def test_the_view_ratio_falls_with_bits_an_images_views_share():
    """What docs/research.md says the view ratio is biased by. Views flip the same bits
    as often in both cases (equal view distance), but where each path splits in four on
    two bits that differ from image to image and that an image's views keep, the any-two
    distance grows and the ratio falls: more distinct paths held by their views read as
    more consistent. Bits that are constant or repeated leave it; bits that views
    disagree on raise it."""
    flipping = [0, 1, 2]  # one code bit's three copies
    few, labels = few_or_many_paths(False, 0)
    many, _ = few_or_many_paths(True, 0)
    on_few = routing_measures(few, labels, views_of(few, flipping))
    on_many = routing_measures(many, labels, views_of(many, flipping))
    assert on_many["view_distance"] == on_few["view_distance"]
    assert on_many["view_ratio"] < 0.95 * on_few["view_ratio"]  # 0.118 against 0.128
    trimmed = routing_measures(few[:, :-2], labels, views_of(few[:, :-2], flipping))
    assert trimmed["view_ratio"] == pytest.approx(on_few["view_ratio"])  # constant bits
    doubled = np.repeat(few, 2, axis=1)
    twice = routing_measures(doubled, labels, np.repeat(views_of(few, flipping), 2, axis=2))
    assert twice["view_ratio"] == pytest.approx(on_few["view_ratio"])
    unsteady = routing_measures(few, labels, views_of(few, [0, 1, 2, 3, 4, 5]))
    assert unsteady["view_ratio"] > on_few["view_ratio"] + 0.05


def test_the_probe_reads_a_path_per_class_fully_and_identical_paths_at_chance():
    codes = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]], dtype=bool)
    labels = np.repeat(np.arange(4), 10)
    assert probe_accuracy(codes[labels], labels) == 1.0
    # Nothing to read: every fold predicts one class, right for a quarter of its images.
    assert probe_accuracy(np.zeros((40, 4), dtype=bool), labels) == pytest.approx(0.25)
    assert probe_accuracy(codes[:2], np.array([0, 1])) is None  # one image a class


def test_the_research_page_defines_every_measure_under_its_name():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "research.md").read_text()
    for measure in MEASURES.values():
        assert f"| `{measure.name}` | {measure.unit} | {measure.better} |" in page, measure.name
