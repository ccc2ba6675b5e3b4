"""A member's own commands: /models, /queue, /cancel, /quota, /settings, /history, /show,
/forget-me and /help. Everything is read from SQLite; answers are private."""

from __future__ import annotations

import contextlib
import dataclasses
import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.ext import commands

from bot.errors import JobNotFound, Refusal
from bot.jobs import JobStatus
from bot.retention import ResultExpired, images_expired
from cogs import render
from cogs.common import (
    answer,
    clip,
    explain,
    missing_permissions,
    place_of,
    requester_of,
    runtime_of,
    shown,
)
from cogs.imagine import Imagine
from cogs.results.parts import DEFAULT_UPLOAD_LIMIT, result_parts, shows_flagged
from engine import EngineError, InvalidRequest, Mode

if TYPE_CHECKING:
    from bot.app import ImageBot

HISTORY_PAGE = 5
COLOUR = discord.Colour.blurple()

HELP = """\
**/imagine** `prompt` makes images. Options: negative prompt, model, aspect ratio or width and \
height, steps, guidance, sampler, seed, count (1-4), LoRAs (`name:weight, ...`), and an image \
with a strength to start from.
Under a result: **U1-U4** upscale an image, **V1-V4** make variations of it, **Re-roll** runs \
the same prompt with a new seed, **Remix** lets you edit the prompt first, **Delete** removes \
the message, **Report** tells the moderators.
**/upscale** and **/describe** take an image; right-click a message → Apps → **Upscale** or \
**Describe** does the same for the image in it.
**/queue** shows your jobs with their position and wait; **/cancel** stops one or all.
**/quota** shows what you have used and when it resets. Bigger, longer or more images cost \
more units; failed and cancelled jobs are refunded.
**/settings** keeps your default model, size and negative prompt, and private delivery \
(results only you can see). **/history** lists your past jobs; **/show** posts one again.
**/forget-me** deletes your prompts, images, history and settings.
NSFW models and images only appear in age-restricted server channels; DMs are always SFW."""


class Member(commands.Cog):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(description="What can draw here: providers, their models and status")
    async def models(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        embed = discord.Embed(title="Models", colour=COLOUR)
        nsfw_here = place_of(interaction).nsfw
        for entry in list(runtime.providers)[:25]:
            provider = entry.provider
            capabilities = provider.capabilities
            status = f"unavailable: {provider.unavailable}" if provider.unavailable else "ready"
            names = capabilities.models or (provider.default_model,)
            lines = []
            for name in names[:15]:
                marks = []
                if name == provider.default_model:
                    marks.append("default")
                if provider.model_is_nsfw(name):
                    marks.append("NSFW" if nsfw_here else "NSFW, not in this channel")
                lines.append(f"`{name}`" + (f" ({', '.join(marks)})" if marks else ""))
            if len(names) > 15:
                lines.append(f"… and {len(names) - 15} more (type in /imagine's model option)")
            modes = ", ".join(sorted(mode.value for mode in capabilities.modes))
            value = f"Status: {status}\nDoes: {modes}\n" + "\n".join(lines)
            embed.add_field(name=f"{entry.name} ({entry.settings.kind})", value=clip(value, 1024))
        if not embed.fields:
            embed.description = "No provider is configured."
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(description="Your jobs waiting or running, with position and wait")
    async def queue(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        jobs = await runtime.members.active(interaction.user.id)
        if not jobs:
            await answer(interaction, "You have no jobs waiting or running.")
            return
        lines = []
        for job in jobs:
            try:
                position = await runtime.service.position(job.job_id)
            except JobNotFound:
                continue
            lines.append(
                f"{render.status_line(job, position)} Prompt: {shown(job.request.prompt, 80)}"
            )
        await answer(interaction, "\n".join(lines) or "You have no jobs waiting or running.")

    @app_commands.command(description="Cancel one of your jobs, or all of them")
    @app_commands.describe(job="The job to cancel", everything="Cancel all your jobs")
    async def cancel(
        self,
        interaction: discord.Interaction[Any],
        job: int | None = None,
        everything: bool = False,
    ) -> None:
        runtime = runtime_of(interaction)
        user = interaction.user.id
        if everything:
            ids = [active.job_id for active in await runtime.members.active(user)]
        elif job is not None:
            ids = [job]
        else:
            await answer(interaction, "Name a job (its number) or choose `everything:True`.")
            return
        if not ids:
            await answer(interaction, "You have no jobs waiting or running.")
            return
        lines = []
        for job_id in ids:
            try:
                status = await runtime.service.cancel(job_id, user)
            except Refusal as err:
                lines.append(err.user_message)
                continue
            if status is JobStatus.CANCELLED:
                lines.append(f"Job #{job_id} was cancelled; your quota was refunded.")
            elif status is JobStatus.RUNNING:
                lines.append(f"Job #{job_id} is stopping; your quota will be refunded.")
            else:
                lines.append(f"Job #{job_id} has already {status.value}.")
        await answer(interaction, "\n".join(lines))

    @cancel.autocomplete("job")
    async def cancel_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[int]]:
        jobs = await runtime_of(interaction).members.active(interaction.user.id)
        return [
            Choice(
                name=clip(f"#{job.job_id} {job.status.value}: {job.request.prompt}", 100),
                value=job.job_id,
            )
            for job in jobs
            if current in str(job.job_id) or current.lower() in job.request.prompt.lower()
        ][:25]

    @app_commands.command(description="Your quota: used, left, when it resets, your tier")
    async def quota(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        limits = await runtime.service.limits_for(requester_of(interaction))
        usage = await runtime.ledger.usage(interaction.user.id, limits)
        where = "in this server" if interaction.guild_id else "in DMs and private channels"
        reset = int(usage.resets_at)
        text = (
            f"You have used {usage.used} of {usage.allowance} units today {where}; "
            f"{usage.remaining} left. It resets <t:{reset}:R> (<t:{reset}:f>). Tier: {limits.tier}."
        )
        everywhere = await runtime.ledger.usage_everywhere(interaction.user.id, limits)
        if everywhere is not None:
            text += (
                f" Across all servers and DMs: {everywhere.used} of {everywhere.allowance} used,"
                f" {everywhere.remaining} left."
            )
        if limits.cooldown:
            text += f" One job every {limits.cooldown:g} s."
        await answer(interaction, text)

    @app_commands.command(name="settings", description="Your defaults for /imagine")
    @app_commands.describe(
        model="Default model",
        width="Default width in pixels",
        height="Default height in pixels",
        negative="Default negative prompt",
        private="Deliver results only you can see",
        reset="Forget all your defaults",
    )
    async def settings_command(
        self,
        interaction: discord.Interaction[Any],
        model: str | None = None,
        width: Range[int, 64, 2048] | None = None,
        height: Range[int, 64, 2048] | None = None,
        negative: Range[str, 0, 1500] | None = None,
        private: bool | None = None,
        reset: bool = False,
    ) -> None:
        runtime = runtime_of(interaction)
        user = interaction.user.id
        if reset:
            await runtime.members.clear_preferences(user)
            await answer(interaction, "Your defaults are cleared.")
            return
        current = await runtime.members.preferences(user)
        changes: dict[str, Any] = {}
        try:
            if model is not None:
                provider, name = self._imagine.catalogue.resolve(model)
                changes["model"] = f"{provider}:{name}" if provider else name
            for field, value in (("width", width), ("height", height)):
                if value is not None:
                    if value % 8:
                        raise InvalidRequest(field, value, "a multiple of 8")
                    changes[field] = value
        except EngineError as err:
            await answer(interaction, explain(err))
            return
        if negative is not None:
            changes["negative_prompt"] = negative or None
        if private is not None:
            changes["private_delivery"] = private
        if changes:
            current = dataclasses.replace(current, **changes)
            await runtime.members.save_preferences(user, current)
        size = (
            f"{current.width or 'auto'}×{current.height or 'auto'}"
            if current.width or current.height
            else "the model's default"
        )
        text = (
            f"{'Saved. ' if changes else ''}Your defaults: model "
            f"`{current.model or 'the server default'}`, size {size}, negative prompt "
            f"`{clip(current.negative_prompt or 'none', 200)}`, private delivery "
            f"{'on' if current.private_delivery else 'off'}."
        )
        await answer(interaction, text)

    @settings_command.autocomplete("model")
    async def settings_model_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        return self._imagine.catalogue.choices(current)

    @property
    def _imagine(self) -> Imagine:
        cog = self.bot.get_cog("Imagine")
        assert isinstance(cog, Imagine)
        return cog

    @app_commands.command(description="Your past jobs")
    @app_commands.describe(page="Which page (1 is the newest)")
    async def history(
        self, interaction: discord.Interaction[Any], page: Range[int, 1, 10_000] = 1
    ) -> None:
        content, view = await history_page(interaction, interaction.user.id, page - 1)
        await answer(interaction, content, view=view)

    @app_commands.command(description="Post one of your results again, with its buttons")
    @app_commands.describe(job="The job's number")
    async def show(self, interaction: discord.Interaction[Any], job: int) -> None:
        runtime = runtime_of(interaction)
        found = await runtime.store.get(job)
        if found is None or found.user_id != interaction.user.id:
            await answer(interaction, f"There is no job {job} of yours.")
            return
        if found.status is not JobStatus.SUCCEEDED or found.request.mode is Mode.DESCRIBE:
            await answer(  # a description's ended line is its caption
                interaction,
                render.ended_line(found)
                if found.status.terminal
                else f"Job #{job} is not finished yet; /queue shows where it is.",
            )
            return
        images = await runtime.store.images(job)
        if images_expired(found, images):
            keep = runtime.settings.storage.keep_results_days
            await answer(interaction, ResultExpired(job, keep).user_message)
            return
        private = (await runtime.members.preferences(interaction.user.id)).private_delivery
        if not private and (problem := missing_permissions(interaction)):
            await answer(interaction, problem)
            return
        place = place_of(interaction)
        try:
            await runtime.service.readmit(found, requester_of(interaction), nsfw_place=place.nsfw)
        except (Refusal, EngineError) as err:
            await answer(interaction, f"Job #{job} can't be shown here: {explain(err)}")
            return
        await interaction.response.defer(ephemeral=private, thinking=True)
        policy = await runtime.policies.content(interaction.guild_id, interaction.channel_id)
        here = {
            "nsfw": place.nsfw and policy.nsfw,
            "flagged": policy.flagged,
        }
        limit = interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT
        messages, embed, view = await result_parts(
            self.bot, found, images, show_flagged=shows_flagged(here), limit=limit
        )
        for index, uploads in enumerate(messages or [[]]):
            files = [
                discord.File(io.BytesIO(u.data), u.filename, spoiler=u.spoiler) for u in uploads
            ]
            if index == 0:
                await interaction.followup.send(embed=embed, view=view, files=files, wait=True)
            else:
                await interaction.followup.send(files=files, ephemeral=private, wait=True)

    @app_commands.command(
        name="forget-me", description="Delete your prompts, images, history and settings"
    )
    async def forget_me(self, interaction: discord.Interaction[Any]) -> None:
        view = ForgetConfirmation(interaction.user.id)
        await interaction.response.send_message(
            "This deletes all your prompts, images, job history and settings here, for good. "
            "Jobs still waiting are cancelled and refunded. Your quota use for today stays. "
            "Are you sure?",
            view=view,
            ephemeral=True,
        )

    @app_commands.command(name="help", description="How to use the image bot")
    async def help_command(self, interaction: discord.Interaction[Any]) -> None:
        embed = discord.Embed(title="Image bot", description=HELP, colour=COLOUR)
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def history_page(
    interaction: discord.Interaction[Any], user_id: int, page: int
) -> tuple[str, discord.ui.View]:
    history = await runtime_of(interaction).members.history(
        user_id, page=page, per_page=HISTORY_PAGE
    )
    if not history.total:
        return "You have no finished jobs.", discord.ui.View()
    lines = [f"**Your jobs** (page {history.page + 1} of {history.pages}, {history.total} in all)"]
    for job in history.jobs:
        when = f"<t:{int(job.finished_at or job.created_at)}:R>"
        lines.append(
            f"`#{job.job_id}` {job.status.value} {when} · {job.model} · "
            f"{shown(job.request.prompt, 120)}"
        )
    lines.append("Use `/show job:<number>` to post one again.")
    view = discord.ui.View(timeout=None)
    if history.page > 0:
        view.add_item(HistoryButton(user_id, history.page - 1, "◀ Newer"))
    if history.page + 1 < history.pages:
        view.add_item(HistoryButton(user_id, history.page + 1, "Older ▶"))
    view.stop()
    return "\n".join(lines), view


class HistoryButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"hist:(?P<user>[0-9]{1,19}):(?P<page>[0-9]{1,6})",
):
    def __init__(self, user_id: int, page: int, label: str = "Page") -> None:
        super().__init__(discord.ui.Button(label=label, custom_id=f"hist:{user_id}:{page}"))
        self.user_id = user_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: Any,
        /,
    ) -> HistoryButton:
        return cls(int(match["user"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.user.id != self.user_id:
            await answer(interaction, "This is someone else's history.")
            return
        content, view = await history_page(interaction, self.user_id, self.page)
        await interaction.response.edit_message(content=content, view=view)


class ForgetConfirmation(discord.ui.View):
    def __init__(self, user_id: int) -> None:
        super().__init__(timeout=120)
        self.user_id = user_id

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return interaction.user.id == self.user_id

    @discord.ui.button(label="Delete everything", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ForgetConfirmation]
    ) -> None:
        runtime = runtime_of(interaction)
        await interaction.response.defer()
        for job in await runtime.members.active(self.user_id):
            if job.status is JobStatus.QUEUED:
                with contextlib.suppress(Refusal):
                    await runtime.service.cancel(job.job_id, self.user_id)
        try:
            deleted = await runtime.members.forget(self.user_id)
        except Refusal as err:
            text = err.user_message
        else:
            plural = "s" if deleted != 1 else ""
            text = f"Done: {deleted} job{plural}, their images and your settings are deleted."
        self.stop()
        await interaction.edit_original_response(content=text, view=None)

    @discord.ui.button(label="Keep my data", style=discord.ButtonStyle.secondary)
    async def keep(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ForgetConfirmation]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content="Nothing was deleted.", view=None)


async def setup(bot: ImageBot) -> None:
    bot.add_dynamic_items(HistoryButton)
    await bot.add_cog(Member(bot))
