"""The control map a provider hands back, as the small preview kept with a job."""

from __future__ import annotations

import io

from PIL import Image

from bot.control_maps import CONTROL_MAP, MAP_SIDE, map_preview


def encoded(size: tuple[int, int], mode: str = "RGB", kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, kind)
    return buffer.getvalue()


def test_a_map_becomes_a_small_rgb_png():
    preview = map_preview({CONTROL_MAP: encoded((1024, 512), "L", "JPEG")})
    assert preview is not None
    with Image.open(io.BytesIO(preview)) as shown:
        assert shown.format == "PNG" and shown.mode == "RGB"
        assert shown.size == (MAP_SIDE, MAP_SIDE // 2)


def test_a_small_map_is_not_enlarged():
    preview = map_preview({CONTROL_MAP: encoded((64, 48))})
    assert preview is not None
    with Image.open(io.BytesIO(preview)) as shown:
        assert shown.size == (64, 48)


def test_no_map_or_one_that_wont_decode_gives_none():
    assert map_preview({}) is None
    assert map_preview({CONTROL_MAP: "a string"}) is None
    assert map_preview({CONTROL_MAP: b""}) is None
    assert map_preview({CONTROL_MAP: b"\x89PNG\r\n\x1a\n broken"}) is None


def test_a_map_too_large_to_decode_is_dropped():
    assert map_preview({CONTROL_MAP: encoded((4097, 4096), "1")}) is None
