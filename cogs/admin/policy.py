"""/admin policy: what a server and its channels allow."""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.errors import Refusal
from bot.i18n import lazy_t, locale_of, t
from bot.policy import ContentPolicy
from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.admin.checks import guild_of
from cogs.common import answer, clip


class PolicyCommands(AdminBase):
    """/admin policy."""

    policy = app_commands.Group(
        name="policy", description="What this server and its channels allow"
    )

    @policy.command(name="show", description="What this server (or a channel) allows")
    async def policy_show(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.abc.GuildChannel | None = None,
    ) -> None:
        guild = guild_of(interaction)
        policy = await self.runtime.policies.content(guild, channel.id if channel else None)
        await answer(interaction, _policy_text(policy, channel, locale_of(interaction)))

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
                guild_of(interaction), channel.id if channel else None
            )
            await answer(interaction, _policy_text(policy, channel, locale_of(interaction)))
            return
        policy = await self.runtime.policies.set_content(
            guild_of(interaction), changes, channel_id=channel.id if channel else None
        )
        await audit(
            interaction,
            "policy.set",
            target_id=channel.id if channel else None,
            details=changes,
        )
        locale = locale_of(interaction)
        await answer(
            interaction, t(locale, "Saved.") + "\n" + _policy_text(policy, channel, locale)
        )

    @policy.command(name="provider", description="Switch a provider on or off here")
    async def policy_provider(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        enabled: bool,
        channel: discord.abc.GuildChannel | None = None,
    ) -> None:
        if self.runtime.providers.find(name) is None:
            raise Refusal(
                lazy_t("There is no provider {name}; /models lists them.", name=repr(name))
            )
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
        guild = guild_of(interaction)
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
        locale = locale_of(interaction)
        await answer(
            interaction, t(locale, "Saved.") + "\n" + _policy_text(policy, channel, locale)
        )


def _policy_text(
    policy: ContentPolicy, channel: discord.abc.GuildChannel | None, locale: object
) -> str:
    none, unset, auto = t(locale, "none"), t(locale, "unset"), t(locale, "auto")
    return t(
        locale,
        "In {where}: NSFW in age-restricted channels {nsfw}; flagged results {flagged} there "
        "(always hidden elsewhere); img2img {img2img}; providers off: {providers}; models "
        "off: {models}; default model {model}, size {width}×{height}, negative prompt "
        "{negative}.",
        where=f"<#{channel.id}>" if channel else t(locale, "this server"),
        nsfw=t(locale, "allowed") if policy.nsfw else t(locale, "off"),
        flagged=t(locale, "as spoilers") if policy.flagged == "spoiler" else t(locale, "hidden"),
        img2img=t(locale, "on") if policy.img2img else t(locale, "off"),
        providers=", ".join(policy.disabled_providers) or none,
        models=", ".join(policy.disabled_models) or none,
        model=policy.model or unset,
        width=policy.width or auto,
        height=policy.height or auto,
        negative=clip(policy.negative_prompt or unset, 100),
    )
