"""Results that fit Discord's upload limits: re-encoded when too large, grids, files per message."""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import ExifTags, Image

from bot.errors import BotError
from bot.i18n import lazy_t
from bot.images import PARAMETERS_KEY

WEBP_QUALITIES = (90, 80, 70)
JPEG_QUALITIES = (85, 70, 55, 40)
DOWNSCALE_QUALITY = 70
WEBP_MAX_SIDE = 16383
MIN_SIDE = 64
UNICODE_PREFIX = b"UNICODE\x00"
ASCII_PREFIX = b"ASCII\x00\x00\x00"
FORMATS = {"webp": "WEBP", "jpg": "JPEG"}


@dataclass(frozen=True, slots=True)
class Upload:
    """One file of a message. ``spoiler`` is for ``discord.File(spoiler=...)``; ``index`` is the
    result image it shows, None for a grid."""

    filename: str
    data: bytes
    spoiler: bool = False
    index: int | None = None


class TooLarge(BotError):
    """No encoding of an image fits the limit; ``user_message`` says so in a member's words."""

    def __init__(self, *, stem: str, limit: int, smallest: int) -> None:
        self.stem = stem
        self.limit = limit
        self.smallest = smallest
        self.message = lazy_t(
            "An image is too large to upload here, even re-encoded and scaled down: the "
            "smallest version is {smallest} and the limit is {limit}.",
            smallest=_size(smallest),
            limit=_size(limit),
        )
        self.user_message = str(self.message)
        super().__init__(f"{stem}: {smallest} bytes at best, limit {limit}")


def fit_image(png: bytes, limit: int, *, stem: str) -> tuple[str, bytes]:
    """The PNG as it is when it fits; else WebP, then JPEG at falling qualities, then JPEG
    scaled down. The 'parameters' text travels in EXIF UserComment, as AUTOMATIC1111 writes it."""
    if len(png) <= limit:
        return f"{stem}.png", png
    image = Image.open(io.BytesIO(png))
    image.load()
    parameters = image.info.get(PARAMETERS_KEY)
    exif = _user_comment_exif(parameters) if isinstance(parameters, str) else b""
    attempts: list[tuple[str, int]] = []
    if max(image.size) <= WEBP_MAX_SIDE:
        attempts += [("webp", quality) for quality in WEBP_QUALITIES]
    attempts += [("jpg", quality) for quality in JPEG_QUALITIES]
    smallest = len(png)
    for extension, quality in attempts:
        data = _encode(image, extension, quality, exif)
        if len(data) <= limit:
            return f"{stem}.{extension}", data
        smallest = min(smallest, len(data))
    side, size = min(image.size), smallest
    while side > MIN_SIDE:
        step = max(0.5, min(0.9, 0.95 * math.sqrt(limit / size)))
        side = max(MIN_SIDE, math.floor(side * step))
        scale = side / min(image.size)
        smaller = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
            Image.Resampling.LANCZOS,
        )
        data = _encode(smaller, "jpg", DOWNSCALE_QUALITY, exif)
        if len(data) <= limit:
            return f"{stem}.jpg", data
        size = len(data)
        smallest = min(smallest, size)
    raise TooLarge(stem=stem, limit=limit, smallest=smallest)


def read_parameters(data: bytes) -> str | None:
    """The generation parameters of a PNG, WebP or JPEG this module (or the web UIs) wrote."""
    with Image.open(io.BytesIO(data)) as image:
        text = image.info.get(PARAMETERS_KEY)
        if isinstance(text, str):
            return text
        comment = image.getexif().get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.UserComment)
    if comment is None or isinstance(comment, str):
        return comment
    raw = bytes(comment)
    if raw.startswith(UNICODE_PREFIX):
        return raw[len(UNICODE_PREFIX) :].decode("utf-16-be", errors="replace")
    if raw.startswith(ASCII_PREFIX):
        raw = raw[len(ASCII_PREFIX) :]
    return raw.decode("utf-8", errors="replace").rstrip("\x00")


def grid(pngs: Sequence[bytes]) -> bytes:
    """One PNG tiling the images, each centred in a cell the size of the largest."""
    if not pngs:
        raise ValueError("a grid needs at least one image")
    images = [Image.open(io.BytesIO(png)) for png in pngs]
    cell_width = max(image.width for image in images)
    cell_height = max(image.height for image in images)
    columns = _columns(len(images))
    rows = math.ceil(len(images) / columns)
    mode = "RGBA" if any(_has_alpha(image) for image in images) else "RGB"
    canvas = Image.new(mode, (columns * cell_width, rows * cell_height))
    for position, image in enumerate(images):
        row, column = divmod(position, columns)
        left = column * cell_width + (cell_width - image.width) // 2
        top = row * cell_height + (cell_height - image.height) // 2
        canvas.paste(image.convert(mode), (left, top))
        image.close()
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", compress_level=4)
    return buffer.getvalue()


def pack(
    images: Sequence[tuple[str, bytes, bool]], *, limit: int, max_files: int = 10
) -> list[list[Upload]]:
    """Fit each image, then fill messages in order: at most ``max_files`` files and ``limit``
    bytes in all per message."""
    messages: list[list[Upload]] = []
    current: list[Upload] = []
    total = 0
    for index, (stem, png, spoiler) in enumerate(images):
        filename, data = fit_image(png, limit, stem=stem)
        if current and (len(current) >= max_files or total + len(data) > limit):
            messages.append(current)
            current, total = [], 0
        current.append(Upload(filename, data, spoiler, index))
        total += len(data)
    if current:
        messages.append(current)
    return messages


def _encode(image: Image.Image, extension: str, quality: int, exif: bytes) -> bytes:
    if extension == "jpg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif extension == "webp" and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=FORMATS[extension], quality=quality, exif=exif, optimize=True)
    return buffer.getvalue()


def _user_comment_exif(text: str) -> bytes:
    """A big-endian EXIF block holding only UserComment, typed UNDEFINED as the EXIF spec and
    piexif expect; Pillow's own writer would type raw bytes as BYTE, which piexif reads as ints."""
    comment = UNICODE_PREFIX + text.encode("utf-16-be")
    ifd0 = 8
    exif_ifd = ifd0 + 2 + 12 + 4
    value = exif_ifd + 2 + 12 + 4
    return (
        b"Exif\x00\x00MM\x00\x2a"
        + struct.pack(">I", ifd0)
        + struct.pack(">HHHIII", 1, ExifTags.IFD.Exif, 4, 1, exif_ifd, 0)
        + struct.pack(">HHHIII", 1, ExifTags.Base.UserComment, 7, len(comment), value, 0)
        + comment
    )


def _columns(count: int) -> int:
    if count == 1:
        return 1
    if count <= 4:
        return 2
    return math.ceil(math.sqrt(count))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _size(count: int) -> str:
    if count >= 2**20:
        return f"{count / 2**20:.1f} MB"
    if count >= 2**10:
        return f"{count / 2**10:.0f} KB"
    return f"{count} bytes"
