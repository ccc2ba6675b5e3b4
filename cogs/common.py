"""What every cog shares: the runtime, who asked and where, and answers a member can read."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import discord

from bot.errors import Refusal, in_words
from bot.i18n import ENGLISH, discord_time, locale_of, t
from bot.jobs import Requester
from engine import EngineError

if TYPE_CHECKING:
    from bot.app import ImageBot
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

# Discord keeps an interaction token for 15 minutes; stop using it a little before.
TOKEN_LIFETIME = 15 * 60.0
TOKEN_MARGIN = 45.0
MAX_CONTENT = 2000
MENTION = re.compile(r"<@([!&]?[0-9]+>)")  # escape_mentions misses ids under 17 digits


def bot_of(interaction: discord.Interaction[Any]) -> ImageBot:
    return cast("ImageBot", interaction.client)


def runtime_of(interaction: discord.Interaction[Any]) -> Runtime:
    return bot_of(interaction).runtime


@dataclass(frozen=True, slots=True)
class Place:
    """Where an interaction happened, as far as delivery and the NSFW policy care."""

    guild_id: int | None
    channel_id: int | None
    nsfw: bool  # an age-restricted channel of a server; never true in DMs
    can_post: bool  # the bot itself can post here without the interaction's token

    @property
    def dm(self) -> bool:
        return self.guild_id is None


def place_of(interaction: discord.Interaction[Any]) -> Place:
    channel = interaction.channel
    guild_id = interaction.guild_id
    nsfw = False
    if guild_id is not None and channel is not None:
        is_nsfw = getattr(channel, "is_nsfw", None)
        nsfw = bool(is_nsfw()) if callable(is_nsfw) else False
    if guild_id is not None:  # a server the bot is in, or only the member installed it there
        can_post = interaction.client.get_guild(guild_id) is not None
    else:  # its own DM with the member, not a group DM it is no member of
        can_post = interaction.context.dm_channel
    return Place(guild_id, interaction.channel_id, nsfw, can_post)


def requester_of(
    interaction: discord.Interaction[Any], user: discord.User | discord.Member | None = None
) -> Requester:
    """Who asks, and where: the interaction's member, or ``user`` (whom a moderator names)."""
    user = user or interaction.user
    roles = frozenset(role.id for role in user.roles) if isinstance(user, discord.Member) else ()
    return Requester(
        user_id=user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        role_ids=frozenset(roles),
        locale=locale_of(interaction),
    )


def check_can_post(interaction: discord.Interaction[Any], private: bool) -> None:
    """Refuse up front where a public result could not be posted; private ones always can."""
    problem = None if private else missing_permissions(interaction, locale=locale_of(interaction))
    if problem:
        raise Refusal(problem)


async def private_delivery(interaction: discord.Interaction[Any]) -> bool:
    """The member's private-delivery preference; where a public result could not be posted
    here, refused."""
    preferences = await runtime_of(interaction).members.preferences(interaction.user.id)
    check_can_post(interaction, preferences.private_delivery)
    return preferences.private_delivery


def is_moderator(interaction: discord.Interaction[Any]) -> bool:
    """Moderators manage messages in the channel (Discord computes this for the member)."""
    permissions = interaction.permissions
    return interaction.guild_id is not None and (
        permissions.manage_messages or permissions.administrator
    )


def missing_permissions(
    interaction: discord.Interaction[Any], *, files: bool = True, locale: object = ENGLISH
) -> str | None:
    """What the bot lacks here to post a result, in words for the member; None when nothing."""
    if interaction.guild_id is None:
        return None
    granted = interaction.app_permissions
    lacks_files = files and not granted.attach_files
    lacks_links = not granted.embed_links
    if lacks_files and lacks_links:
        return t(
            locale,
            "I can't post images here: I'm missing the Attach Files and Embed Links permissions "
            "in this channel. Ask a moderator to grant them, or turn on private delivery with "
            "`/settings private:True`.",
        )
    if lacks_files or lacks_links:
        return t(
            locale,
            "I can't post images here: I'm missing the {permission} permission in this channel. "
            "Ask a moderator to grant it, or turn on private delivery with "
            "`/settings private:True`.",
            permission="Attach Files" if lacks_files else "Embed Links",
        )
    return None


def token_deadline(interaction: discord.Interaction[Any]) -> float:
    return interaction.created_at.timestamp() + TOKEN_LIFETIME - TOKEN_MARGIN


def token_alive(target: dict[str, Any], now: float | None = None) -> bool:
    """The job's interaction token is still there (it is dropped once delivered or expired)
    and still valid."""
    deadline = target.get("token_expires")
    if deadline is None or not target.get("token"):
        return False
    return (time.time() if now is None else now) < float(deadline)


def explain(error: Exception, locale: object = ENGLISH) -> str:
    """An expected error in a member's words and language (``locale_of(interaction)``)."""
    if isinstance(error, Refusal | EngineError):
        return in_words(error, discord_time, locale)
    raise error


async def answer(
    interaction: discord.Interaction[Any],
    content: str,
    *,
    view: discord.ui.View | None = None,
    embed: discord.Embed | None = None,
) -> None:
    """Reply privately, whether or not the interaction was acknowledged yet."""
    content = content[:MAX_CONTENT]
    extra: dict[str, Any] = {}
    if view is not None:
        extra["view"] = view
    if embed is not None:
        extra["embed"] = embed
    if not interaction.response.is_done():
        await interaction.response.send_message(content, ephemeral=True, **extra)
    else:
        await interaction.edit_original_response(content=content, **extra)


M = TypeVar("M", bound=discord.ui.Modal)


def in_language(modal: M, locale: object) -> M:
    """``modal`` with its title, labels, descriptions and placeholders (``N_`` messages) in
    the member's language, before it is sent."""
    modal.title = t(locale, modal.title)
    for item in modal.walk_children():
        if isinstance(item, discord.ui.TextInput):
            if item.label:  # deprecated by discord.py 2.7 for a Label around it; still shown
                item.label = t(locale, item.label)
            if item.placeholder:
                item.placeholder = t(locale, item.placeholder)
        elif isinstance(item, discord.ui.Label):
            item.text = t(locale, item.text)
            if item.description:
                item.description = t(locale, item.description)
        elif isinstance(item, discord.ui.Select):
            if item.placeholder:
                item.placeholder = t(locale, item.placeholder)
            for option in item.options:
                option.label = t(locale, option.label)
    return modal


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(text: str, limit: int) -> str:
    """Text a member or a provider wrote, to show as it was typed: its mentions and markdown
    escaped (so it pings nobody and cannot dress up as the bot's own words), then clipped."""
    escaped = MENTION.sub("<@\u200b\\1", discord.utils.escape_mentions(text))
    return clip(discord.utils.escape_markdown(escaped), limit)


def requester_only(user_id: int) -> discord.AllowedMentions:
    """A result may ping the member who asked for it, and nobody else."""
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False
    )
