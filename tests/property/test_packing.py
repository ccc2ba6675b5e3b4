"""Properties of packing results into Discord messages, and of the parameters they carry."""

from __future__ import annotations

import io
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.images import encode_png
from bot.packing import (
    DOWNSCALE_QUALITY,
    JPEG_QUALITIES,
    MIN_SIDE,
    WEBP_QUALITIES,
    TooLarge,
    fit_image,
    pack,
    read_parameters,
)

MODES = {"RGB": 3, "RGBA": 4, "L": 1}
SIDES = st.integers(1, 300)


def _picture(mode: str, width: int, height: int, noisy: bool, seed: int) -> Image.Image:
    if noisy:  # noise barely compresses: the encodings that fit are the small ones
        data = random.Random(seed).randbytes(width * height * MODES[mode])
        return Image.frombytes(mode, (width, height), data)
    flat = random.Random(seed).randrange(256)
    return Image.new(mode, (width, height), (flat,) * MODES[mode] if MODES[mode] > 1 else flat)


PICTURES = st.builds(
    _picture, st.sampled_from(list(MODES)), SIDES, SIDES, st.booleans(), st.integers(0, 2**32)
)


def _plain_png(picture: Image.Image) -> bytes:
    """A PNG without parameters, so that every re-encoding of it carries no EXIF either."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _encoded(picture: Image.Image, image_format: str, quality: int) -> int:
    if image_format == "JPEG" and picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format=image_format, quality=quality, optimize=True)
    return len(buffer.getvalue())


def _last_resorts(png: bytes) -> int:
    """The smallest of the encodings fit_image documents as its last tries: WebP and JPEG at
    their lowest quality at full size, then JPEG with the shorter side scaled to MIN_SIDE."""
    with Image.open(io.BytesIO(png)) as picture:
        picture.load()
    sizes = [_encoded(picture, "WEBP", WEBP_QUALITIES[-1]), _encoded(picture, "JPEG", 40)]
    assert JPEG_QUALITIES[-1] == 40
    shorter = min(picture.size)
    if shorter > MIN_SIDE:
        scale = MIN_SIDE / shorter
        smaller = picture.resize(
            (max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
            Image.Resampling.LANCZOS,
        )
        sizes.append(_encoded(smaller, "JPEG", DOWNSCALE_QUALITY))
    return min(sizes)


UPLOADS = st.lists(st.tuples(PICTURES.map(_plain_png), st.booleans()), min_size=1, max_size=5)
LIMITS = st.integers(100, 300_000)
MAX_FILES = st.integers(1, 10)


def _named(uploads: list[tuple[bytes, bool]]) -> list[tuple[str, bytes, bool]]:
    return [(f"job-1-{n}", png, spoiler) for n, (png, spoiler) in enumerate(uploads)]


@given(UPLOADS, LIMITS, MAX_FILES)
@settings(max_examples=60, deadline=None)
def test_pack_never_puts_more_than_max_files_or_limit_bytes_in_a_message(
    uploads: list[tuple[bytes, bool]], limit: int, max_files: int
):
    try:
        messages = pack(_named(uploads), limit=limit, max_files=max_files)
    except TooLarge:
        return
    for message in messages:
        assert 1 <= len(message) <= max_files
        assert sum(len(upload.data) for upload in message) <= limit


@given(UPLOADS, LIMITS, MAX_FILES)
@settings(max_examples=60, deadline=None)
def test_pack_keeps_every_image_once_in_order_with_its_name_and_spoiler(
    uploads: list[tuple[bytes, bool]], limit: int, max_files: int
):
    images = _named(uploads)
    try:
        messages = pack(images, limit=limit, max_files=max_files)
    except TooLarge:
        return
    packed = [upload for message in messages for upload in message]
    assert [upload.index for upload in packed] == list(range(len(images)))
    assert [upload.spoiler for upload in packed] == [spoiler for _, _, spoiler in images]
    for upload, (stem, _, _) in zip(packed, images, strict=True):
        assert upload.filename.rsplit(".", 1)[0] == stem


@given(PICTURES.map(_plain_png), LIMITS)
@settings(max_examples=60, deadline=None)
def test_too_large_is_raised_only_when_even_the_last_resort_encoding_is_over_the_limit(
    png: bytes, limit: int
):
    try:
        fit_image(png, limit, stem="x")
    except TooLarge as err:
        assert err.limit == limit < err.smallest
        assert _last_resorts(png) > limit


PARAMETERS = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(["\x00", "🙂", "مرحبا", "\n", "Steps: 4", "ü"]), max_size=20).map(
        "".join
    ),
)


@given(PICTURES, PARAMETERS)
@settings(max_examples=60, deadline=None)
def test_read_parameters_returns_the_text_a_png_carries(picture: Image.Image, text: str):
    assert read_parameters(encode_png(picture, text)) == text


@given(PICTURES, PARAMETERS)
@settings(max_examples=40, deadline=None)
def test_a_re_encoded_png_keeps_its_parameters(picture: Image.Image, text: str):
    png = encode_png(picture, text)
    try:
        name, data = fit_image(png, len(png) - 1, stem="x")
    except TooLarge:
        return
    assert not name.endswith(".png")
    assert read_parameters(data) == text
