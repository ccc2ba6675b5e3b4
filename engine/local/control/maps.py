"""Control maps made without a model: edges (Canny), line art, and the member's own map, each
as an RGB picture at the generation size, white structure on black as ControlNets were
trained on. Pure functions of their input; numpy and scipy only."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from engine.errors import InvalidRequest

MAX_PIXELS = 4096 * 4096

CANNY_LOW = 100
CANNY_HIGH = 200
"""Hysteresis thresholds on the Sobel gradient magnitude of 0–255 grey, as OpenCV's
``Canny(image, 100, 200)`` that lllyasviel's ControlNet annotator uses: a pixel is an edge
above HIGH, and between LOW and HIGH where it joins one."""
CANNY_SIGMA = 1.0
"""The Gaussian blur before the gradient, against noise and JPEG blocks."""

LINEART_SIGMA = 6.0
"""The blur whose difference from the image is the line: sd-webui-controlnet's
"lineart_standard", which needs no model (dark lines on a light ground become white lines on
black, shading fades)."""


def decode(data: bytes, what: str = "control_image") -> Image.Image:
    """A member's image as RGB, upright; refused before decoding when too large."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise InvalidRequest(
                        what, None, f"it is {image.width}×{image.height} pixels, too large"
                    )
                image.load()
                upright = ImageOps.exif_transpose(image)
                return upright.convert("RGB")
    except InvalidRequest:
        raise
    except Exception:
        raise InvalidRequest(what, None, "it is not an image, or it is damaged") from None


def fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` covering ``size`` (width, height): scaled to cover, centre cropped, so the
    structure keeps its proportions as the generation's own canvas does."""
    return ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)


def as_is(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The member's ready map at the generation size."""
    return fit(image, size)


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)


def canny(
    image: Image.Image,
    size: tuple[int, int],
    low: float = CANNY_LOW,
    high: float = CANNY_HIGH,
) -> Image.Image:
    """Canny edges of ``image`` at ``size``: 255 on the one-pixel edges, 0 elsewhere."""
    if not 0 <= low <= high:
        raise ValueError(f"canny thresholds must be 0 <= low <= high, not {low}, {high}")
    grey = ndimage.gaussian_filter(_grey(fit(image, size)), CANNY_SIGMA)
    gx = ndimage.sobel(grey, axis=1)
    gy = ndimage.sobel(grey, axis=0)
    magnitude = np.hypot(gx, gy)
    thin = magnitude * _local_maximum(magnitude, gx, gy)
    strong = thin >= high
    weak = thin >= low
    # hysteresis: the weak pixels connected (8-way) to a strong one
    labels, count = ndimage.label(weak, structure=np.ones((3, 3)))
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    edges = keep[labels]
    return _white_on_black(edges.astype(np.uint8) * 255)


def _local_maximum(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Non-maximum suppression: where the magnitude is at least its two neighbours across the
    gradient, the direction rounded to 0°, 45°, 90° or 135°."""
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    sector = (np.round(angle / 45.0).astype(int)) % 4
    padded = np.pad(magnitude, 1)
    height, width = magnitude.shape

    def shifted(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    # sector 0: gradient along x; 1: along the diagonal y = x (rows down); 2: along y; 3: y = -x
    neighbours = {
        0: (shifted(0, 1), shifted(0, -1)),
        1: (shifted(1, 1), shifted(-1, -1)),
        2: (shifted(1, 0), shifted(-1, 0)),
        3: (shifted(1, -1), shifted(-1, 1)),
    }
    result = np.zeros_like(magnitude, dtype=bool)
    for index, (first, second) in neighbours.items():
        here = sector == index
        result |= here & (magnitude >= first) & (magnitude >= second)
    return result & (magnitude > 0)


def lineart(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Line art of ``image`` at ``size`` without a model: how much darker each pixel is than
    its blurred surroundings, darkest channel, normalised by the median line strength."""
    pixels = np.asarray(fit(image, size), dtype=np.float64)
    blurred = ndimage.gaussian_filter(pixels, (LINEART_SIGMA, LINEART_SIGMA, 0))
    intensity = np.min(blurred - pixels, axis=2).clip(0, 255)
    lines = intensity[intensity > 8]
    scale = max(16.0, float(np.median(lines))) if lines.size else 16.0
    result = (intensity / scale * 127.0).clip(0, 255).astype(np.uint8)
    return _white_on_black(result)


def _white_on_black(plane: np.ndarray) -> Image.Image:
    return Image.fromarray(plane).convert("RGB")


def encode(image: Image.Image) -> bytes:
    """A map as PNG bytes, for the result's preview."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
