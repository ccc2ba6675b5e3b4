"""The canvas functions' one error family: a ValueError whose text a member can read."""

from __future__ import annotations


class CanvasError(ValueError):
    """An image, mask or canvas option that can't be used; ``str(err)`` says why and what to
    do instead, in a member's words, for the caller to send as a refusal."""


class MaskError(CanvasError):
    """A mask that can't be used: not an image, the wrong shape, empty or full."""
