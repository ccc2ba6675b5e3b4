"""Latent previews a provider streams while it works: a nicety, so each is probed for its
size and format before it is decoded (with the bomb guard), and a flood of them is skipped
rather than decoded on the event loop: a burst, then a few a second."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

from PIL import Image

from engine.errors import ProviderError
from engine.remote.http import decode_image

MAX_PREVIEW_SIDE = 1024
PREVIEW_SHOWN = 512
FORMATS = ("JPEG", "PNG", "WEBP")
BURST = 16  # previews decoded back to back before the rate applies
PER_SECOND = 2.0

_now = time.monotonic


def preview_image(
    data: bytes, say: Callable[[str], str], formats: tuple[str, ...] = FORMATS
) -> Image.Image | None:
    """A preview decoded with the bomb guard, at most ``PREVIEW_SHOWN`` pixels a side;
    None (and no error) when it can't be read, is not one of ``formats`` or is too large."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if max(probe.size) > MAX_PREVIEW_SIDE or probe.format not in formats:
                return None
        image = decode_image(data, say)
    except (ProviderError, OSError, SyntaxError, ValueError):
        return None
    image.thumbnail((PREVIEW_SHOWN, PREVIEW_SHOWN))
    return image


class Previews:
    """One generation's previews, decoded at most ``BURST`` at once and ``PER_SECOND`` after."""

    def __init__(self, say: Callable[[str], str], formats: tuple[str, ...] = FORMATS) -> None:
        self._say = say
        self._formats = formats
        self._tokens = float(BURST)
        self._at: float | None = None

    def image(self, data: bytes) -> Image.Image | None:
        now = _now()
        if self._at is not None:
            self._tokens = min(float(BURST), self._tokens + (now - self._at) * PER_SECOND)
        self._at = now
        if self._tokens < 1:
            return None
        self._tokens -= 1
        return preview_image(data, self._say, self._formats)
