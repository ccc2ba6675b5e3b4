"""Members' masks: read in any mode, made binary at the image's size, refused when unusable."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.canvas.masks import (
    THRESHOLD,
    MaskError,
    coverage,
    decode,
    encode,
    feather,
    invert,
    normalise,
    read,
)

SIZE = (64, 48)


def _half(mode: str, white: object, black: object, size: tuple[int, int] = SIZE) -> Image.Image:
    """Left half ``white``, right half ``black``."""
    mask = Image.new(mode, size, black)  # type: ignore[arg-type]
    mask.paste(white, (0, 0, size[0] // 2, size[1]))  # type: ignore[arg-type]
    return mask


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _is_left_half(mask: Image.Image, size: tuple[int, int] = SIZE) -> bool:
    expected = _half("L", 255, 0, size)
    return mask.mode == "L" and mask.size == size and mask.tobytes() == expected.tobytes()


@pytest.mark.parametrize(
    ("mode", "white", "black"),
    [
        ("L", 255, 0),
        ("1", 1, 0),
        ("RGB", (255, 255, 255), (0, 0, 0)),
        ("RGBA", (255, 255, 255, 255), (0, 0, 0, 255)),
        ("LA", (255, 255), (0, 255)),
        ("CMYK", (0, 0, 0, 0), (0, 0, 0, 255)),
        ("I;16", 65535, 0),
        ("I", 65535, 0),
        ("F", 1.0, 0.0),
    ],
)
def test_every_mode_reads_white_as_repaint(mode: str, white: object, black: object) -> None:
    assert _is_left_half(normalise(_half(mode, white, black), SIZE))


def test_transparent_counts_as_keep() -> None:
    strokes = _half("RGBA", (255, 255, 255, 255), (255, 255, 255, 0))
    assert _is_left_half(normalise(strokes, SIZE))


def test_a_palette_image_with_a_transparent_colour() -> None:
    palette = _half("P", 1, 0)
    palette.putpalette([255, 255, 255, 255, 255, 255])
    palette.info["transparency"] = 0
    assert _is_left_half(normalise(palette, SIZE))


def test_greys_split_at_the_threshold() -> None:
    mask = Image.new("L", (2, 1))
    mask.putdata([THRESHOLD - 1, THRESHOLD])
    assert list(normalise(mask, (2, 1)).tobytes()) == [0, 255]


def test_a_mask_of_the_same_shape_is_resized_and_stays_binary() -> None:
    mask = normalise(_half("L", 200, 30, (32, 24)), SIZE)
    assert _is_left_half(mask)


def test_a_mask_within_one_percent_of_the_shape_is_resized() -> None:
    mask = normalise(_half("L", 255, 0, (134, 100)), (200, 150))  # 1.340 against 1.333
    assert mask.size == (200, 150) and set(mask.tobytes()) == {0, 255}


def test_a_mask_of_another_shape_is_refused() -> None:
    with pytest.raises(MaskError, match=r"the mask is 64×64 pixels but the image is 64×48"):
        normalise(_half("L", 255, 0, (64, 64)), SIZE)


def test_an_empty_mask_is_refused() -> None:
    with pytest.raises(MaskError, match="nothing to repaint"):
        normalise(Image.new("L", SIZE, THRESHOLD - 1), SIZE)


def test_a_full_mask_is_refused() -> None:
    with pytest.raises(MaskError, match="repaint the whole image"):
        normalise(Image.new("RGB", SIZE, (255, 255, 255)), SIZE)


def test_invert_swaps_repaint_and_keep() -> None:
    mask = normalise(_half("L", 255, 0), SIZE)
    assert invert(mask).tobytes() == _half("L", 0, 255).tobytes()
    assert invert(invert(mask)).tobytes() == mask.tobytes()


def test_coverage_is_the_share_that_repaints() -> None:
    mask = Image.new("L", (10, 10))
    mask.paste(255, (0, 0, 10, 3))
    assert coverage(mask) == pytest.approx(0.3)


def test_encode_gives_a_greyscale_png_of_the_same_pixels() -> None:
    mask = normalise(_half("RGB", (255, 255, 255), (0, 0, 0)), SIZE)
    with Image.open(io.BytesIO(encode(mask))) as decoded:
        assert decoded.format == "PNG" and decoded.mode == "L"
        assert decoded.tobytes() == mask.tobytes()


def test_read_decodes_and_normalises_a_file() -> None:
    data = _png(_half("RGBA", (255, 255, 255, 255), (0, 0, 0, 0), (32, 24)))
    assert _is_left_half(read(data, SIZE, max_pixels=10_000))


@pytest.mark.parametrize("data", [b"", b"not an image", _png(Image.new("L", SIZE))[:60]])
def test_a_file_that_is_not_an_image_is_refused(data: bytes) -> None:
    with pytest.raises(MaskError, match="not an image, or it is damaged"):
        decode(data, max_pixels=10_000)


def test_a_file_too_large_is_refused_before_its_pixels_are_read() -> None:
    with pytest.raises(MaskError, match=r"64×48 pixels, too large"):
        decode(_png(Image.new("L", SIZE)), max_pixels=64 * 48 - 1)


def test_an_animation_is_refused() -> None:
    frames = [Image.new("L", SIZE, 0), Image.new("L", SIZE, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(MaskError, match="animation"):
        decode(buffer.getvalue(), max_pixels=10_000)


def test_feather_softens_the_edge_and_keeps_the_rest() -> None:
    mask = normalise(_half("L", 255, 0), SIZE)
    soft = feather(mask, 3)
    assert soft.getpixel((0, 10)) == 255 and soft.getpixel((SIZE[0] - 1, 10)) == 0
    assert 0 < soft.getpixel((SIZE[0] // 2, 10)) < 255  # type: ignore[operator]
    assert feather(mask, 0).tobytes() == mask.tobytes()
