"""What /imagine's typed options mean: LoRA lists, and sizes from an aspect ratio."""

from __future__ import annotations

import math
import re

from engine import InvalidRequest, LoraRef

ASPECTS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "9:21")
LORA_PATTERN = re.compile(r"^\s*([^:,]+?)\s*(?::\s*(-?\d+(?:\.\d+)?))?\s*$")


def parse_loras(text: str | None) -> tuple[LoraRef, ...]:
    if not text or not text.strip():
        return ()
    loras = []
    for part in text.split(","):
        match = LORA_PATTERN.match(part)
        if match is None or not match[1].strip():
            raise InvalidRequest(
                "loras", part.strip(), "write name:weight pairs separated by commas"
            )
        weight = float(match[2]) if match[2] is not None else 1.0
        if not math.isfinite(weight):
            raise InvalidRequest("loras", part.strip(), "use a weight from -2 to 2")
        loras.append(LoraRef(match[1].strip(), weight))
    return tuple(loras)


def aspect_size(aspect: str, area: int, multiple: int = 64) -> tuple[int, int]:
    """A width and height with this aspect ratio and about this many pixels."""
    across, down = (int(part) for part in aspect.split(":"))
    width = math.sqrt(area * across / down)
    height = width * down / across
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )
