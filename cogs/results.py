"""Jobs as members see them: the status message with its Cancel button and progress, the
result with its buttons, and delivery after the interaction token has expired."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands, tasks
from PIL import Image, ImageFilter

from bot.errors import Refusal
from bot.jobs import Job, JobStatus, StoredImage
from bot.packing import TooLarge, Upload, fit_image, grid, pack
from bot.policy import ALL
from bot.retention import ResultExpired, images_expired, input_expired
from cogs import render
from cogs.common import (
    MAX_CONTENT,
    answer,
    bot_of,
    explain,
    is_moderator,
    place_of,
    requester_of,
    requester_only,
    runtime_of,
    shown,
    token_alive,
    token_deadline,
)
from engine import EngineError, GenerationRequest, Mode, Progress

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

SHOWN_WAIT = 10.0  # how long delivery waits for the status message it replaces
TRACKER_TTL = 60.0  # a delivered job's tracker stays this long, for a late status edit
DEFAULT_UPLOAD_LIMIT = 10 * 2**20
PREVIEW_SIDE = 256
PREVIEW_BLUR = 8
TOKEN_SWEEP_SECONDS = 60.0  # an expired interaction token is kept at most this much longer


class _Tracker:
    """One job's status message in this process: edits go through the lock, in order, and
    none after the result."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.shown = asyncio.Event()
        self.done = False
        self.message_id: int | None = None
        self.last_edit = 0.0
        self.last_text = ""


class DiscordSink:
    """The worker's way back to Discord (see ``bot.worker.ResultSink``)."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self._trackers: dict[int, _Tracker] = {}

    def _tracker(self, job_id: int) -> _Tracker:
        return self._trackers.setdefault(job_id, _Tracker())

    async def show_status(self, interaction: discord.Interaction[Any], job: Job) -> None:
        """Turn the acknowledged interaction into the job's status message: its place in the
        queue and a Cancel button, or how it ended if the worker was quicker."""
        tracker = self._tracker(job.job_id)
        async with tracker.lock:
            try:
                if tracker.done:
                    current = await self.bot.runtime.store.get(job.job_id)
                    await interaction.edit_original_response(
                        content=render.ended_line(current or job), view=None
                    )
                    return
                position = await self.bot.runtime.service.position(job.job_id)
                tracker.last_text = render.status_line(job, position, await self._paused(job))
                message = await interaction.edit_original_response(
                    content=tracker.last_text, view=cancel_view(job.job_id)
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
                if tracker.done or tracker.message_id is None:
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
                        tracker.message_id, content=text, view=cancel_view(job_id)
                    )
                except discord.HTTPException as err:
                    log.info("Job %d: could not update its place in line (%s)", job_id, err)

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
            if tracker.done or now - tracker.last_edit < interval:
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
                view=cancel_view(job.job_id),
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
            return await self._post_elsewhere(job, render.ended_line(job), [], None, None)
        limit = int(target.get("upload_limit") or DEFAULT_UPLOAD_LIMIT)
        messages, embed, view = await result_parts(
            self.bot, job, images, show_flagged=shows_flagged(target), limit=limit
        )
        prompt = shown(job.request.prompt, 300)
        mention = f"<@{job.user_id}> your images for job #{job.job_id} are ready: **{prompt}**"
        if alive and not (target.get("can_send") and not target.get("private")):
            return await self._follow_up(job, messages, embed, view)
        if alive:
            # Posted by the bot itself with the job's nonce, which Discord enforces: a delivery
            # repeated after a crash cannot post twice (an interaction follow-up takes no nonce).
            channel = self.bot.get_partial_messageable(int(target["channel_id"]))
            try:
                return await self._post(channel, job, mention, messages, embed, view)
            except (discord.Forbidden, discord.NotFound) as err:
                log.info(
                    "Job %d: posting in the channel failed (%s); following up", job.job_id, err
                )
                return await self._follow_up(job, messages, embed, view)
        return await self._post_elsewhere(job, mention, messages, embed, view)

    async def _deliver_caption(self, job: Job, message_id: int | None, alive: bool) -> str | None:
        """A description, privately as it was asked: in place of the status message, else as a
        private follow-up; once the token has expired, where other results go."""
        text = render.caption(job)
        if not alive:
            return await self._post_elsewhere(job, f"<@{job.user_id}> {text}", [], None, None)
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

    async def _follow_up(
        self,
        job: Job,
        messages: list[list[Upload]],
        embed: discord.Embed,
        view: discord.ui.View | None,
    ) -> str:
        webhook = self._webhook(job.target)
        ephemeral = bool(job.target.get("private"))
        posted: list[str] = []
        for index, uploads in enumerate(messages or [[]]):
            extra: dict[str, Any] = {"embed": embed, "view": view} if index == 0 else {}
            if view is None or index:
                extra.pop("view", None)
            sent = await webhook.send(
                content=f"<@{job.user_id}>" if index == 0 and not ephemeral else "",
                files=_files(uploads),
                ephemeral=ephemeral,
                wait=True,
                allowed_mentions=requester_only(job.user_id),
                **extra,
            )
            posted.append(f"{sent.channel.id}/{sent.id}")
        return ",".join(posted)

    async def _post_elsewhere(
        self,
        job: Job,
        content: str,
        messages: list[list[Upload]],
        embed: discord.Embed | None,
        view: discord.ui.View | None,
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
                return await self._post(channel, job, content, messages, embed, view)
            except discord.Forbidden as err:
                log.info("Job %d: cannot post in channel %s (%s)", job.job_id, channel_id, err)
                note = (
                    f"\n(I couldn't post in <#{channel_id}>: I'm missing a permission there, "
                    "so here it is in private.)"
                )
            except discord.NotFound:
                log.info("Job %d: channel %s is gone; sending by DM", job.job_id, channel_id)
                note = "\n(The channel you asked in is gone, so here it is in private.)"
        try:
            dm = await self.bot.create_dm(discord.Object(job.user_id))
            return await self._post(dm, job, content + note, messages, embed, view)
        except discord.Forbidden:
            log.warning("Job %d: the member does not accept DMs; nothing delivered", job.job_id)
            return None

    async def _post(
        self,
        channel: discord.abc.Messageable,
        job: Job,
        content: str,
        messages: list[list[Upload]],
        embed: discord.Embed | None,
        view: discord.ui.View | None,
    ) -> str:
        posted: list[str] = []
        for index, uploads in enumerate(messages or [[]]):
            extra: dict[str, Any] = {}
            if index == 0 and embed is not None:
                extra["embed"] = embed
            if index == 0 and view is not None:
                extra["view"] = view
            sent = await channel.send(
                content=content[:MAX_CONTENT] if index == 0 else "",
                files=_files(uploads),
                nonce=f"job-{job.job_id}" + (f"-{index}" if index else ""),
                allowed_mentions=requester_only(job.user_id),
                **extra,
            )
            posted.append(f"{sent.channel.id}/{sent.id}")
        return ",".join(posted)

    def _webhook(self, target: dict[str, Any]) -> discord.Webhook:
        """The interaction's follow-up webhook, rebuilt from what the job stored, so it works
        from any process until the token expires."""
        webhook = discord.Webhook.partial(
            int(target["application_id"]), str(target["token"]), client=self.bot
        )
        webhook.type = discord.WebhookType.application  # as Interaction.followup builds it
        return webhook


async def result_parts(
    bot: ImageBot, job: Job, images: Sequence[StoredImage], *, show_flagged: bool, limit: int
) -> tuple[list[list[Upload]], discord.Embed, discord.ui.View]:
    """A finished job as messages: files that fit ``limit``, the embed, the buttons. Images the
    safety check flagged are withheld unless ``show_flagged`` (as spoilers)."""
    shown = [image for image in images if show_flagged or not image.flagged]
    embed = render.result_embed(job, images, withheld=len(images) - len(shown))
    view = result_view(bot, job, shown)
    as_grid = bot.runtime.settings.discord.result_layout == "grid" and len(shown) > 1
    try:
        messages = await asyncio.to_thread(_uploads, job, shown, limit, as_grid)
    except TooLarge as err:
        messages, embed.description = [], f"{embed.description}\n\n{err.user_message}"
    except OSError:
        messages = []
        embed.description = f"{embed.description}\n\nThe image files of this job are gone."
    return messages, embed, view


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


def shows_flagged(target: dict[str, Any]) -> bool:
    """Flagged results show (as spoilers) only where NSFW is allowed and the server has not
    chosen to hide them."""
    return bool(target.get("nsfw")) and target.get("flagged", "spoiler") == "spoiler"


def _files(uploads: Sequence[Upload]) -> list[discord.File]:
    return [discord.File(io.BytesIO(u.data), u.filename, spoiler=u.spoiler) for u in uploads]


def _uploads(
    job: Job, images: Sequence[StoredImage], limit: int, as_grid: bool
) -> list[list[Upload]]:
    items = [
        (f"{job.job_id}-{image.index}", Path(image.path).read_bytes(), image.flagged)
        for image in images
    ]
    if as_grid:
        name, data = fit_image(grid([png for _, png, _ in items]), limit, stem=f"{job.job_id}")
        return [[Upload(name, data, spoiler=any(flagged for _, _, flagged in items))]]
    return pack(items, limit=limit)


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


# Buttons. A custom_id is "img:ACTION:JOB:INDEX"; everything else is read from SQLite, so the
# buttons keep working after a restart.
VARIATION_STRENGTH = 0.6


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


def cancel_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("c", job_id, label="Cancel", style=discord.ButtonStyle.danger))
    view.stop()  # handled by the dynamic item, not kept in memory per message
    return view


def result_view(bot: ImageBot, job: Job, images: Sequence[StoredImage]) -> discord.ui.View:
    providers = bot.runtime.providers
    view = discord.ui.View(timeout=None)
    can_upscale = _provider_for(bot, job, Mode.UPSCALE) is not None
    can_vary = _provider_for(bot, job, Mode.IMG2IMG) is not None
    for image in images[:4]:
        n = image.index + 1
        if can_upscale:
            view.add_item(JobButton("u", job.job_id, image.index, label=f"U{n}", row=0))
        if can_vary:
            view.add_item(JobButton("v", job.job_id, image.index, label=f"V{n}", row=1))
    if providers.find(job.provider) is not None:
        view.add_item(JobButton("r", job.job_id, emoji="🔄", row=2, label="Re-roll"))
        view.add_item(JobButton("m", job.job_id, emoji="✏️", row=2, label="Remix"))
    view.add_item(JobButton("d", job.job_id, emoji="🗑️", row=2, label="Delete"))
    view.add_item(JobButton("p", job.job_id, emoji="🚩", row=2, label="Report"))
    view.stop()
    return view


def _provider_for(bot: ImageBot, job: Job, mode: Mode) -> str | None:
    """The job's own provider when it can, else the first that can."""
    providers = bot.runtime.providers
    own = providers.find(job.provider)
    if own is not None and mode in own.provider.capabilities.modes:
        return own.name
    for entry in providers:
        if mode in entry.provider.capabilities.modes:
            return entry.name
    return None


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
    target = await _target(interaction, request.mode is Mode.TXT2IMG, private, extra)
    request = request.replace(nsfw_allowed=bool(target["nsfw"]))
    service, requester = bot.runtime.service, requester_of(interaction)
    return await _queued(
        interaction, service.submit(request, requester, provider=provider, target=target)
    )


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
        await answer(interaction, explain(err))
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


def bot_sink(bot: ImageBot) -> DiscordSink:
    sink = bot.sink
    assert isinstance(sink, DiscordSink)
    return sink


async def _owned_job(
    interaction: discord.Interaction[Any], job_id: int, *, generation: bool
) -> Job:
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


def _kept(
    interaction: discord.Interaction[Any], job: Job, images: Sequence[StoredImage] | None = None
) -> None:
    """Refuse a button whose stored images (or input image) retention has deleted."""
    if input_expired(job) or (images is not None and images_expired(job, images)):
        keep = runtime_of(interaction).settings.storage.keep_results_days
        raise ResultExpired(job.job_id, keep)


async def _everyone_may_use(interaction: discord.Interaction[Any]) -> bool:
    policies = runtime_of(interaction).policies
    return bool(await policies.guild_setting(interaction.guild_id, "buttons_everyone", False))


async def _defer(interaction: discord.Interaction[Any]) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)


async def _private(interaction: discord.Interaction[Any]) -> bool:
    preferences = await runtime_of(interaction).members.preferences(interaction.user.id)
    return preferences.private_delivery


async def on_cancel(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int
) -> None:
    runtime = runtime_of(interaction)
    job = await runtime.store.get(job_id)
    if job is None or job.user_id != interaction.user.id:
        raise Refusal("Only the member who asked for this job can cancel it.")
    status = await runtime.service.cancel(job_id, interaction.user.id)
    if status is JobStatus.CANCELLED:
        text = f"Job #{job_id} was cancelled; your quota was refunded."
    elif status is JobStatus.RUNNING:
        text = f"Job #{job_id} is stopping…"
    else:
        text = f"Job #{job_id} has already {status.value}."
    await interaction.response.edit_message(content=text, view=None)


async def on_source_image(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int
) -> None:
    """U and V: a new job from one image of a finished job."""
    job = await _owned_job(interaction, job_id, generation=True)
    mode = Mode.UPSCALE if action == "u" else Mode.IMG2IMG
    await _defer(interaction)
    images = {image.index: image for image in await runtime_of(interaction).store.images(job_id)}
    _kept(interaction, job, list(images.values()))
    if index not in images:
        raise Refusal(f"Image {index + 1} of job #{job_id} no longer exists.")
    source = await asyncio.to_thread(Path(images[index].path).read_bytes)
    provider = _provider_for(bot_of(interaction), job, mode)
    if mode is Mode.UPSCALE:
        request = GenerationRequest(job.request.prompt, mode=mode, init_image=source)
        if provider != job.provider:
            request = request.replace(negative_prompt="")
        else:
            request = request.replace(model=job.model, negative_prompt=job.request.negative_prompt)
    else:
        request = job.request.replace(
            mode=mode,
            init_image=source,
            strength=VARIATION_STRENGTH,
            seed=None,
            width=images[index].width,
            height=images[index].height,
        )
    extra = {"variation": True} if mode is Mode.IMG2IMG else None
    await enqueue(
        interaction, request, provider=provider, private=await _private(interaction), extra=extra
    )


async def on_reroll(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int
) -> None:
    job = await _owned_job(interaction, job_id, generation=True)
    _kept(interaction, job)
    await _defer(interaction)
    await enqueue(
        interaction,
        job.request.replace(seed=None),
        provider=job.provider,
        private=await _private(interaction),
        extra={"variation": True} if job.target.get("variation") else None,
    )


async def on_remix(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int
) -> None:
    job = await _owned_job(interaction, job_id, generation=True)
    _kept(interaction, job)
    await interaction.response.send_modal(RemixModal(job))


class RemixModal(discord.ui.Modal, title="Remix"):
    def __init__(self, job: Job) -> None:
        super().__init__(timeout=600)
        self.job = job
        limit = 4000
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.prompt[:limit],
            max_length=limit,
        )
        self.negative: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Negative prompt",
            custom_id="negative",
            style=discord.TextStyle.paragraph,
            default=job.request.negative_prompt[:limit] or None,
            required=False,
            max_length=limit,
        )
        self.add_item(self.prompt)
        self.add_item(self.negative)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        await _defer(interaction)
        request = self.job.request.replace(
            prompt=self.prompt.value, negative_prompt=self.negative.value, seed=None
        )
        await enqueue(
            interaction,
            request,
            provider=self.job.provider,
            private=await _private(interaction),
        )


async def on_delete(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int
) -> None:
    runtime = runtime_of(interaction)
    job = await runtime.store.get(job_id)
    if job is None or (job.user_id != interaction.user.id and not is_moderator(interaction)):
        raise Refusal("Only the member who asked for these images or a moderator can delete them.")
    await interaction.response.defer()
    await interaction.delete_original_response()


async def on_report(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int
) -> None:
    runtime = runtime_of(interaction)
    await _defer(interaction)
    job = await runtime.store.get(job_id)
    if job is None:
        raise Refusal(f"Job #{job_id} no longer exists.")
    message = interaction.message
    report_id, new = await runtime.members.file_report(
        job_id,
        reporter_id=interaction.user.id,
        guild_id=interaction.guild_id,  # where it was seen: a /show re-post may be elsewhere
        seen=(message.channel.id, message.id) if message is not None else None,
    )
    if new:
        bot_of(interaction).dispatch("job_reported", report_id, job)
    text = (
        f"Thank you: job #{job_id} was reported to the moderators."
        if new
        else f"You have already reported job #{job_id}; the moderators have it."
    )
    await answer(interaction, text)


HANDLERS = {
    "c": on_cancel,
    "u": on_source_image,
    "v": on_source_image,
    "r": on_reroll,
    "m": on_remix,
    "d": on_delete,
    "p": on_report,
}


class Results(commands.Cog):
    """Owns the sink, the loop that keeps queued jobs' places current, and the one that drops
    interaction tokens once they have expired (delivery drops its job's own)."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self.sink = DiscordSink(bot)
        interval = bot.runtime.settings.discord.progress_seconds
        self.refresher = tasks.loop(seconds=interval)(self._refresh)
        self.token_sweeper = tasks.loop(seconds=TOKEN_SWEEP_SECONDS)(self.sweep_tokens)

    async def _refresh(self) -> None:
        try:
            await self.sink.refresh_queued()
        except Exception:
            log.exception("Refreshing queue positions failed")

    async def sweep_tokens(self) -> None:
        try:
            await self.bot.runtime.store.sweep_tokens()
        except Exception:
            log.exception("Dropping expired interaction tokens failed; trying again later")

    async def cog_load(self) -> None:
        self.bot.sink = self.sink
        self.bot.add_dynamic_items(JobButton)
        self.refresher.start()
        self.token_sweeper.start()

    async def cog_unload(self) -> None:
        self.refresher.cancel()
        self.token_sweeper.cancel()
        self.bot.remove_dynamic_items(JobButton)


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(Results(bot))
