"""/admin for moderators and the bot owner, /status for everyone, and the moderators' side of
reports. Every change is stored in SQLite and written to the audit log (and the log channel)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.app_commands import Range
from discord.ext import commands

from bot import freespace
from bot.errors import Refusal
from bot.jobs import Job
from bot.moderation import Report, Tier
from bot.policy import ALL, ContentPolicy
from cogs import render
from cogs.common import answer, bot_of, clip, requester_of, runtime_of, shown

if TYPE_CHECKING:
    from bot.app import ImageBot
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

COLOUR = discord.Colour.dark_orange()
AUDIT_PAGE = 10


class NotModerator(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__(
            "Only moderators (Manage Server, or the server's moderator role) can do that."
        )


class NotInstalledHere(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__(
            "Moderation works only in servers that added the bot; this server has not, so "
            "nothing here can be changed through your own install of the app."
        )


class NotOwner(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__("Only the bot's owner can do that.")


async def is_owner(interaction: discord.Interaction[Any]) -> bool:
    return await bot_of(interaction).is_owner(interaction.user)


async def is_moderator(interaction: discord.Interaction[Any]) -> bool:
    """Decided here from what Discord computed for this member, whatever the client showed:
    Manage Server, Administrator, the server's moderator role, or the bot's owner. In a
    server, only where the server installed the bot: through a member's own install of the
    app, whoever owns a server (the bot need not be in it) passes every permission check."""
    if interaction.guild_id is not None and not interaction.is_guild_integration():
        return False
    if await is_owner(interaction):
        return True
    if interaction.guild_id is None:
        return False
    permissions = interaction.permissions
    if permissions.manage_guild or permissions.administrator:
        return True
    role = await runtime_of(interaction).policies.guild_setting(
        interaction.guild_id, "moderator_role", 0
    )
    user = interaction.user
    return bool(role) and isinstance(user, discord.Member) and any(r.id == role for r in user.roles)


async def audit(
    interaction: discord.Interaction[Any],
    action: str,
    *,
    target_id: int | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
    recorded: bool = False,
) -> None:
    """Record a moderator action (unless the store already did) and mirror it to the
    server's log channel when one is set."""
    runtime = runtime_of(interaction)
    if not recorded:
        await runtime.moderation.record(
            guild_id=interaction.guild_id,
            actor_id=interaction.user.id,
            action=action,
            target_id=target_id,
            reason=reason,
            details=details,
        )
    await post_log(
        bot_of(interaction), interaction.guild_id, interaction.user.id, action, target_id, reason
    )


async def post_log(
    bot: ImageBot,
    guild_id: int | None,
    actor_id: int,
    action: str,
    target_id: int | None,
    reason: str,
) -> None:
    channel_id = await bot.runtime.policies.guild_setting(guild_id, "log_channel", 0)
    if not channel_id:
        return
    target = f" → {target_id}" if target_id is not None else ""
    why = f": {clip(reason, 300)}" if reason else ""
    try:
        await bot.get_partial_messageable(int(channel_id)).send(
            f"`{action}` by <@{actor_id}>{target}{why}",
            allowed_mentions=discord.AllowedMentions.none(),
        )
    except discord.HTTPException as err:
        log.warning("Could not write to the log channel %s: %s", channel_id, err)


@app_commands.default_permissions(manage_guild=True)
@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class Admin(commands.GroupCog, group_name="admin", group_description="Moderate the image bot"):
    quota = app_commands.Group(name="quota", description="Members' quotas")
    tier = app_commands.Group(name="tier", description="Quota tiers by role")
    ban = app_commands.Group(name="ban", description="Who may not use the bot")
    terms = app_commands.Group(name="terms", description="Blocked words and patterns")
    policy = app_commands.Group(
        name="policy", description="What this server and its channels allow"
    )
    queue = app_commands.Group(name="queue", description="The job queue")
    member = app_commands.Group(name="member", description="A member's data")
    owner = app_commands.Group(name="owner", description="For the bot's owner")

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @property
    def runtime(self) -> Runtime:
        return self.bot.runtime

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        command = interaction.command.qualified_name if interaction.command else "admin"
        if interaction.guild_id is not None and not interaction.is_guild_integration():
            log.warning(
                "Refused /%s to member %d in guild %s: not installed by the server",
                command,
                interaction.user.id,
                interaction.guild_id,
            )
            raise NotInstalledHere()
        if not await is_moderator(interaction):
            log.warning(
                "Refused /%s to member %d in guild %s: not a moderator",
                command,
                interaction.user.id,
                interaction.guild_id,
            )
            raise NotModerator()
        return True

    async def _owner_only(self, interaction: discord.Interaction[Any]) -> None:
        if not await is_owner(interaction):
            raise NotOwner()

    # Quotas

    @quota.command(name="view", description="A member's quota use today")
    async def quota_view(
        self, interaction: discord.Interaction[Any], member: discord.Member
    ) -> None:
        limits = await self.runtime.service.limits_for(requester_of(interaction, member))
        usage = await self.runtime.ledger.usage(member.id, limits)
        await answer(
            interaction,
            f"{member.mention} has used {usage.used} of {usage.allowance} units today "
            f"({usage.remaining} left, tier {limits.tier}); resets <t:{int(usage.resets_at)}:R>.",
        )

    @quota.command(name="grant", description="Give a member extra units for today")
    async def quota_grant(
        self,
        interaction: discord.Interaction[Any],
        member: discord.Member,
        units: Range[int, -10_000, 10_000],
        reason: str = "",
    ) -> None:
        scope = _scope(interaction)
        await self.runtime.ledger.grant(
            member.id, scope, units, actor_id=interaction.user.id, note=reason
        )
        await audit(
            interaction, "quota.grant", target_id=member.id, reason=reason, details={"units": units}
        )
        await answer(interaction, f"Gave {member.mention} {units} unit(s) for today.")

    @quota.command(name="reset", description="Bring a member's use today back to zero")
    async def quota_reset(
        self, interaction: discord.Interaction[Any], member: discord.Member, reason: str = ""
    ) -> None:
        await self.runtime.ledger.reset(
            member.id, _scope(interaction), actor_id=interaction.user.id, note=reason
        )
        await audit(interaction, "quota.reset", target_id=member.id, reason=reason)
        await answer(interaction, f"{member.mention}'s use today is back to zero.")

    @quota.command(name="set", description="A member's own daily allowance (empty: the usual)")
    async def quota_set(
        self,
        interaction: discord.Interaction[Any],
        member: discord.Member,
        daily_units: Range[int, 0, 100_000] | None = None,
    ) -> None:
        guild = _guild(interaction)
        await self.runtime.policies.set_member_units(
            guild, member.id, daily_units, actor_id=interaction.user.id
        )
        await audit(
            interaction, "quota.set", target_id=member.id, details={"daily_units": daily_units}
        )
        text = "the usual allowance" if daily_units is None else f"{daily_units} units a day"
        await answer(interaction, f"{member.mention} now has {text}.")

    @quota.command(name="default", description="This server's daily allowance (in DMs: the bot's)")
    async def quota_default(
        self,
        interaction: discord.Interaction[Any],
        daily_units: Range[int, 0, 100_000] | None = None,
    ) -> None:
        if interaction.guild_id is None:
            await self._owner_only(interaction)
        await self.runtime.policies.set_guild_units(interaction.guild_id, daily_units)
        await audit(interaction, "quota.default", details={"daily_units": daily_units})
        where = "this server" if interaction.guild_id else "DMs and private channels"
        value = "the configured default" if daily_units is None else f"{daily_units} units a day"
        await answer(interaction, f"The allowance in {where} is now {value}.")

    # Tiers

    @tier.command(name="set", description="Limits for members with a role")
    async def tier_set(
        self,
        interaction: discord.Interaction[Any],
        role: discord.Role,
        name: Range[str, 1, 50],
        daily_units: Range[int, 0, 100_000] | None = None,
        max_queued: Range[int, 1, 100] | None = None,
        max_width: Range[int, 64, 8192] | None = None,
        max_height: Range[int, 64, 8192] | None = None,
        max_steps: Range[int, 1, 500] | None = None,
        max_count: Range[int, 1, 10] | None = None,
        cooldown_seconds: Range[float, 0.0, 86_400.0] | None = None,
        priority: Range[float, 0.1, 100.0] = 1.0,
    ) -> None:
        tier = Tier(
            _guild(interaction),
            role.id,
            name,
            daily_units,
            max_queued,
            max_width,
            max_height,
            max_steps,
            max_count,
            cooldown_seconds,
            priority,
        )
        await self.runtime.moderation.set_tier(tier, actor_id=interaction.user.id)
        await audit(interaction, "tier.set", target_id=role.id, recorded=True)
        await answer(interaction, f"Tier **{name}** for {role.mention}: {_tier_text(tier)}.")

    @tier.command(name="remove", description="Remove a role's tier")
    async def tier_remove(self, interaction: discord.Interaction[Any], role: discord.Role) -> None:
        removed = await self.runtime.moderation.remove_tier(
            _guild(interaction), role.id, actor_id=interaction.user.id
        )
        if removed:
            await audit(interaction, "tier.remove", target_id=role.id, recorded=True)
        await answer(interaction, "Removed." if removed else f"{role.mention} has no tier.")

    @tier.command(name="list", description="This server's tiers")
    async def tier_list(self, interaction: discord.Interaction[Any]) -> None:
        tiers = await self.runtime.moderation.tiers(_guild(interaction))
        lines = [f"<@&{t.role_id}> **{t.name}**: {_tier_text(t)}" for t in tiers]
        await answer(interaction, "\n".join(lines) or "No tiers: everyone has the server's limits.")

    # Bans

    @ban.command(name="add", description="Stop a member using the bot here")
    async def ban_add(
        self,
        interaction: discord.Interaction[Any],
        member: discord.User,
        reason: Range[str, 1, 300],
        hours: Range[float, 0.01, 100_000.0] | None = None,
        everywhere: bool = False,
    ) -> None:
        if everywhere:
            await self._owner_only(interaction)
        guild = None if everywhere else _guild(interaction)
        expires = time.time() + hours * 3600 if hours is not None else None
        await self.runtime.moderation.ban(
            member.id,
            guild_id=guild,
            actor_id=interaction.user.id,
            reason=reason,
            expires_at=expires,
        )
        await audit(interaction, "ban", target_id=member.id, reason=reason, recorded=True)
        until = f" until <t:{int(expires)}:f>" if expires else ""
        where = "anywhere" if everywhere else "in this server"
        await answer(interaction, f"{member.mention} can't use the bot {where}{until}.")

    @ban.command(name="remove", description="Let a member use the bot again")
    async def ban_remove(
        self, interaction: discord.Interaction[Any], member: discord.User, everywhere: bool = False
    ) -> None:
        if everywhere:
            await self._owner_only(interaction)
        guild = None if everywhere else _guild(interaction)
        lifted = await self.runtime.moderation.unban(
            member.id, guild_id=guild, actor_id=interaction.user.id
        )
        if lifted:
            await audit(interaction, "unban", target_id=member.id, recorded=True)
        await answer(interaction, "Unbanned." if lifted else f"{member.mention} was not banned.")

    @ban.command(name="list", description="Members who may not use the bot here")
    async def ban_list(self, interaction: discord.Interaction[Any]) -> None:
        bans = await self.runtime.moderation.bans(_guild(interaction))
        lines = [
            f"<@{b.user_id}>: {clip(b.reason, 100)}"
            + (f" (until <t:{int(b.expires_at)}:f>)" if b.expires_at else "")
            for b in bans
        ]
        await answer(interaction, "\n".join(lines[:40]) or "Nobody is banned here.")

    # Blocked terms

    @terms.command(name="add", description="Block a word (whole word) or a regular expression")
    async def terms_add(
        self,
        interaction: discord.Interaction[Any],
        pattern: Range[str, 1, 200],
        regex: bool = False,
    ) -> None:
        await self.runtime.moderation.add_term(
            _guild(interaction), pattern, regex=regex, actor_id=interaction.user.id
        )
        await audit(interaction, "term.add", reason=pattern, recorded=True)
        await answer(interaction, f"Blocked `{pattern}`{' (regex)' if regex else ''}.")

    @terms.command(name="remove", description="Unblock a term (its text or number)")
    async def terms_remove(self, interaction: discord.Interaction[Any], pattern: str) -> None:
        removed = await self.runtime.moderation.remove_term(
            _guild(interaction), pattern, actor_id=interaction.user.id
        )
        if removed:
            await audit(interaction, "term.remove", reason=pattern, recorded=True)
        await answer(interaction, "Unblocked." if removed else f"`{pattern}` is not blocked here.")

    @terms.command(name="list", description="This server's blocked terms")
    async def terms_list(self, interaction: discord.Interaction[Any]) -> None:
        terms = await self.runtime.moderation.terms(_guild(interaction))
        lines = [f"{t.term_id}. `{t.pattern}`{' (regex)' if t.regex else ''}" for t in terms]
        built_in = "A built-in list of explicit words also applies outside age-restricted channels."
        await answer(interaction, "\n".join([*lines[:50], built_in]))

    # Content policy

    @policy.command(name="show", description="What this server (or a channel) allows")
    async def policy_show(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.abc.GuildChannel | None = None,
    ) -> None:
        guild = _guild(interaction)
        policy = await self.runtime.policies.content(guild, channel.id if channel else None)
        await answer(interaction, _policy_text(policy, channel))

    @policy.command(name="set", description="Change what this server, or one channel, allows")
    @app_commands.describe(
        channel="Only this channel (else the whole server)",
        nsfw="Allow NSFW in age-restricted channels (never elsewhere)",
        flagged="Results the safety check flags, in age-restricted channels",
        img2img="Allow starting from an image",
        model="Default model (provider:model)",
        width="Default width",
        height="Default height",
        negative="Default negative prompt",
    )
    async def policy_set(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.abc.GuildChannel | None = None,
        nsfw: bool | None = None,
        flagged: Literal["spoiler", "hide"] | None = None,
        img2img: bool | None = None,
        model: str | None = None,
        width: Range[int, 64, 2048] | None = None,
        height: Range[int, 64, 2048] | None = None,
        negative: Range[str, 0, 1500] | None = None,
    ) -> None:
        changes = {
            key: value
            for key, value in (
                ("nsfw", nsfw),
                ("flagged", flagged),
                ("img2img", img2img),
                ("model", model),
                ("width", width),
                ("height", height),
                ("negative_prompt", negative),
            )
            if value is not None
        }
        if not changes:
            policy = await self.runtime.policies.content(
                _guild(interaction), channel.id if channel else None
            )
            await answer(interaction, _policy_text(policy, channel))
            return
        policy = await self.runtime.policies.set_content(
            _guild(interaction), changes, channel_id=channel.id if channel else None
        )
        await audit(
            interaction,
            "policy.set",
            target_id=channel.id if channel else None,
            details=changes,
        )
        await answer(interaction, "Saved.\n" + _policy_text(policy, channel))

    @policy.command(name="provider", description="Switch a provider on or off here")
    async def policy_provider(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        enabled: bool,
        channel: discord.abc.GuildChannel | None = None,
    ) -> None:
        if self.runtime.providers.find(name) is None:
            raise Refusal(f"There is no provider {name!r}; /models lists them.")
        await self._toggle(interaction, "disabled_providers", name, enabled, channel)

    @policy.command(name="model", description="Switch a model on or off here")
    async def policy_model(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        enabled: bool,
        channel: discord.abc.GuildChannel | None = None,
    ) -> None:
        await self._toggle(interaction, "disabled_models", name, enabled, channel)

    async def _toggle(
        self,
        interaction: discord.Interaction[Any],
        key: str,
        name: str,
        enabled: bool,
        channel: discord.abc.GuildChannel | None,
    ) -> None:
        guild = _guild(interaction)
        current = await self.runtime.policies.content(guild, channel.id if channel else None)
        names = set(getattr(current, key))
        names = names - {name} if enabled else names | {name}
        policy = await self.runtime.policies.set_content(
            guild, {key: sorted(names)}, channel_id=channel.id if channel else None
        )
        await audit(
            interaction,
            f"policy.{'enable' if enabled else 'disable'}",
            target_id=channel.id if channel else None,
            reason=name,
        )
        await answer(interaction, "Saved.\n" + _policy_text(policy, channel))

    # Queue

    @queue.command(name="list", description="Jobs waiting and running")
    async def queue_list(self, interaction: discord.Interaction[Any]) -> None:
        guild = (
            None
            if await is_owner(interaction) and interaction.guild_id is None
            else interaction.guild_id
        )
        jobs = await self.runtime.store.active(guild, limit=20)
        paused = await self.runtime.policies.paused()
        lines = [
            f"#{job.job_id} <@{job.user_id}> {job.status.value} · {job.provider}/{job.model}"
            f" · {shown(job.request.prompt, 60)}"
            for job in jobs
        ]
        if paused:
            lines.insert(0, f"Paused: {', '.join(sorted(paused))}")
        await answer(interaction, "\n".join(lines) or "The queue is empty.")

    @queue.command(name="cancel", description="Cancel any job (refunded)")
    async def queue_cancel(
        self, interaction: discord.Interaction[Any], job: int, reason: str = ""
    ) -> None:
        found = await self._job_here(interaction, job)
        status = await self.runtime.service.cancel(found.job_id)
        await audit(interaction, "job.cancel", target_id=job, reason=reason)
        await answer(interaction, f"Job #{job}: {status.value}.")

    @queue.command(name="pause", description="Drain: running jobs finish, new ones wait")
    async def queue_pause(
        self, interaction: discord.Interaction[Any], provider: str | None = None, reason: str = ""
    ) -> None:
        await self._owner_only(interaction)
        name = self._provider_name(provider)
        await self.runtime.policies.set_provider_state(
            name, "paused", actor_id=interaction.user.id, reason=reason
        )
        await audit(interaction, "queue.pause", reason=reason, details={"provider": name})
        what = "The whole queue" if name == ALL else f"Provider {name}"
        await answer(interaction, f"{what} is paused: running jobs finish, new ones wait.")

    @queue.command(name="resume", description="Start taking jobs again")
    async def queue_resume(
        self, interaction: discord.Interaction[Any], provider: str | None = None
    ) -> None:
        await self._owner_only(interaction)
        name = self._provider_name(provider)
        await self.runtime.policies.set_provider_state(name, None, actor_id=interaction.user.id)
        self.runtime.events.job_submitted()
        await audit(interaction, "queue.resume", details={"provider": name})
        await answer(interaction, "Resumed.")

    def _provider_name(self, provider: str | None) -> str:
        if provider is None:
            return ALL
        if self.runtime.providers.find(provider) is None:
            raise Refusal(f"There is no provider {provider!r}; /models lists them.")
        return provider

    async def _job_here(self, interaction: discord.Interaction[Any], job_id: int) -> Job:
        job = await self.runtime.store.get(job_id)
        if job is None or (
            job.guild_id != interaction.guild_id and not await is_owner(interaction)
        ):
            raise Refusal(f"There is no job {job_id} in this server.")
        return job

    # Members' data

    @member.command(name="prompts", description="A member's recent prompts here")
    async def member_prompts(
        self, interaction: discord.Interaction[Any], member: discord.User
    ) -> None:
        prompts = await self.runtime.moderation.recent_prompts(member.id, _guild(interaction))
        lines = [
            f"#{job_id} <t:{int(at)}:R>: {shown(prompt, 150)}" for job_id, prompt, at in prompts
        ]
        await audit(interaction, "member.prompts", target_id=member.id)
        await answer(interaction, "\n".join(lines) or f"{member.mention} has no prompts here.")

    @member.command(name="purge", description="Delete the results the bot posted for a member here")
    async def member_purge(
        self, interaction: discord.Interaction[Any], member: discord.User, reason: str = ""
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        deleted = 0
        for job_id, reference in await self.runtime.moderation.delivered_messages(
            member.id, _guild(interaction)
        ):
            job = await self.runtime.store.get(job_id)
            if job is not None and await delete_result(self.bot, job, reference):
                deleted += 1
        await audit(
            interaction,
            "member.purge",
            target_id=member.id,
            reason=reason,
            details={"deleted": deleted},
        )
        await answer(interaction, f"Deleted {deleted} result message(s) of {member.mention}.")

    # Configuration, audit, stats

    @app_commands.command(name="config", description="Moderator role, report and log channels")
    async def config(
        self,
        interaction: discord.Interaction[Any],
        moderator_role: discord.Role | None = None,
        report_channel: discord.TextChannel | None = None,
        log_channel: discord.TextChannel | None = None,
        buttons_everyone: bool | None = None,
    ) -> None:
        guild = _guild(interaction)
        settings = self.runtime.policies
        changes: dict[str, Any] = {}
        for key, value in (
            ("moderator_role", moderator_role.id if moderator_role else None),
            ("report_channel", report_channel.id if report_channel else None),
            ("log_channel", log_channel.id if log_channel else None),
            ("buttons_everyone", buttons_everyone),
        ):
            if value is not None:
                await settings.set_guild_setting(guild, key, value)
                changes[key] = value
        if changes:
            await audit(interaction, "config", details=changes)
        role = await settings.guild_setting(guild, "moderator_role", 0)
        reports = await settings.guild_setting(guild, "report_channel", 0)
        logs = await settings.guild_setting(guild, "log_channel", 0)
        everyone = await settings.guild_setting(guild, "buttons_everyone", False)
        await answer(
            interaction,
            f"{'Saved. ' if changes else ''}Moderator role: {f'<@&{role}>' if role else 'none'}; "
            f"reports go to {f'<#{reports}>' if reports else 'nowhere yet'}; "
            f"log channel: {f'<#{logs}>' if logs else 'none'}; "
            f"everyone may use result buttons: {'yes' if everyone else 'no'}.",
        )

    @app_commands.command(name="audit", description="What moderators did, newest first")
    async def audit_log(
        self, interaction: discord.Interaction[Any], page: Range[int, 1, 10_000] = 1
    ) -> None:
        guild = interaction.guild_id
        entries = await self.runtime.moderation.audit(guild, page=page - 1, per_page=AUDIT_PAGE)
        lines = [
            f"<t:{int(e.created_at)}:f> <@{e.actor_id}> `{e.action}`"
            + (f" → {e.target_id}" if e.target_id is not None else "")
            + (f": {clip(e.reason, 80)}" if e.reason else "")
            for e in entries.entries
        ]
        head = f"Audit log, page {entries.page + 1} of {entries.pages} ({entries.total} entries)"
        await answer(interaction, "\n".join([head, *lines]))

    @app_commands.command(name="stats", description="Images, failures and timings")
    async def stats(
        self, interaction: discord.Interaction[Any], days: Range[int, 1, 90] = 7
    ) -> None:
        stats = await self.runtime.moderation.stats(interaction.guild_id, days=days)
        embed = discord.Embed(title=f"The last {days} day(s)", colour=COLOUR)
        per_day = "\n".join(f"{day}: {n}" for day, n in stats.images_per_day[-14:]) or "none"
        embed.add_field(name="Images per day", value=clip(per_day, 1024))
        models = "\n".join(
            f"{m.provider}/{m.model}: {m.images} images, {m.jobs} jobs" for m in stats.models[:10]
        )
        embed.add_field(name="Providers and models", value=clip(models or "none", 1024))
        rate = f"{stats.failure_rate:.1%}" if stats.failure_rate is not None else "n/a"
        embed.add_field(
            name="Jobs",
            value=f"{stats.succeeded} done, {stats.failed} failed ({rate}), "
            f"{stats.cancelled} cancelled\nmedian {render.duration(stats.median_seconds)}, "
            f"p95 {render.duration(stats.p95_seconds)}",
            inline=False,
        )
        top = ", ".join(f"<@{user}> ({n})" for user, n in stats.top_users) or "nobody yet"
        embed.add_field(name="Top members", value=clip(top, 1024), inline=False)
        await answer(interaction, "", embed=embed)

    # The owner

    @owner.command(name="provider", description="Switch a provider on or off everywhere")
    async def owner_provider(
        self, interaction: discord.Interaction[Any], name: str, enabled: bool, reason: str = ""
    ) -> None:
        await self._owner_only(interaction)
        self._provider_name(name)
        await self.runtime.policies.set_provider_state(
            name, None if enabled else "disabled", actor_id=interaction.user.id, reason=reason
        )
        self.runtime.events.job_submitted()
        await audit(
            interaction,
            f"provider.{'enable' if enabled else 'disable'}",
            reason=reason,
            details={"provider": name},
        )
        await answer(interaction, f"Provider {name} is {'on' if enabled else 'off'} everywhere.")

    # Reports

    @commands.Cog.listener()
    async def on_job_reported(self, report_id: int, job: Job) -> None:
        """Post a new report to the report channel of the server where the reported message
        was seen (a /show re-post may be in another server than the job), with the image and
        buttons."""
        report = await self.runtime.moderation.report(report_id)
        if report is None:
            return
        policies = self.runtime.policies
        channel_id = await policies.guild_setting(report.guild_id, "report_channel", 0)
        if not channel_id:
            return
        embed = discord.Embed(title=f"Report #{report_id}: job #{job.job_id}", colour=COLOUR)
        embed.description = shown(job.request.prompt, 3000)
        embed.add_field(name="Member", value=f"<@{job.user_id}>")
        embed.add_field(name="Reported by", value=f"<@{report.reporter_id}>")
        embed.add_field(name="Model", value=f"{job.provider}/{job.model}")
        if report.seen_channel_id is not None:
            again = "" if job.guild_id == report.guild_id else " (shown again; made elsewhere)"
            embed.add_field(name="Seen in", value=f"<#{report.seen_channel_id}>{again}")
        images = await self.runtime.store.images(job.job_id)
        files = []
        if images:
            data = await asyncio.to_thread(Path(images[0].path).read_bytes)
            files.append(discord.File(io.BytesIO(data), f"report-{report_id}.png", spoiler=True))
        view = discord.ui.View(timeout=None)
        for action, label, style in (
            ("delete", "Delete result", discord.ButtonStyle.danger),
            ("ban", "Ban member", discord.ButtonStyle.danger),
            ("dismiss", "Dismiss", discord.ButtonStyle.secondary),
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
            await answer(interaction, NotModerator().args[0])
            return
        runtime = runtime_of(interaction)
        report = await runtime.moderation.report(self.report_id)
        if report is None or report.status != "open":
            await answer(interaction, f"Report #{self.report_id} is already closed.")
            return
        if report.guild_id != interaction.guild_id and not await is_owner(interaction):
            await answer(interaction, "That report belongs to another server.")
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
                await interaction.message.edit(
                    content=f"Report #{self.report_id} {status} by {interaction.user.mention}: "
                    f"{outcome}",
                    view=None,
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            except discord.HTTPException as err:
                log.info("Could not update the report message: %s", err)
        await answer(interaction, f"Report #{self.report_id}: {outcome}")

    async def _act(
        self, interaction: discord.Interaction[Any], report: Report, job: Job | None
    ) -> str:
        """What the moderators of the server where the report was filed may do: only there."""
        runtime = runtime_of(interaction)
        if self.action == "dismiss":
            return "dismissed, nothing changed."
        if job is None:
            return "the job no longer exists."
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
            return "the result was deleted." if deleted else "the result was already gone."
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
        return f"<@{job.user_id}> can no longer use the bot here."


class Status(commands.Cog):
    @app_commands.command(name="status", description="Is the bot up: providers, queue, wait")
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        depth = await runtime.store.depth()
        states = await runtime.policies.provider_states()
        embed = discord.Embed(title="Image bot status", colour=COLOUR)
        if ALL in states:
            embed.description = (
                "The queue is paused for maintenance: new jobs wait until it resumes."
            )
        if short := await freespace.current_shortage(runtime.settings):
            embed.description = f"{embed.description or ''}\n{freespace.NOTICE}".strip()
        for entry in list(runtime.providers)[:20]:
            provider = entry.provider
            queued, running = depth.get(entry.name, (0, 0))
            state = states.get(entry.name)
            health = (
                state
                if state
                else (f"unavailable: {provider.unavailable}" if provider.unavailable else "ready")
            )
            mean = await runtime.store.mean_duration(entry.name, provider.default_model)
            wait = (queued + running) * mean / entry.settings.concurrency if mean else None
            loaded = ", ".join(provider.loaded_models()) or "none"
            embed.add_field(
                name=entry.name,
                value=clip(
                    f"{health}\n{queued} waiting, {running} running\n"
                    f"a new job starts in about {render.duration(wait or 0.0)}\n"
                    f"loaded: {loaded}",
                    1024,
                ),
            )
        if await is_owner(interaction):
            vitals = _vitals() + (f"\nNo new jobs: {short}." if short else "")
            embed.add_field(name="Process (owner only)", value=vitals, inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)


def _vitals() -> str:
    """What a leak would show first: tasks, memory, open files."""
    tasks = len(asyncio.all_tasks())
    try:
        status = Path("/proc/self/status").read_text()
        rss = next(
            int(line.split()[1]) // 1024
            for line in status.splitlines()
            if line.startswith("VmRSS:")
        )
        files = len(os.listdir("/proc/self/fd"))
    except (OSError, StopIteration):
        return f"{tasks} asyncio tasks"
    return f"{tasks} asyncio tasks, {rss} MiB resident, {files} open files"


def _guild(interaction: discord.Interaction[Any]) -> int:
    if interaction.guild_id is None:
        raise Refusal("Use this in a server.")
    return interaction.guild_id


def _scope(interaction: discord.Interaction[Any]) -> int:
    return interaction.guild_id or 0


def _tier_text(tier: Tier) -> str:
    parts = [
        f"{tier.daily_units} units/day" if tier.daily_units is not None else None,
        f"{tier.max_queued} queued" if tier.max_queued is not None else None,
        f"≤{tier.max_width}×{tier.max_height}" if tier.max_width or tier.max_height else None,
        f"≤{tier.max_steps} steps" if tier.max_steps is not None else None,
        f"≤{tier.max_count} images" if tier.max_count is not None else None,
        f"cooldown {tier.cooldown_seconds:g} s" if tier.cooldown_seconds is not None else None,
        f"priority {tier.priority:g}",
    ]
    return ", ".join(part for part in parts if part)


def _policy_text(policy: ContentPolicy, channel: discord.abc.GuildChannel | None) -> str:
    where = f"<#{channel.id}>" if channel else "this server"
    return (
        f"In {where}: NSFW in age-restricted channels {'allowed' if policy.nsfw else 'off'}; "
        f"flagged results {'as spoilers' if policy.flagged == 'spoiler' else 'hidden'} there "
        f"(always hidden elsewhere); img2img {'on' if policy.img2img else 'off'}; "
        f"providers off: {', '.join(policy.disabled_providers) or 'none'}; models off: "
        f"{', '.join(policy.disabled_models) or 'none'}; default model "
        f"{policy.model or 'unset'}, size {policy.width or 'auto'}×{policy.height or 'auto'}, "
        f"negative prompt {clip(policy.negative_prompt or 'unset', 100)}."
    )


async def setup(bot: ImageBot) -> None:
    bot.add_dynamic_items(ReportButton)
    await bot.add_cog(Admin(bot))
    await bot.add_cog(Status())
