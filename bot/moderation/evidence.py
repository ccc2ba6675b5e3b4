"""What moderators see of a reported job's inputs: the member's own images (the image it
started from, an edit's further images, references, the control image), each labelled and
shrunk so a report post stays within Discord's upload limits."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image

from engine import GenerationRequest

log = logging.getLogger(__name__)

SIDE = 512  # the longest side of an image in a report
MAX_FILES = 9  # a message takes 10 files; the result takes one


@dataclass(frozen=True, slots=True)
class Exhibit:
    """One of the member's images in a report: ``slug`` names its file, ``label`` says what
    the job did with it."""

    slug: str
    label: str
    data: bytes


def member_images(request: GenerationRequest) -> list[Exhibit]:
    """The member's images a job was given, in the order the request holds them (not shrunk)."""
    found: list[Exhibit] = []
    if request.init_image is not None:
        found.append(Exhibit("input", "the image it started from", request.init_image))
    for index, data in enumerate(request.extra_images, start=2):
        found.append(Exhibit(f"input-{index}", f"edit image {index}", data))
    for index, (reference, data) in enumerate(
        zip(request.references, request.reference_images, strict=False), start=1
    ):
        label = f"reference {index} ({reference.kind.value}, weight {reference.weight:g})"
        found.append(Exhibit(f"reference-{index}", label, data))
    if request.control is not None and request.control_image is not None:
        label = f"control image ({request.control.kind.value.replace('_', ' ')})"
        found.append(Exhibit("control", label, request.control_image))
    return found


def report_exhibits(request: GenerationRequest, side: int = SIDE) -> list[Exhibit]:
    """``member_images`` shrunk to ``side`` pixels at most, as PNG, at most ``MAX_FILES``
    (blocking: run it in a thread). One that can't be read is left out, and logged."""
    shrunk = []
    for exhibit in member_images(request)[:MAX_FILES]:
        try:
            data = _shrink(exhibit.data, side)
        except Exception as err:  # stored re-encoded, so this is damage on disk or in the DB
            log.warning("A reported job's %s can't be read: %s", exhibit.label, err)
            continue
        shrunk.append(Exhibit(exhibit.slug, exhibit.label, data))
    return shrunk


def _shrink(data: bytes, side: int) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        small = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    small.thumbnail((side, side))
    buffer = io.BytesIO()
    small.save(buffer, "PNG")
    return buffer.getvalue()
