"""Dataset loaders on files written here in each dataset's real on-disk format."""

import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from tests.cifar_files import write_cifar10
from trainer.data import DatasetError, ViewsDataset, build_transform, load_dataset
from trainer.engine import flatten_views


def test_cifar10_loader_reads_the_python_batches(tmp_path):
    folder = write_cifar10(tmp_path)
    bundle = load_dataset("cifar10", tmp_path)
    assert len(bundle.train) == 20 and len(bundle.test) == 4
    assert bundle.class_names[3] == "cat"
    image, label = bundle.train[0]
    with open(folder / "data_batch_1", "rb") as f:
        raw = pickle.load(f)
    # Rows are 1024 red, 1024 green, 1024 blue values, each row-major 32x32.
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8
    assert image[1, 2, 5] == raw["data"][0][1024 + 2 * 32 + 5]
    assert label == raw["labels"][0]
    x = build_transform(bundle.preprocessing, train=True)(image)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32


def test_cifar100_loader_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("train", 6), ("test", 3)):
        with open(folder / name, "wb") as f:
            pickle.dump(
                {
                    "fine_labels": rng.integers(0, 100, n).tolist(),
                    "coarse_labels": rng.integers(0, 20, n).tolist(),
                    "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                },
                f,
            )
    with open(folder / "meta", "wb") as f:
        pickle.dump(
            {
                "fine_label_names": [f"c{i}" for i in range(100)],
                "coarse_label_names": [f"s{i}" for i in range(20)],
            },
            f,
        )
    bundle = load_dataset("cifar100", tmp_path)
    assert len(bundle.class_names) == 100 and len(bundle.train) == 6 and len(bundle.test) == 3


def test_svhn_loader_reads_mat_files_and_maps_ten_to_zero(tmp_path):
    from scipy.io import savemat

    root = tmp_path / "svhn"
    root.mkdir()
    rng = np.random.default_rng(2)
    for split, n in (("train", 5), ("test", 2)):
        labels = np.array([[10], [1], [9], [10], [3]][:n], dtype=np.uint8)
        savemat(
            root / f"{split}_32x32.mat",
            {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8), "y": labels},
        )
    bundle = load_dataset("svhn", tmp_path)
    assert [bundle.train[i][1] for i in range(5)] == [0, 1, 9, 0, 3]
    assert bundle.train[0][0].shape == (3, 32, 32)


def test_imagefolder_loader(tmp_path):
    for split in ("train", "val"):
        for cls in ("cats", "dogs"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / split / cls / "a.png")
    bundle = load_dataset("imagefolder", tmp_path, image_size=24)
    assert bundle.class_names == ["cats", "dogs"]
    image, _ = bundle.test[0]
    assert build_transform(bundle.preprocessing, train=False)(image).shape == (3, 24, 24)
    assert build_transform(bundle.preprocessing, train=True)(image).shape == (3, 24, 24)


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "svhn"])
def test_missing_dataset_names_the_download_command(tmp_path, name):
    with pytest.raises(DatasetError, match=f"--dataset {name} .*--download"):
        load_dataset(name, tmp_path)


def test_corrupt_cifar_batch_is_a_clear_error(tmp_path):
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"this is not a pickle")
    with pytest.raises(DatasetError, match="data_batch_3"):
        load_dataset("cifar10", tmp_path)


def test_imagefolder_without_val_says_what_is_expected(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="val"):
        load_dataset("imagefolder", tmp_path)


def test_unknown_dataset():
    with pytest.raises(DatasetError, match="digits"):
        load_dataset("mnist")


def test_digits_split_is_fixed_and_stratified():
    first, second = load_dataset("digits"), load_dataset("digits")
    assert len(first.train) == 1437 and len(first.test) == 360
    assert torch.equal(first.test.images, second.test.images)
    counts = torch.bincount(first.test.labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    assert first.preprocessing["ink"] == "light_on_dark"


@pytest.mark.parametrize("views", [1, 2, 3])
def test_views_of_an_image_are_adjacent_after_flattening(views):
    bundle = load_dataset("digits")
    dataset = ViewsDataset(bundle.train, build_transform(bundle.preprocessing, train=True), views)
    batch = [dataset[i] for i in range(4)]
    images = torch.stack([b[0] for b in batch])
    labels = torch.tensor([b[1] for b in batch])
    flat_images, flat_labels = flatten_views(images, labels)
    assert flat_images.shape == (4 * views, 1, 16, 16)
    assert flat_labels.tolist() == [b[1] for b in batch for _ in range(views)]
    if views > 1:  # independent augmentations: the views differ
        assert not torch.equal(flat_images[0], flat_images[1])


def _image_tree(root, classes=("cats", "dogs")):
    for split in ("train", "val"):
        for cls in classes:
            (root / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (40, 30), (200, 10 * i, 10)).save(root / split / cls / f"{i}.png")


def test_corrupt_images_stop_imagefolder_before_training_naming_them(tmp_path):
    _image_tree(tmp_path)
    (tmp_path / "val" / "dogs" / "garbage.png").write_bytes(b"not an image at all")
    whole = (tmp_path / "train" / "cats" / "0.png").read_bytes()
    (tmp_path / "train" / "cats" / "cut.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match="2 unreadable image") as error:
        load_dataset("imagefolder", tmp_path, image_size=24)
    assert "garbage.png" in str(error.value) and "cut.png" in str(error.value)


def test_an_image_that_fails_only_when_decoded_is_named(tmp_path):
    _image_tree(tmp_path)
    photo = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(photo, format="JPEG")
    # Header intact, data cut: verification passes, decoding does not.
    (tmp_path / "val" / "dogs" / "cut.jpg").write_bytes(photo.getvalue()[:-5000])
    bundle = load_dataset("imagefolder", tmp_path, image_size=24)
    index = [path for path, _ in bundle.test.samples].index(str(tmp_path / "val/dogs/cut.jpg"))
    with pytest.raises(DatasetError, match="cut.jpg"):
        bundle.test[index]


def test_imagefolder_needs_two_classes(tmp_path):
    _image_tree(tmp_path, classes=("cats",))
    with pytest.raises(DatasetError, match="at least two class folders.*found 1"):
        load_dataset("imagefolder", tmp_path, image_size=24)
