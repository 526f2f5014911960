"""Photographs of handwritten digits made into samples of scikit-learn's digits.

Those digits are 8x8, centred, scaled to fill the frame and drawn in light ink on a
dark background. A photo of a digit on paper is inverted where the ink is dark, the
paper's uneven lighting is taken out, and the ink is cropped and reduced to 8x8 by area
averaging. A photo that is not a digit on paper is routed all the same, with a warning.
"""

import numpy as np
import torch
from PIL import Image

# An 8x8 digit needs no more than this many pixels a side to find and average its ink.
WORKING_SIZE = 128
PHOTO_MIDTONES = 0.35  # share of pixels between ink and paper in a photo, not a digit
PHOTO_CHROMA = 0.15  # mean colourfulness (0..1) of a colour photo
TONE_SAMPLE_SIDE = 64  # pixels a side that judge the tones and the colour


class DigitPhoto:
    """The upload format of the ``digits`` dataset (see ``backend.upload_formats``)."""

    def needed_side(self, preprocessing: dict) -> int:
        return WORKING_SIZE

    def warnings(self, image: Image.Image) -> list[str]:
        if not _looks_like_a_photo(image):
            return []
        return [
            "This looks like a photo, not a digit drawn on plain paper: a digits model still "
            "names one of its ten digits, and the answer means little."
        ]

    def to_dataset_format(self, image: Image.Image, preprocessing: dict) -> torch.Tensor:
        image = image.convert("L")
        image.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.BOX)
        return _as_digit(np.asarray(image, dtype=np.float64), preprocessing)


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
BACKGROUND_FIT_PIXELS = 2_500  # about a 50x50 grid of the photo fits the lighting


def _background(gray: np.ndarray) -> np.ndarray:
    """The paper's light under the (light) ink: a quadratic surface in x and y, fitted to
    the pixels that are not ink. Lighting across a sheet of paper is smooth (a gradient,
    a vignette), so six terms follow it, and a grid of about ``BACKGROUND_FIT_PIXELS``
    pixels fits them as well as every pixel would (at a tenth of the time, on the
    inference thread); the ink, above the surface, is left out of each refit by a robust
    threshold, so a digit however large does not lift the surface."""
    height, width = gray.shape
    x, y = np.linspace(-1, 1, width)[None, :], np.linspace(-1, 1, height)[:, None]
    step = max(1, int(np.ceil(np.sqrt(height * width / BACKGROUND_FIT_PIXELS))))
    ys, xs = np.broadcast_arrays(y[::step], x[:, ::step])
    terms = _quadratic_terms(xs.reshape(-1), ys.reshape(-1))
    values = gray[::step, ::step].reshape(-1)
    paper = np.ones(values.shape, dtype=bool)
    for _ in range(BACKGROUND_ROUNDS):
        coefficients, *_ = np.linalg.lstsq(terms[paper], values[paper], rcond=None)
        residual = values - terms @ coefficients
        spread = 1.4826 * np.median(np.abs(residual[paper] - np.median(residual[paper])))
        still = residual < max(INK_ABOVE_BACKGROUND * spread, MIN_INK_STEP)
        if still.sum() < terms.shape[1] or np.array_equal(still, paper):
            break
        paper = still
    return sum(c * t for c, t in zip(coefficients, _quadratic_terms(x, y), strict=True))


def _quadratic_terms(x: np.ndarray, y: np.ndarray):
    """1, x, y, x², xy, y²: stacked as columns for 1-D ``x`` and ``y``, or as a tuple of
    broadcast planes for a row ``x`` and a column ``y``."""
    terms = np.broadcast_arrays(np.ones_like(x * y), x, y, x * x, x * y, y * y)
    return np.stack(terms, axis=-1) if x.ndim == 1 else terms


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
