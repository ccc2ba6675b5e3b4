"""What every result button shares: its custom id, a handler per action, the owner check."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import Refusal
from bot.jobs import Job, StoredImage
from bot.retention import ResultExpired, images_expired, input_expired
from cogs.common import answer, bot_of, explain, runtime_of
from engine import EngineError, Mode

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

Handler = Callable[[discord.Interaction[Any], str, int, int], Awaitable[None]]

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


# Buttons. A custom_id is "img:ACTION:JOB:INDEX"; everything else is read from SQLite, so the
# buttons keep working after a restart.
class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"img:(?P<action>[cuvrmdp]):(?P<job>[0-9]{1,19}):(?P<index>[0-9])",
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
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=style,
                row=row,
                custom_id=f"img:{action}:{job_id}:{index}",
            )
        )
        self.action = action
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: Any,
        /,
    ) -> JobButton:
        return cls(match["action"], int(match["job"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        handler = HANDLERS[self.action]
        try:
            await handler(interaction, self.action, self.job_id, self.index)
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err))


async def owned_job(interaction: discord.Interaction[Any], job_id: int, *, generation: bool) -> Job:
    """The job behind a button, if this member may use it: the requester always; others only
    for generation buttons in a server that allows everyone to use them."""
    runtime = runtime_of(interaction)
    job = await runtime.store.get(job_id)
    if job is None:
        raise Refusal(f"Job #{job_id} no longer exists.")
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
    if own is not None and mode in own.provider.capabilities.modes:
        info = own.provider.model_info(job.model)
        if info.img2img if mode is Mode.IMG2IMG else info.upscale:
            return own.name
    for entry in providers:
        if entry is not own and mode in entry.provider.capabilities.modes:
            return entry.name
    return None
