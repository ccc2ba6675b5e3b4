"""References and control for a member's request: uploads and results from their own history
named by job and image, and which models follow them. Whether the chosen model follows them is
checked by the service, with every other option, before anything is queued."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord
from discord.app_commands import Choice

from bot.errors import InvalidOption
from bot.i18n import lazy_t
from bot.jobs import JobStatus
from bot.own_results import ResultImage, own_result_image
from cogs.attachments import AttachmentReader
from cogs.catalogue import CHOICES_MAX, Catalogue
from cogs.common import clip, runtime_of, shown
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
            raise InvalidOption(
                "ref_job",
                item,
                lazy_t(
                    "use a weight from {low} to {high}",
                    low=format(low, "g"),
                    high=format(high, "g"),
                ),
            )
        kind = ReferenceKind((match["kind"] or "style").lower())
        found.append(HistoryReference(int(match["job"]), int(match["image"]) - 1, kind, weight))
    return tuple(found)


async def load_history(interaction: discord.Interaction[Any], ref: HistoryReference) -> bytes:
    """The stored image of one of the member's own results; anyone else's is refused."""
    runtime = runtime_of(interaction)
    keep = runtime.settings.storage.keep_results_days
    named = ResultImage(ref.job_id, ref.index)
    return await own_result_image(runtime.store, keep, interaction.user.id, named)


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
                raise InvalidOption(
                    f"{option}_weight",
                    weight,
                    lazy_t("it only applies with {option}; attach one", option=option),
                )
            continue
        references.append(Reference(kind, 1.0 if weight is None else weight))
        images.append(await reader.read(attachment))
    items = parse_history(history)
    if len(references) + len(items) > MAX_REFERENCES:
        raise InvalidOption(
            "references",
            len(references) + len(items),
            lazy_t(
                "give {most} at most (/blend mixes up to {blend} images)",
                most=MAX_REFERENCES,
                blend=MAX_BLEND,
            ),
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
        raise InvalidOption(
            "control_type", kind, lazy_t("pick one of {names}", names=", ".join(ControlKind))
        ) from None
    control = Control(
        chosen,
        1.0 if strength is None else strength,
        0.0 if start is None else start,
        1.0 if end is None else end,
    )
    return control, await reader.read(image)


async def history_choices(interaction: discord.Interaction[Any], current: str) -> list[Choice[str]]:
    """Completes the last item of ``ref_job`` with the images of the member's latest results."""
    done, _, last = current.rpartition(",")
    prefix = f"{done.strip()}, " if done.strip() else ""
    needle = last.strip().lstrip("#")
    history = await runtime_of(interaction).members.history(
        interaction.user.id, per_page=CHOICES_MAX
    )
    found = []
    for job in history.jobs:
        if job.status is not JobStatus.SUCCEEDED or job.request.mode is Mode.DESCRIBE:
            continue
        for image in range(1, job.request.count + 1):
            item = f"{job.job_id}:{image}"
            if item.startswith(needle) or needle.lower() in job.request.prompt.lower():
                label = f"#{item} · {job.request.prompt}"
                found.append(Choice(name=clip(f"{prefix}{label}", 100), value=prefix + item))
    return [choice for choice in found if len(choice.value) <= 100][:CHOICES_MAX]
