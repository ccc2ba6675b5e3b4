"""Reports on the moderators' side: posted to the report channel, acted on by button."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord.ext import commands

from bot.i18n import locale_of, t
from bot.jobs import Job
from bot.moderation import Report
from bot.moderation.evidence import report_exhibits
from cogs.admin.audit import audit, post_log
from cogs.admin.base import COLOUR, AdminBase
from cogs.admin.checks import NotModerator, is_moderator, is_owner
from cogs.common import answer, bot_of, runtime_of, shown
from cogs.results.parts import DEFAULT_UPLOAD_LIMIT
from engine import GenerationRequest

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)


class Reports(AdminBase):
    """Posts each new report to the report channel."""

    @commands.Cog.listener()
    async def on_job_reported(self, report_id: int, job: Job) -> None:
        """Post a new report to the report channel of the server where the reported message
        was seen (a /show re-post may be in another server than the job), with the image, the
        member's own images the job was given, and buttons."""
        report = await self.runtime.moderation.report(report_id)
        if report is None:
            return
        policies = self.runtime.policies
        channel_id = await policies.guild_setting(report.guild_id, "report_channel", 0)
        if not channel_id:
            return
        guild = self.bot.get_guild(report.guild_id) if report.guild_id is not None else None
        locale = guild.preferred_locale if guild is not None else None  # no interaction here
        embed = discord.Embed(
            title=t(locale, "Report #{report}: job #{job}", report=report_id, job=job.job_id),
            colour=COLOUR,
        )
        embed.description = shown(job.request.prompt, 3000)
        embed.add_field(name=t(locale, "Member"), value=f"<@{job.user_id}>")
        embed.add_field(name=t(locale, "Reported by"), value=f"<@{report.reporter_id}>")
        embed.add_field(name=t(locale, "Model"), value=f"{job.provider}/{job.model}")
        if report.seen_channel_id is not None:
            seen = f"<#{report.seen_channel_id}>"
            if job.guild_id != report.guild_id:
                seen += " " + t(locale, "(shown again; made elsewhere)")
            embed.add_field(name=t(locale, "Seen in"), value=seen)
        images = await self.runtime.store.images(job.job_id)
        files = []
        room = DEFAULT_UPLOAD_LIMIT
        if images:
            data = await asyncio.to_thread(Path(images[0].path).read_bytes)
            files.append(discord.File(io.BytesIO(data), f"report-{report_id}.png", spoiler=True))
            room -= len(data)
        # The member's own images too (references, control, the image it started from): they
        # can show a real person, which is often what the report is about.
        more, lines = await exhibit_files(report_id, job.request, room, locale)
        files += more
        if lines:
            embed.add_field(name=t(locale, "Member's images"), value="\n".join(lines), inline=False)
        view = discord.ui.View(timeout=None)
        for action, label, style in (
            ("delete", t(locale, "Delete result"), discord.ButtonStyle.danger),
            ("ban", t(locale, "Ban member"), discord.ButtonStyle.danger),
            ("dismiss", t(locale, "Dismiss"), discord.ButtonStyle.secondary),
        ):
            view.add_item(ReportButton(action, report_id, label=label, style=style))
        view.stop()
        try:
            message = await self.bot.get_partial_messageable(int(channel_id)).send(
                embed=embed, files=files, view=view, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as err:
            log.warning("Report %d could not be posted to %s: %s", report_id, channel_id, err)
            return
        await self.runtime.moderation.set_report_message(report_id, int(channel_id), message.id)


async def exhibit_files(
    report_id: int, request: GenerationRequest, room: int, locale: object = None
) -> tuple[list[discord.File], list[str]]:
    """The member's images a reported job's ``request`` was given, as spoiler files within
    ``room`` bytes, and a numbered line for each (one left out says so)."""
    files, lines = [], []
    for number, exhibit in enumerate(await asyncio.to_thread(report_exhibits, request), start=1):
        if len(exhibit.data) > room:
            left_out = t(locale, "(not attached: too large)")
            lines.append(f"{number}. {exhibit.label} {left_out}")
            continue
        room -= len(exhibit.data)
        lines.append(f"{number}. {exhibit.label}")
        name = f"report-{report_id}-{exhibit.slug}.png"
        files.append(discord.File(io.BytesIO(exhibit.data), name, spoiler=True))
    return files, lines


async def delete_result(bot: ImageBot, job: Job, reference: str | None) -> bool:
    """Delete the messages a job's result was posted in (``reference`` lists them as
    ``channel/message``, comma-separated); False if none was left to delete."""
    deleted = False
    for place in (reference or "").split(","):
        channel_id, _, message_id = place.rpartition("/")
        if not message_id.isdigit():
            continue
        channel = int(channel_id) if channel_id else job.target.get("channel_id") or job.channel_id
        if channel is None:
            continue
        try:
            message = bot.get_partial_messageable(int(channel)).get_partial_message(int(message_id))
            await message.delete()
        except discord.NotFound:
            continue
        except discord.HTTPException as err:
            log.warning("Could not delete the result of job %d: %s", job.job_id, err)
            continue
        deleted = True
    return deleted


class ReportButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"report:(?P<action>delete|ban|dismiss):(?P<report>[0-9]{1,19})",
):
    def __init__(
        self,
        action: str,
        report_id: int,
        *,
        label: str = "",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or action, style=style, custom_id=f"report:{action}:{report_id}"
            )
        )
        self.action = action
        self.report_id = report_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> ReportButton:
        return cls(match["action"], int(match["report"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        if not bot.first_time(interaction):
            return
        if not await is_moderator(interaction):
            log.warning(
                "Refused report button %s to member %d: not a moderator",
                self.action,
                interaction.user.id,
            )
            await answer(interaction, t(locale_of(interaction), NotModerator().args[0]))
            return
        runtime = runtime_of(interaction)
        locale = locale_of(interaction)
        report = await runtime.moderation.report(self.report_id)
        if report is None or report.status != "open":
            await answer(
                interaction, t(locale, "Report #{report} is already closed.", report=self.report_id)
            )
            return
        if report.guild_id != interaction.guild_id and not await is_owner(interaction):
            await answer(interaction, t(locale, "That report belongs to another server."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await runtime.store.get(report.job_id) if report.job_id is not None else None
        outcome = await self._act(interaction, report, job)
        status: Literal["resolved", "dismissed"] = (
            "dismissed" if self.action == "dismiss" else "resolved"
        )
        await runtime.moderation.resolve_report(
            self.report_id, actor_id=interaction.user.id, status=status
        )
        await post_log(
            bot,
            interaction.guild_id,
            interaction.user.id,
            f"report.{status}",
            self.report_id,
            outcome,
        )
        if interaction.message is not None:
            try:
                values = {
                    "report": self.report_id,
                    "moderator": interaction.user.mention,
                    "outcome": outcome,
                }
                await interaction.message.edit(
                    content=t(
                        locale, "Report #{report} dismissed by {moderator}: {outcome}", **values
                    )
                    if status == "dismissed"
                    else t(locale, "Report #{report} resolved by {moderator}: {outcome}", **values),
                    view=None,
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            except discord.HTTPException as err:
                log.info("Could not update the report message: %s", err)
        await answer(
            interaction,
            t(locale, "Report #{report}: {outcome}", report=self.report_id, outcome=outcome),
        )

    async def _act(
        self, interaction: discord.Interaction[Any], report: Report, job: Job | None
    ) -> str:
        """What the moderators of the server where the report was filed may do: only there."""
        runtime = runtime_of(interaction)
        locale = locale_of(interaction)
        if self.action == "dismiss":
            return t(locale, "dismissed, nothing changed.")
        if job is None:
            return t(locale, "the job no longer exists.")
        if self.action == "delete":
            places = []
            if job.guild_id == report.guild_id:  # the result as delivered, in every part
                row = await runtime.db.fetchone(
                    "SELECT reference FROM deliveries WHERE job_id = ?", (job.job_id,)
                )
                places.append(row["reference"] if row and row["reference"] else "")
            if report.seen_message_id is not None:
                places.append(f"{report.seen_channel_id}/{report.seen_message_id}")
            deleted = await delete_result(bot_of(interaction), job, ",".join(places))
            await audit(
                interaction,
                "result.delete",
                target_id=job.job_id,
                reason=f"report #{self.report_id}",
            )
            return (
                t(locale, "the result was deleted.")
                if deleted
                else t(locale, "the result was already gone.")
            )
        await runtime.moderation.ban(
            job.user_id,
            guild_id=report.guild_id,
            actor_id=interaction.user.id,
            reason=f"report #{self.report_id}",
            expires_at=None,
        )
        await audit(
            interaction,
            "ban",
            target_id=job.user_id,
            reason=f"report #{self.report_id}",
            recorded=True,
        )
        return t(locale, "{member} can no longer use the bot here.", member=f"<@{job.user_id}>")
