"""Words and embeds for jobs: the queued line, the progress bar, the result embed. Pure
functions of stored state, so a restart renders the same message."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import discord

from bot.jobs import Job, JobStatus, QueuePosition, StoredImage
from bot.prompting.plan import parameters_of
from bot.service import EDIT_FALLBACK
from cogs.common import clip, shown
from engine import Mode, Progress

BAR_CELLS = 12
ETA_GRID = 15  # seconds: a <t:…:R> estimate moves in these steps, so refreshes rarely edit
COLOUR = discord.Colour.blurple()
MODE_NAMES = {Mode.EDIT: "edit", Mode.INPAINT: "repaint", Mode.OUTPAINT: "outpaint"}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    minutes, rest = divmod(int(seconds + 0.5), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def what(job: Job) -> str:
    tool = job.target.get("tool")  # the result button that asked for it
    if tool:
        return str(tool)
    if job.request.mode is Mode.DESCRIBE:
        return "description"
    if job.request.mode is Mode.UPSCALE:
        return "upscale"
    if job.request.mode is Mode.IMG2IMG:
        return "variation" if job.target.get("variation") else "img2img"
    if job.request.mode in MODE_NAMES:
        return MODE_NAMES[job.request.mode]
    count = job.request.count
    return f"{count} image{'s' if count != 1 else ''}"


def countdown(seconds: float, now: float | None = None) -> str:
    """A moment ``seconds`` from now as a Discord timestamp that counts down on the member's
    client ("in 2 minutes"), so the message need not be edited to stay current."""
    moment = (time.time() if now is None else now) + max(0.0, seconds)
    return f"<t:{math.ceil(moment / ETA_GRID) * ETA_GRID}:R>"


def status_line(
    job: Job, position: QueuePosition | None, paused: bool = False, now: float | None = None
) -> str:
    head = f"Job #{job.job_id} ({what(job)}, {job.model})"
    if position is None or position.status is JobStatus.RUNNING:
        return f"{head} is starting."
    if position.status is JobStatus.QUEUED:
        if paused:
            return (
                f"{head} is queued. The queue is paused for maintenance: your job waits and "
                "starts when it resumes (cancel it for a refund)."
            )
        ahead = "next in line" if position.position == 0 else f"{position.position} ahead of it"
        eta = f", expected ready {countdown(position.eta, now)}" if position.eta is not None else ""
        return f"{head} is queued: {ahead}{eta}."
    return f"{head} has {position.status.value}."


def progress_bar(fraction: float | None) -> str:
    if fraction is None:
        return "▱" * BAR_CELLS
    filled = round(max(0.0, min(1.0, fraction)) * BAR_CELLS)
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


def progress_line(job: Job, progress: Progress, now: float | None = None) -> str:
    fraction = progress.fraction
    percent = f" {fraction:.0%}" if fraction is not None else ""
    steps = f" · step {_step(job, progress)}" if progress.total else ""
    note = f" · {shown(progress.message, 200)}" if progress.message else ""
    head = f"Job #{job.job_id} ({what(job)}, {job.model}) is running"
    return f"{head}\n`{progress_bar(fraction)}`{percent}{steps}{note}{_eta(job, fraction, now)}"


def _step(job: Job, progress: Progress) -> str:
    """Steps counted as the member asked for them. A pipeline may call back more often than
    that (a scheduler's extra warm-up step) or less (img2img runs only ``strength`` of them);
    the fraction it reports is right, its count is not the member's."""
    asked = job.request.steps
    if not asked or progress.total == asked:
        return f"{min(progress.step, progress.total)}/{progress.total}"
    done = math.floor(min(1.0, progress.step / progress.total) * asked + 1e-9)
    return f"{done}/{asked}"


def _eta(job: Job, fraction: float | None, now: float | None) -> str:
    if not fraction or fraction >= 1 or job.started_at is None:
        return ""
    now = time.time() if now is None else now
    elapsed = now - job.started_at
    if elapsed <= 0:
        return ""
    return f" · done {countdown(elapsed * (1 - fraction) / fraction, now)}"


def handover_line(job: Job, where: str) -> str:
    """The last words of a status message whose token is about to be given up."""
    state = {JobStatus.QUEUED: "is still queued", JobStatus.RUNNING: "is still running"}
    return (
        f"Job #{job.job_id} ({what(job)}, {job.model}) {state.get(job.status, 'has ended')}. "
        "Discord lets me update this message for 15 minutes only, so it stops here: your "
        f"result will arrive {where}."
    )


def result_embed(job: Job, images: Sequence[StoredImage], withheld: int = 0) -> discord.Embed:
    request = job.request
    embed = discord.Embed(description=shown(request.prompt, 3500), colour=COLOUR)
    embed.set_author(name=f"Job #{job.job_id}")
    if request.negative_prompt:
        embed.add_field(
            name="Negative prompt", value=shown(request.negative_prompt, 1000), inline=False
        )
    seeds = ", ".join(str(image.seed) for image in images if image.seed is not None)
    size = f"{images[0].width}×{images[0].height}" if images else "×".join(map(str, request.size))
    for name, value in (
        ("Model", job.model),
        ("Provider", job.provider),
        ("Seeds" if len(images) > 1 else "Seed", seeds or "chosen by the provider"),
        ("Size", size),
        ("Steps", str(request.steps) if request.steps else "provider default"),
        ("Time", duration(_run_time(job))),
    ):
        embed.add_field(name=name, value=clip(value, 1000), inline=True)
    tool, source = job.target.get("tool"), job.target.get("source")
    if tool and isinstance(source, list) and len(source) == 2:
        made = f"{str(tool).capitalize()} of image {int(source[1]) + 1} of job #{int(source[0])}"
        embed.add_field(name="Made with", value=clip(made, 1000), inline=False)
    parameters = parameters_of(request)
    if parameters:  # as inline parameters, to copy into another prompt
        embed.add_field(name="Parameters", value=clip(parameters, 1000), inline=False)
    if request.loras:
        loras = ", ".join(f"{lora.name}:{lora.weight:g}" for lora in request.loras)
        embed.add_field(name="LoRAs", value=clip(loras, 1000), inline=False)
    if job.target.get(EDIT_FALLBACK):
        embed.add_field(
            name="Edited as a variation",
            value=f"{clip(job.model, 200)} has no edit mode, so this is a variation of your "
            f"image (img2img at strength {request.strength or 0:g}) steered by the instruction.",
            inline=False,
        )
    if withheld:
        embed.add_field(
            name="Withheld",
            value=f"{withheld} image{'s' if withheld != 1 else ''} marked NSFW by the safety "
            "check; NSFW results are only shown in age-restricted server channels.",
            inline=False,
        )
    if job.finished_at is not None:
        embed.timestamp = datetime.fromtimestamp(job.finished_at, UTC)
    return embed


def _run_time(job: Job) -> float | None:
    if job.started_at is None or job.finished_at is None:
        return None
    return job.finished_at - job.started_at


def caption(job: Job) -> str:
    """A describe job's result. The caption is a provider's text: it stays inside its code
    block and mentions no one."""
    text = discord.utils.escape_mentions(job.result_text or "").replace("```", "'''")
    return f"A prompt for this image (job #{job.job_id}):\n```\n{clip(text, 1800)}\n```"


def ended_line(job: Job) -> str:
    if job.status is JobStatus.CANCELLED:
        return f"Job #{job.job_id} was cancelled; your quota was refunded."
    if job.status is JobStatus.FAILED:
        return (
            f"Job #{job.job_id} failed: {shown(job.error or 'no reason given', 1500)} "
            "Your quota was refunded."
        )
    if job.request.mode is Mode.DESCRIBE and job.result_text is not None:
        return caption(job)
    return f"Job #{job.job_id} is done."
