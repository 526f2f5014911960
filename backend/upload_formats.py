"""How an upload becomes a raw sample of a model's dataset, one format per kind of
dataset, so that the network sees an upload as it saw its training images.

A format says how large the decoded image must stay (decoding may shrink it down to
that), why an image may be far from the dataset's (warnings; it is routed all the same)
and how it is made into the dataset's raw format: a uint8 (C, H, W) tensor, which the
dataset's own transform (``trainer.data.build_transform``) then prepares.
"""

import numpy as np
import torch
from PIL import Image, ImageOps

from backend.digit_photos import DigitPhoto


class SmallSquare:
    """CIFAR and SVHN: small square photos. The shorter side is scaled to the image
    size, then the centre is cropped."""

    def needed_side(self, preprocessing: dict) -> int:
        return preprocessing["image_size"]

    def warnings(self, image: Image.Image) -> list[str]:
        return []

    def to_dataset_format(self, image: Image.Image, preprocessing: dict) -> torch.Tensor:
        size = preprocessing["image_size"]
        fitted = ImageOps.fit(
            _channels(image, preprocessing), (size, size), Image.Resampling.BILINEAR
        )
        return _as_tensor(fitted)


class ImageFolder(SmallSquare):
    """A folder of photos of any size: kept whole, as the dataset's transform resizes
    and crops each of its own images."""

    def needed_side(self, preprocessing: dict) -> int:
        return preprocessing["resize"]

    def to_dataset_format(self, image: Image.Image, preprocessing: dict) -> torch.Tensor:
        return _as_tensor(_channels(image, preprocessing))


FORMATS = {"digits": DigitPhoto(), "imagefolder": ImageFolder()}
DEFAULT = SmallSquare()


def format_for(preprocessing: dict):
    """The upload format of the dataset a model was trained on."""
    return FORMATS.get(preprocessing["dataset"], DEFAULT)


def _channels(image: Image.Image, preprocessing: dict) -> Image.Image:
    return image.convert("L" if preprocessing["channels"] == 1 else "RGB")


def _as_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.reshape(array.shape[0], array.shape[1], -1).copy()).permute(
        2, 0, 1
    )
