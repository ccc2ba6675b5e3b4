"""References and control for a member's request: results from their own history named by job
and image, and what the chosen model follows, refused up front naming the models that can."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
from discord.app_commands import Choice

from bot.errors import Refusal
from bot.retention import ResultExpired, images_expired, input_expired
from cogs.attachments import AttachmentReader
from cogs.catalogue import Catalogue
from cogs.common import runtime_of, shown
from cogs.results.buttons.tools import named
from engine import InvalidRequest, Mode
from engine.types import (
    MAX_BLEND,
    MAX_REFERENCES,
    REFERENCE_WEIGHTS,
    Control,
    ControlKind,
    Reference,
    ReferenceKind,
)

# "JOB:IMAGE", then optionally ":style" or ":subject" and ":WEIGHT"; the image counted from 1.
HISTORY_ITEM = re.compile(
    r"^#?(?P<job>[0-9]{1,19}):(?P<image>[0-9]{1,2})"
    r"(?::(?P<kind>style|subject))?(?::(?P<weight>[0-9]+(?:\.[0-9]+)?))?$",
    re.IGNORECASE,
)
KIND_WORDS = {ReferenceKind.STYLE: "style references", ReferenceKind.SUBJECT: "subject references"}
CONTROL_WORDS = {
    ControlKind.POSE: "a pose",
    ControlKind.DEPTH: "a depth map",
    ControlKind.CANNY: "edges (canny)",
    ControlKind.LINEART: "line art",
    ControlKind.AS_IS: "a ready-made control map",
}

CONTROL_CHOICES = [
    Choice(name="Pose (from a photo or drawing of a person)", value=ControlKind.POSE.value),
    Choice(name="Depth (near and far)", value=ControlKind.DEPTH.value),
    Choice(name="Edges (canny)", value=ControlKind.CANNY.value),
    Choice(name="Line art", value=ControlKind.LINEART.value),
    Choice(name="Use as is (the image is already a map)", value=ControlKind.AS_IS.value),
]


@dataclass(frozen=True, slots=True)
class HistoryReference:
    """One of the member's own result images used as a reference; ``index`` counts from 0."""

    job_id: int
    index: int
    kind: ReferenceKind = ReferenceKind.STYLE
    weight: float = 1.0


def parse_history(text: str | None) -> tuple[HistoryReference, ...]:
    """``ref_job`` as typed: items "JOB:IMAGE[:style|subject][:WEIGHT]" separated by commas."""
    if not text or not text.strip():
        return ()
    found = []
    for part in text.split(","):
        item = re.sub(r"\s+", "", part)
        match = HISTORY_ITEM.match(item)
        if match is None or int(match["image"]) < 1:
            raise InvalidRequest(
                "ref_job",
                shown(part.strip(), 40),
                "write JOB:IMAGE items such as 12:1 or 12:2:subject:0.8, separated by commas",
            )
        weight = float(match["weight"]) if match["weight"] is not None else 1.0
        low, high = REFERENCE_WEIGHTS
        if not (math.isfinite(weight) and low <= weight <= high):
            raise InvalidRequest("ref_job", item, f"use a weight from {low:g} to {high:g}")
        kind = ReferenceKind((match["kind"] or "style").lower())
        found.append(HistoryReference(int(match["job"]), int(match["image"]) - 1, kind, weight))
    return tuple(found)


async def load_history(interaction: discord.Interaction[Any], ref: HistoryReference) -> bytes:
    """The stored image of one of the member's own results; anyone else's is refused."""
    runtime = runtime_of(interaction)
    job = await runtime.store.get(ref.job_id)
    if job is None or job.user_id != interaction.user.id or job.request.mode is Mode.DESCRIBE:
        raise Refusal(
            f"Job #{ref.job_id} isn't one of your results; reference your own "
            "(the number after # on a result), or attach the image instead."
        )
    images = {image.index: image for image in await runtime.store.images(job.job_id)}
    if input_expired(job) or images_expired(job, list(images.values())):
        raise ResultExpired(job.job_id, runtime.settings.storage.keep_results_days)
    if ref.index not in images:
        raise Refusal(f"Job #{ref.job_id} has no image {ref.index + 1}.")
    try:
        return await asyncio.to_thread(Path(images[ref.index].path).read_bytes)
    except OSError:
        raise Refusal(f"The image files of job #{ref.job_id} are gone.") from None


def check_references(
    catalogue: Catalogue,
    provider: str,
    model: str,
    references: tuple[Reference, ...],
) -> None:
    """Refuse references the model can't follow, or more than it takes."""
    if not references:
        return
    info = catalogue.model_info(provider, model)
    name = model
    for kind in dict.fromkeys(ref.kind for ref in references):
        if kind not in info.references:
            able = [f"{p}:{m}" for p, m in able_references(catalogue, kind, 1)]
            raise Refusal(f"{name} can't follow {KIND_WORDS[kind]}. {named(able)}")
    most = info.max_references
    if len(references) > most:
        able = [f"{p}:{m}" for p, m in able_references(catalogue, None, len(references))]
        raise Refusal(
            f"{name} takes {most} reference image{'s' if most != 1 else ''} at most; you gave "
            f"{len(references)}. Give fewer. {named(able)}"
        )


def check_control(catalogue: Catalogue, provider: str, model: str, control: Control | None) -> None:
    """Refuse a control map the model can't follow, naming the models that can."""
    if control is None:
        return
    if control.kind not in catalogue.model_info(provider, model).controls:
        able = [f"{p}:{m}" for p, m in able_controls(catalogue, control.kind)]
        raise Refusal(f"{model} can't follow {CONTROL_WORDS[control.kind]}. {named(able)}")


def able_references(
    catalogue: Catalogue, kind: ReferenceKind | None, count: int
) -> list[tuple[str, str]]:
    """The models that follow ``count`` references (of ``kind``, where one is named)."""
    catalogue.refresh()
    return [
        (provider, model)
        for provider, model in catalogue.models
        if (info := catalogue.info[provider, model]).references
        and info.max_references >= count
        and (kind is None or kind in info.references)
    ]


def able_controls(catalogue: Catalogue, kind: ControlKind) -> list[tuple[str, str]]:
    catalogue.refresh()
    return [key for key in catalogue.models if kind in catalogue.info[key].controls]


def pick(
    catalogue: Catalogue, default: str | None, able: list[tuple[str, str]], what: str
) -> tuple[str, str]:
    """The default provider's first able model, else the first able one; refused where none
    is (``what`` says what they would do)."""
    if not able:
        raise Refusal(f"No model on this bot {what}; ask its owner to add one.")
    return next(((p, m) for p, m in able if p == default), able[0])


Upload = tuple[
    discord.Attachment | None, ReferenceKind, float | None, str
]  # file, kind, weight, option


async def gather_references(
    interaction: discord.Interaction[Any],
    reader: AttachmentReader,
    uploads: Sequence[Upload],
    history: str | None,
) -> tuple[tuple[Reference, ...], tuple[bytes, ...]]:
    """The references of a command, uploads first then the member's results, with their
    images in the same order. A weight without its image is refused."""
    references: list[Reference] = []
    images: list[bytes] = []
    for attachment, kind, weight, option in uploads:
        if attachment is None:
            if weight is not None:
                raise InvalidRequest(
                    f"{option}_weight", weight, f"it only applies with {option}; attach one"
                )
            continue
        references.append(Reference(kind, 1.0 if weight is None else weight))
        images.append(await reader.read(attachment))
    items = parse_history(history)
    if len(references) + len(items) > MAX_REFERENCES:
        raise InvalidRequest(
            "references",
            len(references) + len(items),
            f"give {MAX_REFERENCES} at most (/blend mixes up to {MAX_BLEND} images)",
        )
    for item in items:
        references.append(Reference(item.kind, item.weight))
        images.append(await load_history(interaction, item))
    return tuple(references), tuple(images)


async def gather_control(
    reader: AttachmentReader,
    image: discord.Attachment | None,
    kind: str | None,
    strength: float | None,
    start: float | None,
    end: float | None,
) -> tuple[Control | None, bytes | None]:
    """The control of a command: the image, what to follow in it and how; the ranges are
    checked by the service, as for any request."""
    if image is None:
        given = {"control_type": kind, "control_strength": strength}
        given |= {"control_start": start, "control_end": end}
        for option, value in given.items():
            if value is not None:
                raise InvalidRequest(option, value, "it only applies with a control image")
        return None, None
    if kind is None:
        raise InvalidRequest(
            "control_type", None, "say what to follow in the control image: pose, depth, edges"
        )
    try:
        chosen = ControlKind(kind)
    except ValueError:
        raise InvalidRequest(
            "control_type", kind, "pick one of " + ", ".join(ControlKind)
        ) from None
    control = Control(
        chosen,
        1.0 if strength is None else strength,
        0.0 if start is None else start,
        1.0 if end is None else end,
    )
    return control, await reader.read(image)
