"""The control map a job followed, kept beside its images as a small PNG so its result can show
what the model followed. A provider hands the map over as PNG bytes in
``GenerationResult.info[CONTROL_MAP]``; those bytes are a provider's, so they are decoded with
a pixel bound and re-encoded, and a map that won't decode is dropped, never the job."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)

CONTROL_MAP = "control_map"  # the key of ``GenerationResult.info`` carrying the map
MAP_SIDE = 256  # the preview's longest side
MAP_PIXELS = 4096 * 4096  # a map larger than this is not decoded


def map_path(folder: Path, job_id: int) -> Path:
    """Where a job's map preview is kept: in the job's results folder, so retention and
    forget-me remove it with the images."""
    return folder / f"{job_id}-map.png"


def map_preview(info: Mapping[str, Any]) -> bytes | None:
    """The map of a result's info as a small PNG; None where there is none or it won't
    decode."""
    data = info.get(CONTROL_MAP)
    if not isinstance(data, bytes | bytearray) or not data:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if width * height > MAP_PIXELS:
                    raise ValueError(f"{width}x{height} is too large a map")
                image = opened.convert("RGB")
    except Exception as err:  # a provider's bytes: anything may be wrong with them
        log.warning("Dropped a control map that would not decode: %s", err)
        return None
    image.thumbnail((MAP_SIDE, MAP_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
