"""What every result button shares: its custom id, a handler per action, the owner check."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import Refusal
from bot.i18n import lazy_t, locale_of, t
from bot.jobs import Job, StoredImage
from bot.retention import ResultExpired, images_expired, input_expired
from cogs.common import answer, bot_of, explain, runtime_of
from engine import EngineError, Mode

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

# (interaction, action, job id, image index, option: "" where the button has none)
Handler = Callable[[discord.Interaction[Any], str, int, int, str], Awaitable[None]]

# A family of actions is a module of this package whose handlers register here with ``handles``
# (cogs/results/cog.py imports every family); a new action also needs its letter in the template
# below and its button in ``views.result_view``.
HANDLERS: dict[str, Handler] = {}


def handles(*actions: str) -> Callable[[Handler], Handler]:
    """Registers a button's handler for the actions (the ACTION of its custom id) it answers."""

    def register(handler: Handler) -> Handler:
        for action in actions:
            HANDLERS[action] = handler
        return handler

    return register


# Buttons. A custom_id is "img:ACTION:JOB:INDEX" or "img:ACTION:JOB:INDEX:OPTION" (a zoom
# factor, a pan direction, a region); everything else is read from the store, so the buttons
# keep working after a restart. Actions: c cancel, u upscale, v variation, r re-roll, m remix,
# d delete, p report; s/t Vary (Subtle/Strong), g Vary (Region), z Zoom Out, n Pan,
# q Make Square, e Edit, x the tools of one image, h Enhance (the prompt helper).
ACTIONS = "cuvrmdpstgznqexh"


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"img:(?P<action>[{ACTIONS}]):(?P<job>[0-9]{{1,19}}):(?P<index>[0-9])"
    r"(?::(?P<option>[a-z0-9.]{1,12}))?",
):
    def __init__(
        self,
        action: str,
        job_id: int,
        index: int = 0,
        *,
        label: str | None = None,
        emoji: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        row: int | None = None,
        option: str = "",
    ) -> None:
        suffix = f":{option}" if option else ""
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=style,
                row=row,
                custom_id=f"img:{action}:{job_id}:{index}{suffix}",
            )
        )
        self.action = action
        self.job_id = job_id
        self.index = index
        self.option = option

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: Any,
        /,
    ) -> JobButton:
        return cls(
            match["action"], int(match["job"]), int(match["index"]), option=match["option"] or ""
        )

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        handler = HANDLERS.get(self.action)
        if handler is None:  # a letter whose family is not loaded
            await answer(
                interaction,
                t(locale_of(interaction), "This button does nothing in this version of the bot."),
            )
            return
        try:
            await handler(interaction, self.action, self.job_id, self.index, self.option)
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))


async def owned_job(interaction: discord.Interaction[Any], job_id: int, *, generation: bool) -> Job:
    """The job behind a button, if this member may use it: the requester always; others only
    for generation buttons in a server that allows everyone to use them."""
    runtime = runtime_of(interaction)
    job = await runtime.store.get(job_id)
    if job is None:
        raise Refusal(lazy_t("Job #{job} no longer exists.", job=job_id))
    if job.user_id == interaction.user.id:
        return job
    if generation and await _everyone_may_use(interaction):
        return job
    log.info("Refused a button of job %d to member %d", job_id, interaction.user.id)
    raise Refusal("Only the member who asked for these images can use this button.")


def kept(
    interaction: discord.Interaction[Any], job: Job, images: Sequence[StoredImage] | None = None
) -> None:
    """Refuse a button whose stored images (or input image) retention has deleted."""
    if input_expired(job) or (images is not None and images_expired(job, images)):
        keep = runtime_of(interaction).settings.storage.keep_results_days
        raise ResultExpired(job.job_id, keep)


async def source_of(
    interaction: discord.Interaction[Any], job: Job, index: int
) -> tuple[StoredImage, bytes]:
    """Image ``index`` of a finished job, and its stored bytes; refused once it has expired."""
    images = {
        image.index: image for image in await runtime_of(interaction).store.images(job.job_id)
    }
    kept(interaction, job, list(images.values()))
    if index not in images:
        raise Refusal(
            lazy_t("Image {image} of job #{job} no longer exists.", image=index + 1, job=job.job_id)
        )
    try:
        data = await asyncio.to_thread(Path(images[index].path).read_bytes)
    except OSError:
        raise Refusal(lazy_t("The image files of job #{job} are gone.", job=job.job_id)) from None
    return images[index], data


async def _everyone_may_use(interaction: discord.Interaction[Any]) -> bool:
    policies = runtime_of(interaction).policies
    return bool(await policies.guild_setting(interaction.guild_id, "buttons_everyone", False))


async def defer(interaction: discord.Interaction[Any]) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)


async def private(interaction: discord.Interaction[Any]) -> bool:
    preferences = await runtime_of(interaction).members.preferences(interaction.user.id)
    return preferences.private_delivery


def provider_for(bot: ImageBot, job: Job, mode: Mode) -> str | None:
    """The job's own provider when it can with the job's model, else the first other that
    can."""
    providers = bot.runtime.providers
    own = providers.find(job.provider)
    if (
        own is not None
        and mode in own.provider.capabilities.modes
        and own.provider.model_info(job.model).takes(mode)
    ):
        return own.name
    for entry in providers:
        if entry is not own and mode in entry.provider.capabilities.modes:
            return entry.name
    return None
