"""The Discord sink: a job's status message with its progress, then its result, delivered once."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord
from PIL import Image, ImageFilter

from bot.i18n import t
from bot.jobs import Job, JobStatus, StoredImage
from bot.policy import ALL
from cogs import render
from cogs.common import MAX_CONTENT, requester_only, shown, token_alive
from cogs.results.buttons.views import cancel_view
from cogs.results.parts import DEFAULT_UPLOAD_LIMIT, ResultParts, result_parts, shows_flagged
from engine import Mode, Progress

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

SHOWN_WAIT = 10.0  # how long delivery waits for the status message it replaces
TRACKER_TTL = 60.0  # a delivered job's tracker stays this long, for a late status edit
HANDOVER_LEAD = 30.0  # at least this long before its token is given up (and two refresh
# periods), the status message says where the result will go, so the edit always comes in time
PREVIEW_SIDE = 256
PREVIEW_BLUR = 8


class _Tracker:
    """One job's status message in this process: edits go through the lock, in order, and
    none after the result."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.shown = asyncio.Event()
        self.done = False
        self.handed_over = False  # its last edit before the token is given up has been made
        self.message_id: int | None = None
        self.last_edit = 0.0
        self.last_text = ""


class DiscordSink:
    """The worker's way back to Discord (see ``bot.deliveries.ResultSink``)."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self._trackers: dict[int, _Tracker] = {}

    def _tracker(self, job_id: int) -> _Tracker:
        return self._trackers.setdefault(job_id, _Tracker())

    async def show_status(
        self, interaction: discord.Interaction[Any], job: Job, *, followup: bool = False
    ) -> None:
        """Turn the acknowledged interaction into the job's status message: its place in the
        queue and a Cancel button, or how it ended if the worker was quicker. ``followup``: a
        further job of the same command, whose status is a private follow-up message."""
        tracker = self._tracker(job.job_id)
        async with tracker.lock:
            try:
                if tracker.done:
                    current = await self.bot.runtime.store.get(job.job_id)
                    await _say(interaction, render.ended_line(current or job), None, followup)
                    return
                position = await self.bot.runtime.service.position(job.job_id)
                tracker.last_text = render.status_line(job, position, await self._paused(job))
                message = await _say(
                    interaction, tracker.last_text, cancel_view(job.job_id, job.locale), followup
                )
                tracker.message_id = message.id
                await self.bot.runtime.store.update_target(job.job_id, {"message_id": message.id})
            finally:
                tracker.shown.set()

    async def _wait_shown(self, job: Job) -> _Tracker:
        """A job that has just been queued from this process may be finishing before its
        status message exists; give the command a moment so the edits land in order."""
        tracker = self._tracker(job.job_id)
        fresh = time.time() - job.created_at < SHOWN_WAIT
        if job.target.get("token") and not job.target.get("message_id") and fresh:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tracker.shown.wait(), SHOWN_WAIT)
        return tracker

    async def _paused(self, job: Job) -> bool:
        paused = await self.bot.runtime.policies.paused()
        return ALL in paused or job.provider in paused

    async def refresh_queued(self) -> None:
        """Keep the place in line of queued jobs current on their status messages."""
        runtime = self.bot.runtime
        for job_id, tracker in list(self._trackers.items()):
            async with tracker.lock:
                if tracker.done or tracker.handed_over or tracker.message_id is None:
                    continue
                job = await runtime.store.get(job_id)
                if job is None or job.status is not JobStatus.QUEUED:
                    continue
                if not token_alive(job.target):
                    continue
                position = await runtime.service.position(job_id)
                text = render.status_line(job, position, await self._paused(job))
                if text == tracker.last_text:
                    continue
                tracker.last_text = text
                try:
                    await self._webhook(job.target).edit_message(
                        tracker.message_id, content=text, view=cancel_view(job_id, job.locale)
                    )
                except discord.HTTPException as err:
                    log.info("Job %d: could not update its place in line (%s)", job_id, err)

    async def hand_over(self, now: float | None = None) -> None:
        """Before a status message's token is given up, its last edit says where the result
        will arrive instead, so it never stays frozen at a place in line or a half-way bar."""
        for job_id, tracker in list(self._trackers.items()):
            async with tracker.lock:
                if tracker.done or tracker.handed_over or tracker.message_id is None:
                    continue
                job = await self.bot.runtime.store.get(job_id)
                if job is None or job.delivered or job.status is JobStatus.CANCELLED:
                    continue  # the cancel answered for itself; delivery says the rest
                if self._handover_due(job.target, now):
                    await self._hand_over(job, tracker, tracker.message_id)

    async def _hand_over(self, job: Job, tracker: _Tracker, message_id: int) -> None:
        tracker.handed_over = True
        try:
            await self._webhook(job.target).edit_message(
                message_id,
                content=render.handover_line(job, _where_late(job)),
                view=cancel_view(
                    job.job_id, job.locale
                ),  # a click is a new interaction with its own token
            )
        except discord.HTTPException as err:
            log.info("Job %d: could not say where its result will go (%s)", job.job_id, err)

    async def progress(self, job: Job, progress: Progress) -> None:
        target = job.target
        if not token_alive(target):
            return
        tracker = await self._wait_shown(job)
        message_id = tracker.message_id or target.get("message_id")
        if message_id is None:
            return
        async with tracker.lock:
            now = time.monotonic()
            interval = self.bot.runtime.settings.discord.progress_seconds
            if tracker.done or tracker.handed_over:
                return
            if self._handover_due(target):
                await self._hand_over(job, tracker, int(message_id))
                return
            if now - tracker.last_edit < interval:
                return
            tracker.last_edit = now
            attachments: list[discord.File] = []
            if progress.preview is not None and target.get("can_attach", True):
                sharp = bool(target.get("nsfw"))
                data = await asyncio.to_thread(_preview_jpeg, progress.preview, sharp)
                attachments.append(discord.File(io.BytesIO(data), f"preview-{job.job_id}.jpg"))
            await self._webhook(target).edit_message(
                int(message_id),
                content=render.progress_line(job, progress),
                attachments=attachments,
                view=cancel_view(job.job_id, job.locale),
            )

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None:
        tracker = await self._wait_shown(job)
        async with tracker.lock:
            tracker.done = True
            reference = await self._deliver(job, images, tracker.message_id)
        asyncio.get_running_loop().call_later(TRACKER_TTL, self._trackers.pop, job.job_id, None)
        return reference

    async def _deliver(
        self, job: Job, images: Sequence[StoredImage], message_id: int | None
    ) -> str | None:
        target = job.target
        message_id = message_id or target.get("message_id")
        alive = token_alive(target)
        if job.status is JobStatus.SUCCEEDED and job.request.mode is Mode.DESCRIBE:
            return await self._deliver_caption(job, message_id, alive)
        if alive and message_id is not None:
            await self._edit_status(job, int(message_id))
        if job.status is not JobStatus.SUCCEEDED:
            if alive:  # the status message says how it ended (now, or when it is shown)
                return None
            if job.status is JobStatus.CANCELLED and "token_expires" in target:
                return None  # the member cancelled it; nothing more to say
            return await self._post_elsewhere(job, render.ended_line(job), None)
        limit = int(target.get("upload_limit") or DEFAULT_UPLOAD_LIMIT)
        parts = await result_parts(
            self.bot, job, images, show_flagged=shows_flagged(target), limit=limit
        )
        prompt = shown(job.request.prompt, 300)
        mention = t(
            job.locale,
            "{mention} your images for job #{job} are ready: **{prompt}**",
            mention=f"<@{job.user_id}>",
            job=job.job_id,
            prompt=prompt,
        )
        if alive and not (target.get("can_send") and not target.get("private")):
            return await self._follow_up(job, parts)
        if alive:
            # Posted by the bot itself with the job's nonce, which Discord enforces: a delivery
            # repeated after a crash cannot post twice (an interaction follow-up takes no nonce).
            channel = self.bot.get_partial_messageable(int(target["channel_id"]))
            try:
                return await self._post(channel, job, parts.sends(mention))
            except (discord.Forbidden, discord.NotFound) as err:
                log.info(
                    "Job %d: posting in the channel failed (%s); following up", job.job_id, err
                )
                return await self._follow_up(job, parts)
        return await self._post_elsewhere(job, mention, parts)

    async def _deliver_caption(self, job: Job, message_id: int | None, alive: bool) -> str | None:
        """A description, privately as it was asked: in place of the status message, else as a
        private follow-up; once the token has expired, where other results go."""
        text = render.caption(job)
        if not alive:
            return await self._post_elsewhere(job, f"<@{job.user_id}> {text}", None)
        webhook = self._webhook(job.target)
        if message_id is not None:
            try:
                edited = await webhook.edit_message(
                    int(message_id), content=text, attachments=[], view=None
                )
                return f"{edited.channel.id}/{edited.id}"
            except discord.NotFound:  # the member dismissed it
                log.info("Job %d: the status message is gone; following up", job.job_id)
        sent = await webhook.send(
            text, ephemeral=True, wait=True, allowed_mentions=discord.AllowedMentions.none()
        )
        return f"{sent.channel.id}/{sent.id}"

    async def _edit_status(self, job: Job, message_id: int) -> None:
        try:
            await self._webhook(job.target).edit_message(
                message_id, content=render.ended_line(job), attachments=[], view=None
            )
        except discord.HTTPException as err:
            log.info("Job %d: the status message could not be edited (%s)", job.job_id, err)

    async def _follow_up(self, job: Job, parts: ResultParts) -> str:
        """As follow-ups of the interaction (a card may go there too: the layout flag is
        allowed on follow-ups, only not on the deferral itself)."""
        webhook = self._webhook(job.target)
        ephemeral = bool(job.target.get("private"))
        posted: list[str] = []
        for send in parts.sends(None if ephemeral else f"<@{job.user_id}>"):
            sent = await webhook.send(
                ephemeral=ephemeral,
                wait=True,
                allowed_mentions=requester_only(job.user_id),
                **send,
            )
            posted.append(f"{sent.channel.id}/{sent.id}")
        return ",".join(posted)

    async def _post_elsewhere(
        self, job: Job, content: str, parts: ResultParts | None
    ) -> str | None:
        """After the token expired: the channel (with a mention) when the bot can post there and
        the member did not ask for privacy, else a DM. A missing permission falls back to the
        DM and says why; a closed DM gives up (retrying would not help)."""
        target = job.target
        channel_id = target.get("channel_id") or job.channel_id
        note = ""
        if channel_id is not None and target.get("can_post", True) and not target.get("private"):
            channel = self.bot.get_partial_messageable(int(channel_id))
            try:
                return await self._post(channel, job, _sends(content, parts))
            except discord.Forbidden as err:
                log.info("Job %d: cannot post in channel %s (%s)", job.job_id, channel_id, err)
                note = "\n" + t(
                    job.locale,
                    "(I couldn't post in {channel}: I'm missing a permission there, so here it "
                    "is in private.)",
                    channel=f"<#{channel_id}>",
                )
            except discord.NotFound:
                log.info("Job %d: channel %s is gone; sending by DM", job.job_id, channel_id)
                note = "\n" + t(
                    job.locale, "(The channel you asked in is gone, so here it is in private.)"
                )
        try:
            dm = await self.bot.create_dm(discord.Object(job.user_id))
            return await self._post(dm, job, _sends(content + note, parts))
        except discord.Forbidden:
            log.warning("Job %d: the member does not accept DMs; nothing delivered", job.job_id)
            return None

    async def _post(
        self, channel: discord.abc.Messageable, job: Job, sends: list[dict[str, Any]]
    ) -> str:
        posted: list[str] = []
        for index, send in enumerate(sends):
            sent = await channel.send(
                nonce=f"job-{job.job_id}" + (f"-{index}" if index else ""),
                allowed_mentions=requester_only(job.user_id),
                **send,
            )
            posted.append(f"{sent.channel.id}/{sent.id}")
        return ",".join(posted)

    def _handover_due(self, target: dict[str, Any], now: float | None = None) -> bool:
        now = time.time() if now is None else now
        lead = max(HANDOVER_LEAD, 2 * self.bot.runtime.settings.discord.progress_seconds)
        return token_alive(target, now) and float(target["token_expires"]) - now <= lead

    def _webhook(self, target: dict[str, Any]) -> discord.Webhook:
        """The interaction's follow-up webhook, rebuilt from what the job stored, so it works
        from any process until the token expires."""
        webhook = discord.Webhook.partial(
            int(target["application_id"]), str(target["token"]), client=self.bot
        )
        webhook.type = discord.WebhookType.application  # as Interaction.followup builds it
        return webhook


def _where_late(job: Job) -> str:
    """Where ``_post_elsewhere`` will put the result, in the member's words."""
    target = job.target
    channel_id = target.get("channel_id") or job.channel_id
    if channel_id is not None and target.get("can_post", True) and not target.get("private"):
        return t(job.locale, "in {channel} with a mention", channel=f"<#{channel_id}>")
    return t(job.locale, "in your DMs")


def bot_sink(bot: ImageBot) -> DiscordSink:
    sink = bot.sink
    assert isinstance(sink, DiscordSink)
    return sink


def _sends(content: str, parts: ResultParts | None) -> list[dict[str, Any]]:
    """A result's messages led by ``content``, or ``content`` alone (how a job ended)."""
    return [{"content": content[:MAX_CONTENT]}] if parts is None else parts.sends(content)


def _preview_jpeg(preview: Image.Image, sharp: bool) -> bytes:
    """Previews skip the final safety check, so outside age-restricted channels they are
    blurred: the composition shows, the details do not."""
    image = preview.convert("RGB")
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    if not sharp:
        image = image.filter(ImageFilter.GaussianBlur(PREVIEW_BLUR))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


async def _say(
    interaction: discord.Interaction[Any],
    text: str,
    view: discord.ui.View | None,
    followup: bool,
) -> discord.Message:
    if not followup:
        return await interaction.edit_original_response(content=text, view=view)
    extra: dict[str, Any] = {} if view is None else {"view": view}
    return await interaction.followup.send(text, ephemeral=True, wait=True, **extra)
