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
from trainer.data import build_transform

log = logging.getLogger(__name__)

ACCEPTED = "PNG, JPEG, GIF, BMP, TIFF or WebP"
DIGIT_WORKING_SIZE = 128
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
    """Decode an upload and prepare it as the model's dataset would (see
    ``to_dataset_format``), with ``views`` augmented views."""
    image = decode_image(data, limits.max_pixels, limits.max_bytes, needed_side(preprocessing))
    source = to_dataset_format(image, preprocessing)
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
PHOTO_MIDTONES = 0.35  # share of pixels between ink and paper in a photo, not a digit
PHOTO_CHROMA = 0.15  # mean colourfulness (0..1) of a colour photo
TONE_SAMPLE_SIDE = 64  # pixels a side that judge the tones and the colour


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
    if preprocessing["dataset"] == "digits" and _looks_like_a_photo(image):
        warnings.append(
            "This looks like a photo, not a digit drawn on plain paper: a digits model still "
            "names one of its ten digits, and the answer means little."
        )
    return warnings


def _looks_like_a_photo(image: Image.Image) -> bool:
    """A handwritten digit is ink on paper: two tones, little colour. A photo has many
    tones between its darkest and lightest pixels, or colour.

    It runs on the inference thread, before every upload's forward pass, so it looks at
    every n-th pixel only (at most ``TONE_SAMPLE_SIDE`` a side; taking pixels, not
    averaging them, keeps the tones as they are) and finds percentiles by histogram.
    """
    step = max(1, max(image.size) // TONE_SAMPLE_SIDE)
    if step > 1:
        size = (max(image.width // step, 1), max(image.height // step, 1))
        image = image.resize(size, Image.Resampling.NEAREST)
    if image.mode == "RGB":
        rgb = np.asarray(image, dtype=np.int16)
        if (rgb.max(axis=2) - rgb.min(axis=2)).mean() / 255 > PHOTO_CHROMA:
            return True
    gray = np.asarray(image.convert("L"))
    cumulative = np.bincount(gray.ravel(), minlength=256).cumsum()
    low, high = np.searchsorted(cumulative, [0.01 * cumulative[-1], 0.99 * cumulative[-1]])
    if high - low < 1:
        return False
    scaled = (gray - float(low)) / float(high - low)
    return float(((scaled > 0.2) & (scaled < 0.8)).mean()) > PHOTO_MIDTONES


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


def needed_side(preprocessing: dict) -> int:
    """The shortest side an upload needs before ``to_dataset_format`` shrinks it."""
    if preprocessing["dataset"] == "digits":
        return DIGIT_WORKING_SIZE
    if preprocessing["dataset"] == "imagefolder":
        return preprocessing["resize"]
    return preprocessing["image_size"]


def to_dataset_format(image: Image.Image, preprocessing: dict) -> torch.Tensor:
    """A uint8 (C, H, W) tensor that looks like a raw sample of the dataset."""
    channels = preprocessing["channels"]
    image = image.convert("L" if channels == 1 else "RGB")
    if preprocessing["dataset"] == "digits":
        # An 8x8 digit needs no more than this many pixels to find and average its ink.
        image.thumbnail((DIGIT_WORKING_SIZE, DIGIT_WORKING_SIZE), Image.Resampling.BOX)
        return _as_digit(np.asarray(image, dtype=np.float64), preprocessing)
    if preprocessing["dataset"] != "imagefolder":
        # CIFAR and SVHN samples are small and square: shorter side, then centre crop.
        size = preprocessing["image_size"]
        image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.reshape(array.shape[0], array.shape[1], -1).copy()).permute(
        2, 0, 1
    )


def _as_digit(gray: np.ndarray, preprocessing: dict) -> torch.Tensor:
    """A photo of a digit -> an 8x8 light-on-dark digit like scikit-learn's.

    Those digits are centred, scaled to fill the frame and drawn in light ink on a
    dark background, so a dark digit on paper is inverted, cropped to its ink and
    reduced to 8x8 by area averaging.
    """
    if preprocessing.get("ink") == "light_on_dark" and _border(gray).mean() > gray.mean():
        gray = 255 - gray
    # The background becomes 0 everywhere: under a lamp the paper is lighter on one side,
    # and a single background level would leave that side brighter than the ink.
    gray = np.clip(gray - _background(gray), 0, None)
    ink = gray > 0.3 * gray.max() if gray.max() > 0 else np.zeros_like(gray, dtype=bool)
    if ink.any():
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        # Like scikit-learn's digits: the ink fills the frame along its longer side.
        side = max(bottom - top, right - left)
        centre_y, centre_x = (top + bottom) / 2, (left + right) / 2
        padded = np.zeros((side, side))
        y0, x0 = int(round(centre_y - side / 2)), int(round(centre_x - side / 2))
        ys = slice(max(y0, 0), min(y0 + side, gray.shape[0]))
        xs = slice(max(x0, 0), min(x0 + side, gray.shape[1]))
        padded[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = gray[ys, xs]
        gray = padded
    size = preprocessing.get("source_size", 8)
    small = Image.fromarray(gray.astype(np.float32), "F").resize((size, size), Image.Resampling.BOX)
    small = np.asarray(small)
    small = small / small.max() * 255 if small.max() > 0 else small
    return torch.from_numpy(small.round().astype(np.uint8))[None]


BACKGROUND_ROUNDS = 5  # refits of the background, each without what stood above the last
INK_ABOVE_BACKGROUND = 3.0  # robust standard deviations above the background: ink
MIN_INK_STEP = 4.0  # grey levels: on clean paper (no noise) ink is what stands this high


def _background(gray: np.ndarray) -> np.ndarray:
    """The paper's light under the (light) ink: a quadratic surface in x and y, fitted to
    the pixels that are not ink. Lighting across a sheet of paper is smooth (a gradient,
    a vignette), so six terms follow it; the ink, above the surface, is left out of each
    refit by a robust threshold, so a digit however large does not lift the surface."""
    height, width = gray.shape
    ys, xs = np.mgrid[-1 : 1 : height * 1j, -1 : 1 : width * 1j]
    terms = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=-1).reshape(-1, 6)
    values = gray.reshape(-1)
    paper = np.ones(values.shape, dtype=bool)
    for _ in range(BACKGROUND_ROUNDS):
        coefficients, *_ = np.linalg.lstsq(terms[paper], values[paper], rcond=None)
        surface = terms @ coefficients
        residual = values - surface
        spread = 1.4826 * np.median(np.abs(residual[paper] - np.median(residual[paper])))
        still = residual < max(INK_ABOVE_BACKGROUND * spread, MIN_INK_STEP)
        if still.sum() < terms.shape[1] or np.array_equal(still, paper):
            break
        paper = still
    return surface.reshape(height, width)


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


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
