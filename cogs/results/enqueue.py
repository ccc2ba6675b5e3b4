"""Queueing a job for an interaction (a command, a button, a modal) and showing its status."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import discord

from bot.errors import Refusal
from bot.i18n import locale_of
from bot.jobs import Job
from cogs.common import (
    answer,
    bot_of,
    explain,
    place_of,
    requester_of,
    runtime_of,
    token_deadline,
)
from cogs.results.delivery import bot_sink
from engine import EngineError, GenerationRequest, Mode


async def enqueue(
    interaction: discord.Interaction[Any],
    request: GenerationRequest,
    *,
    provider: str | None = None,
    private: bool = False,
    extra: dict[str, Any] | None = None,
) -> Job | None:
    """Queue a request for the member behind an acknowledged interaction and show its status.
    Refusals are answered privately and charge nothing."""
    bot = bot_of(interaction)
    # A member's images (uploads, references, control) can show a real person: SFW always.
    drawn = not (request.reference_images or request.control_image or request.references)
    target = await _target(interaction, request.mode is Mode.TXT2IMG and drawn, private, extra)
    request = request.replace(nsfw_allowed=bool(target["nsfw"]))
    service, requester = bot.runtime.service, requester_of(interaction)
    return await _queued(
        interaction, service.submit(request, requester, provider=provider, target=target)
    )


async def enqueue_all(
    interaction: discord.Interaction[Any],
    jobs: list[tuple[str | None, GenerationRequest]],
    *,
    private: bool = False,
    extras: list[dict[str, Any] | None] | None = None,
) -> list[Job]:
    """Queue several jobs of one command together (all or none) and show each one's status:
    the first in the interaction's reply, the others in private follow-ups. ``extras``: what
    each job's target keeps besides, as ``enqueue``'s ``extra``."""
    bot = bot_of(interaction)
    batch = []
    for index, (provider, request) in enumerate(jobs):
        drawn = not (request.reference_images or request.control_image or request.references)
        extra = extras[index] if extras else None
        target = await _target(interaction, request.mode is Mode.TXT2IMG and drawn, private, extra)
        batch.append((request.replace(nsfw_allowed=bool(target["nsfw"])), provider, target))
    try:
        queued = await bot.runtime.service.submit_all(batch, requester_of(interaction))
    except (Refusal, EngineError) as err:
        await answer(interaction, explain(err, locale_of(interaction)))
        return []
    sink = bot_sink(bot)
    for index, job in enumerate(queued):
        await sink.show_status(interaction, job, followup=index > 0)
    return queued


async def enqueue_describe(
    interaction: discord.Interaction[Any], image: bytes, *, private: bool = False
) -> Job | None:
    """Queue a caption of ``image`` as ``enqueue`` queues images."""
    target = await _target(interaction, False, private, None)
    service, requester = runtime_of(interaction).service, requester_of(interaction)
    return await _queued(interaction, service.submit_describe(image, requester, target=target))


async def _queued(interaction: discord.Interaction[Any], submitting: Awaitable[Job]) -> Job | None:
    try:
        job = await submitting
    except (Refusal, EngineError) as err:
        await answer(interaction, explain(err, locale_of(interaction)))
        return None
    await bot_sink(bot_of(interaction)).show_status(interaction, job)
    return job


async def _target(
    interaction: discord.Interaction[Any],
    nsfw_mode: bool,
    private: bool,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    """Where and how a job of this interaction is delivered, stored with the job."""
    bot = bot_of(interaction)
    place = place_of(interaction)
    policy = await bot.runtime.policies.content(interaction.guild_id, interaction.channel_id)
    return {
        "application_id": interaction.application_id,
        "token": interaction.token,
        "token_expires": token_deadline(interaction),
        "channel_id": interaction.channel_id,
        "guild_id": interaction.guild_id,
        "can_post": place.can_post,
        "can_send": place.can_post and _can_send(interaction),
        "nsfw": place.nsfw and policy.nsfw and nsfw_mode,
        "flagged": policy.flagged,
        "private": private,
        "upload_limit": interaction.filesize_limit,
        "can_attach": private
        or interaction.guild_id is None
        or interaction.app_permissions.attach_files,
        **(extra or {}),
    }


def _can_send(interaction: discord.Interaction[Any]) -> bool:
    """Whether the bot may post the result in the channel itself (rather than as a follow-up
    of the interaction, which needs no channel permission)."""
    if interaction.guild_id is None:
        return True
    granted = interaction.app_permissions
    send = (
        granted.send_messages_in_threads
        if isinstance(interaction.channel, discord.Thread)
        else granted.send_messages
    )
    return send and granted.attach_files and granted.embed_links
