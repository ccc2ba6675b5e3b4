"""Words and embeds for jobs: the queued line, the progress bar, the result embed. Pure
functions of stored state, so a restart renders the same message."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import discord

from bot.i18n import ENGLISH, t, tn
from bot.jobs import Job, JobStatus, QueuePosition, StoredImage
from bot.prompt_helper.tasks import TRANSLATED_FROM, UNTRANSLATED
from bot.prompting.plan import parameters_of
from bot.service import EDIT_FALLBACK
from cogs.common import clip, shown
from engine import Mode, Progress

BAR_CELLS = 12
ETA_GRID = 15  # seconds: a <t:…:R> estimate moves in these steps, so refreshes rarely edit
COLOUR = discord.Colour.blurple()


def duration(seconds: float | None, locale: object = ENGLISH) -> str:
    if seconds is None:
        return t(locale, "unknown")
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    minutes, rest = divmod(int(seconds + 0.5), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def tool_name(tool: str, locale: object) -> str:
    """A result button's tool as stored with its job ("vary (subtle)", "zoom out 2×", "pan
    left") in the reader's words; a name this list lacks stays as it is."""
    names = {
        "edit": t(locale, "edit"),
        "vary (subtle)": t(locale, "vary (subtle)"),
        "vary (strong)": t(locale, "vary (strong)"),
        "vary (region)": t(locale, "vary (region)"),
        "make square": t(locale, "make square"),
        "pan left": t(locale, "pan left"),
        "pan right": t(locale, "pan right"),
        "pan up": t(locale, "pan up"),
        "pan down": t(locale, "pan down"),
        "upscale": t(locale, "upscale"),
    }
    if tool in names:
        return names[tool]
    if tool.startswith("zoom out ") and tool.endswith("×"):
        return t(locale, "zoom out {factor}×", factor=tool.removeprefix("zoom out ")[:-1])
    return tool


def what(job: Job) -> str:
    locale = job.locale
    tool = job.target.get("tool")  # the result button that asked for it
    if tool:
        return tool_name(str(tool), locale)
    mode = job.request.mode
    if mode is Mode.DESCRIBE:
        return t(locale, "description")
    if mode is Mode.UPSCALE:
        return t(locale, "upscale")
    if mode is Mode.IMG2IMG:
        return t(locale, "variation") if job.target.get("variation") else "img2img"
    if mode is Mode.EDIT:
        return t(locale, "edit")
    if mode is Mode.INPAINT:
        return t(locale, "repaint")
    if mode is Mode.OUTPAINT:
        return t(locale, "outpaint")
    return tn(locale, "{count} image", "{count} images", job.request.count)


def countdown(seconds: float, now: float | None = None) -> str:
    """A moment ``seconds`` from now as a Discord timestamp that counts down on the member's
    client ("in 2 minutes"), so the message need not be edited to stay current."""
    moment = (time.time() if now is None else now) + max(0.0, seconds)
    return f"<t:{math.ceil(moment / ETA_GRID) * ETA_GRID}:R>"


def status_line(
    job: Job, position: QueuePosition | None, paused: bool = False, now: float | None = None
) -> str:
    locale = job.locale
    head = {"job": job.job_id, "what": what(job), "model": job.model}
    if position is None or position.status is JobStatus.RUNNING:
        return t(locale, "Job #{job} ({what}, {model}) is starting.", **head)
    if position.status is JobStatus.QUEUED:
        if paused:
            return t(
                locale,
                "Job #{job} ({what}, {model}) is queued. The queue is paused for maintenance: "
                "your job waits and starts when it resumes (cancel it for a refund).",
                **head,
            )
        if position.position == 0:
            line = t(locale, "Job #{job} ({what}, {model}) is queued: next in line", **head)
        else:
            line = tn(
                locale,
                "Job #{job} ({what}, {model}) is queued: {count} ahead of it",
                "Job #{job} ({what}, {model}) is queued: {count} ahead of it",
                position.position,
                **head,
            )
        if position.eta is not None:
            line += t(locale, ", expected ready {when}", when=countdown(position.eta, now))
        return line + "."
    return ended_status(job, position.status)


def ended_status(job: Job, status: JobStatus) -> str:
    head = {"job": job.job_id, "what": what(job), "model": job.model}
    if status is JobStatus.SUCCEEDED:
        return t(job.locale, "Job #{job} ({what}, {model}) has succeeded.", **head)
    if status is JobStatus.FAILED:
        return t(job.locale, "Job #{job} ({what}, {model}) has failed.", **head)
    return t(job.locale, "Job #{job} ({what}, {model}) has been cancelled.", **head)


def progress_bar(fraction: float | None) -> str:
    if fraction is None:
        return "▱" * BAR_CELLS
    filled = round(max(0.0, min(1.0, fraction)) * BAR_CELLS)
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


def progress_line(job: Job, progress: Progress, now: float | None = None) -> str:
    locale = job.locale
    fraction = progress.fraction
    percent = f" {fraction:.0%}" if fraction is not None else ""
    steps = " · " + t(locale, "step {step}", step=_step(job, progress)) if progress.total else ""
    note = f" · {shown(progress.message, 200)}" if progress.message else ""
    head = t(
        locale,
        "Job #{job} ({what}, {model}) is running",
        job=job.job_id,
        what=what(job),
        model=job.model,
    )
    eta = _eta(job, fraction, now) if progress.eta is None else _told(job, progress.eta, now)
    return f"{head}\n`{progress_bar(fraction)}`{percent}{steps}{note}{eta}"


def _step(job: Job, progress: Progress) -> str:
    """Steps counted as the member asked for them. A pipeline may call back more often than
    that (a scheduler's extra warm-up step) or less (img2img runs only ``strength`` of them);
    the fraction it reports is right, its count is not the member's."""
    asked = job.request.steps
    if not asked or progress.total == asked:
        return f"{min(progress.step, progress.total)}/{progress.total}"
    done = math.floor(min(1.0, progress.step / progress.total) * asked + 1e-9)
    return f"{done}/{asked}"


def _told(job: Job, seconds: float, now: float | None) -> str:
    """The wait a backend's own queue expects (the AI Horde's), shown as our own estimate is."""
    if seconds <= 0:
        return ""
    return " · " + t(job.locale, "expected ready {when}", when=countdown(seconds, now))


def _eta(job: Job, fraction: float | None, now: float | None) -> str:
    if not fraction or fraction >= 1 or job.started_at is None:
        return ""
    now = time.time() if now is None else now
    elapsed = now - job.started_at
    if elapsed <= 0:
        return ""
    left = countdown(elapsed * (1 - fraction) / fraction, now)
    return " · " + t(job.locale, "done {when}", when=left)


def handover_line(job: Job, where: str) -> str:
    """The last words of a status message whose token is about to be given up; ``where``
    is already in the job's language."""
    values = {"job": job.job_id, "what": what(job), "model": job.model, "where": where}
    if job.status is JobStatus.QUEUED:
        state = t(job.locale, "Job #{job} ({what}, {model}) is still queued.", **values)
    elif job.status is JobStatus.RUNNING:
        state = t(job.locale, "Job #{job} ({what}, {model}) is still running.", **values)
    else:
        state = t(job.locale, "Job #{job} ({what}, {model}) has ended.", **values)
    return (
        state
        + " "
        + t(
            job.locale,
            "Discord lets me update this message for 15 minutes only, so it stops here: your "
            "result will arrive {where}.",
            **values,
        )
    )


def result_embed(job: Job, images: Sequence[StoredImage], withheld: int = 0) -> discord.Embed:
    request, locale = job.request, job.locale
    embed = discord.Embed(description=shown(request.prompt, 3500), colour=COLOUR)
    embed.set_author(name=t(locale, "Job #{job}", job=job.job_id))
    if request.negative_prompt:
        embed.add_field(
            name=t(locale, "Negative prompt"),
            value=shown(request.negative_prompt, 1000),
            inline=False,
        )
    seeds = ", ".join(str(image.seed) for image in images if image.seed is not None)
    size = f"{images[0].width}×{images[0].height}" if images else "×".join(map(str, request.size))
    for name, value in (
        (t(locale, "Model"), job.model),
        (t(locale, "Provider"), job.provider),
        (
            t(locale, "Seeds") if len(images) > 1 else t(locale, "Seed"),
            seeds or t(locale, "chosen by the provider"),
        ),
        (t(locale, "Size"), size),
        (
            t(locale, "Steps"),
            str(request.steps) if request.steps else t(locale, "provider default"),
        ),
        (t(locale, "Time"), duration(_run_time(job), locale)),
    ):
        embed.add_field(name=name, value=clip(value, 1000), inline=True)
    tool, source = job.target.get("tool"), job.target.get("source")
    if tool and isinstance(source, list) and len(source) == 2:
        made = t(
            locale,
            "{tool} of image {image} of job #{job}",
            tool=tool_name(str(tool), locale).capitalize(),
            image=int(source[1]) + 1,
            job=int(source[0]),
        )
        embed.add_field(name=t(locale, "Made with"), value=clip(made, 1000), inline=False)
    parameters = parameters_of(request)
    if parameters:  # as inline parameters, to copy into another prompt
        embed.add_field(name=t(locale, "Parameters"), value=clip(parameters, 1000), inline=False)
    if request.loras:
        loras = ", ".join(f"{lora.name}:{lora.weight:g}" for lora in request.loras)
        embed.add_field(name="LoRAs", value=clip(loras, 1000), inline=False)
    if isinstance(job.target.get(TRANSLATED_FROM), str):
        embed.add_field(
            name=t(locale, "Translated from"),
            value=shown(job.target[TRANSLATED_FROM], 1000),
            inline=False,
        )
    elif job.target.get(UNTRANSLATED):
        embed.add_field(
            name=t(locale, "Not translated"),
            value=t(
                locale,
                "The prompt helper couldn't translate this prompt in time, so the model got "
                "your words as written.",
            ),
            inline=False,
        )
    if job.target.get(EDIT_FALLBACK):
        embed.add_field(
            name=t(locale, "Edited as a variation"),
            value=t(
                locale,
                "{model} has no edit mode, so this is a variation of your image (img2img at "
                "strength {strength}) steered by the instruction.",
                model=clip(job.model, 200),
                strength=format(request.strength or 0, "g"),
            ),
            inline=False,
        )
    if withheld:
        embed.add_field(
            name=t(locale, "Withheld"),
            value=tn(
                locale,
                "{count} image marked NSFW by the safety check; NSFW results are only shown "
                "in age-restricted server channels.",
                "{count} images marked NSFW by the safety check; NSFW results are only shown "
                "in age-restricted server channels.",
                withheld,
            ),
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
    head = t(job.locale, "A prompt for this image (job #{job}):", job=job.job_id)
    return f"{head}\n```\n{clip(text, 1800)}\n```"


def ended_line(job: Job) -> str:
    if job.status is JobStatus.CANCELLED:
        return t(job.locale, "Job #{job} was cancelled; your quota was refunded.", job=job.job_id)
    if job.status is JobStatus.FAILED:
        return t(
            job.locale,
            "Job #{job} failed: {reason} Your quota was refunded.",
            job=job.job_id,
            reason=shown(job.error or t(job.locale, "no reason given"), 1500),
        )
    if job.request.mode is Mode.DESCRIBE and job.result_text is not None:
        return caption(job)
    return t(job.locale, "Job #{job} is done.", job=job.job_id)
