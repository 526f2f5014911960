"""Decoding uploaded images safely, preparing them like the dataset, and thumbnails."""

import io
import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from backend.errors import InvalidInput, ServiceError, TooLarge, UnsupportedImage
from backend.upload_formats import format_for
from trainer.data import build_transform

log = logging.getLogger(__name__)

ACCEPTED = "PNG, JPEG, GIF, BMP, TIFF or WebP"
MIB = 2**20


@dataclass
class Limits:
    """What decoding one upload may cost (the server's settings)."""

    max_pixels: int
    max_bytes: int


@dataclass
class PreparedUpload:
    """An upload made ready for a model: ``source``, the image in the dataset's raw
    format (kept to route it again without decoding it again); ``inputs``, the network's
    rows (the image, then its augmented views); and why it may be far from the training
    images."""

    source: torch.Tensor
    inputs: torch.Tensor
    warnings: list[str]

    def with_views(self, preprocessing: dict, views: int) -> "PreparedUpload":
        """The same upload with ``views`` augmented views instead."""
        return PreparedUpload(
            self.source, with_views(self.source, preprocessing, views), self.warnings
        )


def prepare_upload(data: bytes, preprocessing: dict, limits: Limits, views: int) -> PreparedUpload:
    """Decode an upload and make it a raw sample of the model's dataset (the dataset's
    ``backend.upload_formats`` format), with ``views`` augmented views."""
    upload_format = format_for(preprocessing)
    needed = upload_format.needed_side(preprocessing)
    image = decode_image(data, limits.max_pixels, limits.max_bytes, needed)
    source = upload_format.to_dataset_format(image, preprocessing)
    return PreparedUpload(
        source, with_views(source, preprocessing, views), domain_warnings(image, preprocessing)
    )


def with_views(source, preprocessing: dict, views: int) -> torch.Tensor:
    """An image in its dataset's raw format as the model's input, then ``views``
    augmented views of it (the training augmentation), the same ones for the same image."""
    batch = [build_transform(preprocessing, train=False)(source)]
    if views:
        augment = build_transform(preprocessing, train=True)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            batch += [augment(source) for _ in range(views)]
    return torch.stack(batch)


def decode_image(
    data: bytes, max_pixels: int, max_bytes: int, needed_side: int | None = None
) -> Image.Image:
    """Bytes -> an upright RGB or L image; anything else is refused: empty
    (``InvalidInput``), too large to decode (``TooLarge``) or not decodable
    (``UnsupportedImage``).

    What decoding costs is bounded from the header, before any pixel is decoded: at
    most ``max_pixels`` pixels, and at most ``max_bytes`` of memory for them (a 16-bit
    pixel takes twice an 8-bit one). With ``needed_side``, a JPEG may be decoded at 1/2,
    1/4 or 1/8 scale (libjpeg scales in the DCT, which is cheaper than decoding every
    pixel), and any image is then shrunk by a whole factor, as long as both sides stay
    at least that long: the dataset's preparation shrinks it further anyway, and every
    conversion after this works on the fewer pixels.
    """
    if not data:
        raise InvalidInput("the uploaded file is empty")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A process-wide switch another library may turn on; with it, Pillow pads a
        # truncated upload with blank pixels instead of failing, and it gets routed.
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES was on: turned off")
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        # Pillow checks pixel counts against its own global; check ours before decoding.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise TooLarge(
                    f"image is {width}x{height} pixels; at most {max_pixels:,} are accepted"
                )
            if image.format in ("JPEG", "MPO"):
                _check_jpeg_data(image, data)
            image.seek(0)  # the first frame of an animation
            if image.format in ("JPEG", "MPO") and needed_side is not None:
                image.draft(image.mode, (needed_side, needed_side))
            _check_memory(image, max_bytes)
            image.load()
            # Upright first: shrinking rounds between its horizontal and vertical
            # passes, so an image and its EXIF-rotated copy must be shrunk alike.
            image = ImageOps.exif_transpose(image)
            if needed_side is not None:
                image = _reduce(image, needed_side)
    except ServiceError:
        raise
    except Image.DecompressionBombError as error:
        raise TooLarge(f"image refused as a decompression bomb: {error}") from None
    except UnidentifiedImageError:
        raise UnsupportedImage(f"not a decodable image; send {ACCEPTED}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise UnsupportedImage(f"the image is corrupt or truncated ({error})") from None
    return _to_rgb_or_l(image)


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow holds per pixel: 1 byte for 1, L and P, 2 for 16-bit modes, and 4 for
    every other mode (it pads three 8-bit bands to four)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _check_memory(image: Image.Image, max_bytes: int) -> None:
    """Refuse an image whose decoded pixels (at the size it will be decoded at) would
    take more than ``max_bytes``."""
    needed = image.width * image.height * _bytes_per_pixel(image.mode)
    if needed > max_bytes:
        raise TooLarge(
            f"a {image.width}x{image.height} {image.mode} image takes {needed / MIB:.0f} MiB "
            f"to decode; at most {max_bytes / MIB:.0f} MiB are accepted "
            "(send fewer pixels, or 8 bits per channel)",
        )


def _check_jpeg_data(image: Image.Image, data: bytes) -> None:
    """Refuse a JPEG whose data after its header is too short for the pixels it declares.

    libjpeg decodes a scan that ends early (a header, then the end-of-image marker) with
    a warning Pillow does not pass on, as a blank image. A Huffman-coded scan spends at
    least one bit per 8x8 block on its DC coefficient, which bounds it from below.
    """
    scan = len(data) - _scan_start(data)
    blocks = math.ceil(image.width / 8) * math.ceil(image.height / 8)
    if scan * 8 < blocks:
        raise UnsupportedImage(
            f"the image is corrupt or truncated: {scan:,} bytes of JPEG data cannot hold "
            f"{image.width}x{image.height} pixels",
        )


def _scan_start(data: bytes) -> int:
    """Where the first scan of a JPEG begins: after the segments before it, each of
    which gives its length (an EXIF thumbnail inside one is skipped with it). When the
    walk does not find it, 2: everything after the start-of-image marker counts."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before a marker
            at += 1
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if marker == 0xDA:  # start of scan
            return at
    return 2


def _reduce(image: Image.Image, needed_side: int) -> Image.Image:
    """Shrink by the largest whole factor that keeps both sides at least ``needed_side``
    (box filter; palette and bilevel images take the nearest pixel)."""
    factor = min(image.size) // needed_side
    if factor < 2:
        return image
    return image.resize((image.width // factor, image.height // factor), Image.Resampling.BOX)


def _to_rgb_or_l(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # High bit depth: rescale to 8 bits instead of clipping at 255.
        values = np.asarray(image, dtype=np.float64)
        low, high = values.min(), values.max()
        scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
        return Image.fromarray(scaled.round().astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent pixels become white paper.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode == "L":
        return image
    return image.convert("RGB")


# Bounds of "far outside the training domain", for warnings only (nothing is refused).
SMALLEST_SIDE = 8  # pixels: below this the image is mostly invented by resizing
WIDEST_ASPECT = 3.0  # longer side over shorter: past this, much is cropped or squeezed


def domain_warnings(image: Image.Image, preprocessing: dict) -> list[str]:
    """Why an upload may be far from what the model was trained on, in words; the image
    is routed all the same. ``image`` is the decoded upload (shrunk by a whole factor at
    most, so its shape is the original's)."""
    warnings = []
    width, height = image.size
    if min(width, height) < SMALLEST_SIDE:
        warnings.append(
            f"The image is only {width}x{height} pixels: the network's "
            f"{preprocessing['image_size']}x{preprocessing['image_size']} input is mostly "
            "made up by resizing it."
        )
    aspect = max(width, height) / max(min(width, height), 1)
    if aspect > WIDEST_ASPECT:
        warnings.append(
            f"One side of the image is {aspect:.1f} times the other, unlike the square "
            "training images: the network sees a square made from part of it."
        )
    return warnings + format_for(preprocessing).warnings(image)


def network_input_png(inputs: torch.Tensor, preprocessing: dict) -> bytes:
    """PNG of what the network received: a (C, H, W) normalised input, un-normalised."""
    mean = torch.tensor(preprocessing["mean"]).view(-1, 1, 1)
    std = torch.tensor(preprocessing["std"]).view(-1, 1, 1)
    pixels = (inputs.float().cpu() * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    array = pixels.permute(1, 2, 0).numpy()
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def thumbnail_png(sample, max_side: int = 64) -> bytes:
    """PNG of a dataset sample (uint8 tensor or PIL image), scaled to ``max_side``."""
    if isinstance(sample, torch.Tensor):
        array = sample.permute(1, 2, 0).numpy()
        image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    else:
        image = sample
    scale = max_side / max(image.size)
    size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
    # Tiny images (8x8 digits) stay crisp; photos are smoothed.
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS
    out = io.BytesIO()
    image.resize(size, resample).save(out, format="PNG")
    return out.getvalue()
