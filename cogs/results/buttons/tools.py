"""The tool panel of one result image: which tools the job's model can run, their buttons, and
the 🛠 button that opens the panel of one image privately."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import Refusal
from bot.i18n import Text, lazy_t, lazy_tn, locale_of, t
from bot.jobs import Job, StoredImage
from bot.providers import MODE_WORDS as CANVAS_TEXTS
from cogs.common import answer, bot_of, runtime_of
from cogs.results.buttons.base import HANDLERS, JobButton, handles, kept, owned_job
from engine import EngineError, Mode

if TYPE_CHECKING:
    from bot.app import ImageBot
    from bot.providers import Providers

ABLE_NAMED = 5  # models a refusal names at most


@dataclass(frozen=True, slots=True)
class Tool:
    action: str
    option: str
    label: str
    mode: Mode
    emoji: str | None = None
    row: int = 0  # its row in the panel


TOOLS = (
    Tool("s", "", "Vary (Subtle)", Mode.IMG2IMG),
    Tool("t", "", "Vary (Strong)", Mode.IMG2IMG),
    Tool("g", "", "Vary (Region)", Mode.INPAINT),
    Tool("z", "1.5", "Zoom Out 1.5×", Mode.OUTPAINT, "🔍", row=1),
    Tool("z", "2", "Zoom Out 2×", Mode.OUTPAINT, "🔍", row=1),
    Tool("z", "c", "Custom Zoom", Mode.OUTPAINT, "🔍", row=1),
    Tool("q", "", "Make Square", Mode.OUTPAINT, "🔳", row=1),
    Tool("e", "", "Edit", Mode.EDIT, "🪄", row=1),
    Tool("n", "l", "", Mode.OUTPAINT, "⬅️", row=2),
    Tool("n", "r", "", Mode.OUTPAINT, "➡️", row=2),
    Tool("n", "u", "", Mode.OUTPAINT, "⬆️", row=2),
    Tool("n", "d", "", Mode.OUTPAINT, "⬇️", row=2),
)
MODE_WORDS = {Mode.IMG2IMG: lazy_t("start from an image"), **CANVAS_TEXTS}
NO_TOOLS = frozenset({Mode.UPSCALE, Mode.DESCRIBE})  # jobs whose images take no tools


def takes(providers: Providers, provider: str, model: str, mode: Mode) -> bool:
    """Whether ``model`` of ``provider`` runs ``mode``; not when its info can't be read now."""
    entry = providers.find(provider)
    if entry is None or mode not in entry.provider.capabilities.modes:
        return False
    try:
        return entry.provider.model_info(model).takes(mode)
    except (OSError, EngineError):
        return False


def job_modes(bot: ImageBot, job: Job) -> frozenset[Mode]:
    """The modes the job's own provider runs with the job's model (its info read once); an
    edit also where the owner lets edits fall back to img2img (the service turns it into
    one)."""
    entry = bot.runtime.providers.find(job.provider)
    if job.request.mode in NO_TOOLS or entry is None:
        return frozenset()
    try:
        info = entry.provider.model_info(job.model)
    except (OSError, EngineError):  # a model it cannot read now offers nothing
        return frozenset()
    modes = {mode for mode in entry.provider.capabilities.modes if info.takes(mode)}
    if Mode.IMG2IMG in modes and bot.runtime.settings.limits.edit_falls_back_to_img2img:
        modes.add(Mode.EDIT)
    return frozenset(modes)


def can(bot: ImageBot, job: Job, mode: Mode) -> bool:
    return mode in job_modes(bot, job)


def require(bot: ImageBot, job: Job, mode: Mode) -> str:
    """The job's provider, when its model runs ``mode``; else a refusal naming what can."""
    if can(bot, job, mode):
        return job.provider
    if job.request.mode in NO_TOOLS:
        raise Refusal(
            lazy_t(
                "Job #{job} is an {mode}: these tools work on drawn images.",
                job=job.job_id,
                mode=job.request.mode.value,
            )
        )
    able = [f"{provider}:{model}" for provider, model in bot.runtime.providers.able(mode)]
    raise Refusal(
        lazy_t(
            "{model} can't {what}. {models}",
            model=job.model,
            what=MODE_WORDS.get(mode, mode.value),
            models=named(able),
        )
    )


def named(models: Sequence[str]) -> Text:
    """The models that can, in a sentence (the first few, the rest counted)."""
    if not models:
        return lazy_t("No model on this bot can.")
    names = ", ".join(models[:ABLE_NAMED])
    if len(models) <= ABLE_NAMED:
        return lazy_t("Models that can: {names}.", names=names)
    return lazy_tn(
        "Models that can: {names} and {count} more.",
        "Models that can: {names} and {count} more.",
        len(models) - ABLE_NAMED,
        names=names,
    )


def job_tools(bot: ImageBot, job: Job) -> list[Tool]:
    """The tools the job's model runs and whose handler is loaded (each mode asked once)."""
    modes = job_modes(bot, job)
    return [tool for tool in TOOLS if tool.mode in modes and tool.action in HANDLERS]


def image_tools(tools: Sequence[Tool], image: StoredImage) -> list[Tool]:
    """Of ``job_tools``, those one image offers: Make Square only where it isn't square."""
    return [tool for tool in tools if tool.action != "q" or image.width != image.height]


def tool_buttons(job: Job, index: int, tools: Sequence[Tool], first_row: int) -> list[JobButton]:
    return [
        JobButton(
            tool.action,
            job.job_id,
            index,
            label=tool.label or None,
            emoji=tool.emoji,
            row=first_row + tool.row,
            option=tool.option,
        )
        for tool in tools
    ]


def panel_view(job: Job, index: int, tools: Sequence[Tool]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in tool_buttons(job, index, tools, 0):
        view.add_item(button)
    view.stop()  # handled by the dynamic item, not kept in memory per message
    return view


@handles("x")
async def on_tools(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    """🛠 N: the tools of image N, in a message only the member sees."""
    job = await owned_job(interaction, job_id, generation=True)
    images = {image.index: image for image in await runtime_of(interaction).store.images(job_id)}
    kept(interaction, job, list(images.values()))
    if index not in images:
        raise Refusal(
            lazy_t("Image {image} of job #{job} no longer exists.", image=index + 1, job=job_id)
        )
    tools = image_tools(job_tools(bot_of(interaction), job), images[index])
    if not tools:
        raise Refusal(
            lazy_t("{model} has no tools for an image; try another model.", model=job.model)
        )
    text = t(
        locale_of(interaction),
        "Tools for image {image} of job #{job}:",
        image=index + 1,
        job=job_id,
    )
    picture = _shown_file(interaction.message, f"{job_id}-{index}")
    embed = None if picture is None else discord.Embed().set_thumbnail(url=picture.url)
    await answer(interaction, text, view=panel_view(job, index, tools), embed=embed)


def _shown_file(message: discord.Message | None, stem: str) -> discord.Attachment | None:
    """The image's own file on the result the button sits on, to show which image the panel
    is for; none for a grid picture or a spoiler (a flagged image stays hidden)."""
    for attachment in message.attachments if message is not None else ():
        if attachment.filename.rpartition(".")[0] == stem and not attachment.is_spoiler():
            return attachment
    return None
