"""Where a request becomes a job: validation, safety of sizes and inputs, pricing, queueing."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import secrets
from collections.abc import Callable
from typing import Any

from PIL import Image

from bot.describing import CAPTIONER, DESCRIBE_TIMEOUT, describe_request
from bot.errors import BlockedPrompt, InvalidOption, Refusal
from bot.guidance import check_guidance, check_model, check_tile, guided, is_blend
from bot.i18n import lazy_t
from bot.input_images import check_header, check_inputs, reencode_inputs
from bot.jobs import Job, JobStatus, NewJob, QueuePosition, Requester
from bot.moderation import Moderation, Tier
from bot.policy import Policies
from bot.providers import ProviderEntry, Providers
from bot.quota import QuotaLimits, QuotaPolicy, bounded
from bot.settings import Settings
from bot.store import JobStore
from engine import GenerationRequest, InvalidRequest, Mode
from engine.loras import check_loras, lift_prompt_loras
from engine.provider import Provider
from engine.types import CANVAS_WORDS, IMAGE_MODES, MAX_SEED

EDIT_FALLBACK = "edit_fallback"  # in a job's target: an edit that ran as img2img


class QueueEvents:
    """How the service tells a worker in the same process that something changed; a worker
    elsewhere sees the same changes in the store on its next poll."""

    def __init__(self) -> None:
        self.submitted: list[Callable[[], None]] = []
        self.cancelled: list[Callable[[int], None]] = []

    def job_submitted(self) -> None:
        for listener in self.submitted:
            listener()

    def cancel_requested(self, job_id: int) -> None:
        for listener in self.cancelled:
            listener(job_id)


class JobService:
    def __init__(
        self,
        store: JobStore,
        providers: Providers,
        policy: QuotaPolicy,
        settings: Settings,
        events: QueueEvents | None = None,
        *,
        policies: Policies | None = None,
        moderation: Moderation | None = None,
    ) -> None:
        self.store = store
        self.providers = providers
        self.policy = policy
        self.settings = settings
        self.events = events or QueueEvents()
        self.policies = policies
        self.moderation = moderation

    def prepare(
        self, request: GenerationRequest, provider: str | None = None
    ) -> tuple[ProviderEntry, GenerationRequest]:
        """Check every option against the bot's limits, then the provider's; resolve the model
        and the seed. Raises InvalidRequest naming the option and what is allowed."""
        entry = self.providers.get(provider)
        if request.mode is Mode.DESCRIBE:  # never priced or checked as a generation
            raise InvalidRequest("mode", request.mode.value, "use /describe with an image")
        limits = self.settings.limits
        request = lift_prompt_loras(request)
        prompt = request.prompt.strip()
        if not prompt and not is_blend(request):
            raise InvalidRequest("prompt", None, "write some text describing the image")
        most = limits.max_prompt_length
        for name, text in (("prompt", prompt), ("negative", request.negative_prompt)):
            if len(text) > most:
                raise InvalidOption(
                    name,
                    None,
                    lazy_t(
                        "it has {length} characters; shorten it to at most {most}",
                        length=len(text),
                        most=most,
                    ),
                )
        self._check_size(request)
        _check_range("count", request.count, 1, limits.max_count)
        if request.steps is not None:
            _check_range("steps", request.steps, 1, limits.max_steps)
        if request.guidance is not None and not 0 <= request.guidance <= 30:
            raise InvalidRequest("guidance", request.guidance, "use a value from 0 to 30")
        if request.seed is not None:
            _check_range("seed", request.seed, 0, MAX_SEED)
        _check_range("chaos", request.chaos, 0, 100)
        check_loras(request.loras)
        check_guidance(request)
        check_inputs(request, limits)
        model = request.model or entry.provider.default_model
        request = self._check_mode(entry, request, model)
        check_model(self.providers, entry, request, model)
        check_tile(self.providers, entry, request, model)
        if not request.nsfw_allowed and entry.provider.model_is_nsfw(model):
            raise _nsfw_model(model)
        _refuse_nsfw_loras(entry.provider, request)
        resolved = entry.provider.prepare(request.replace(prompt=prompt, model=model))
        if resolved.seed is None and entry.provider.capabilities.seed:
            resolved = resolved.replace(seed=secrets.randbelow(MAX_SEED + 1))
        self._check_size(resolved)
        return entry, resolved

    def _check_size(self, request: GenerationRequest) -> None:
        limits = self.settings.limits
        low = 1 if request.mode is Mode.UPSCALE else 64
        if request.width is not None:
            _check_range("width", request.width, low, limits.max_width)
        if request.height is not None:
            _check_range("height", request.height, low, limits.max_height)

    def _check_mode(
        self, entry: ProviderEntry, request: GenerationRequest, model: str
    ) -> GenerationRequest:
        """Refuse an edit or repaint the model can't do, naming the models that can; an edit
        becomes img2img where the owner allows it (``limits.edit_falls_back_to_img2img``)."""
        mode, provider = request.mode, entry.provider
        if mode not in CANVAS_WORDS:
            return request
        if provider.capabilities.models and model not in provider.capabilities.models:
            return request  # the provider's prepare names its models
        info = provider.model_info(model)
        if mode in provider.capabilities.modes and info.takes(mode):
            images = 1 + len(request.extra_images)
            if mode is Mode.EDIT and images > info.max_input_images:
                raise InvalidOption(
                    "images",
                    images,
                    lazy_t(
                        "{model} takes {most} at most; give fewer",
                        model=model,
                        most=info.max_input_images,
                    ),
                )
            return request
        limits = self.settings.limits
        variation = Mode.IMG2IMG in provider.capabilities.modes and info.takes(Mode.IMG2IMG)
        if mode is Mode.EDIT and limits.edit_falls_back_to_img2img and variation:
            if request.extra_images:
                raise self.providers.unable(
                    model,
                    mode,
                    more=lazy_t(" ({model} takes one image, as a variation)", model=model),
                )
            strength = request.strength or limits.edit_fallback_strength
            return request.replace(mode=Mode.IMG2IMG, strength=strength)
        raise self.providers.unable(model, mode)

    async def submit(
        self,
        request: GenerationRequest,
        requester: Requester,
        *,
        provider: str | None = None,
        origin: str = "discord",
        target: dict[str, Any] | None = None,
    ) -> Job:
        """Check the member and the server's rules, validate, price, and queue with the cost
        reserved; a refusal charges nothing."""
        new = await self.new_job(
            request, requester, provider=provider, origin=origin, target=target
        )
        return await self._queue(new, await self.limits_for(requester))

    async def submit_all(
        self,
        requests: list[tuple[GenerationRequest, str | None, dict[str, Any]]],
        requester: Requester,
        *,
        origin: str = "discord",
    ) -> list[Job]:
        """Several jobs of one command, each (request, provider, target) checked and priced
        as ``submit`` does, then queued together: all of them or, on a refusal, none."""
        news = [
            await self.new_job(request, requester, provider=provider, origin=origin, target=target)
            for request, provider, target in requests
        ]
        jobs = await self.store.submit_all(news, await self.limits_for(requester))
        self.events.job_submitted()
        return jobs

    async def new_job(
        self,
        request: GenerationRequest,
        requester: Requester,
        *,
        provider: str | None = None,
        origin: str = "discord",
        target: dict[str, Any] | None = None,
    ) -> NewJob:
        """The job ``submit`` would queue, checked and priced; nothing is queued or charged
        (the queue, cooldown and quota are checked when it is)."""
        target = dict(target or {})
        if request.init_image is not None or guided(request):
            # Never NSFW from an image (an init image, a reference, a control image): a
            # member's upload can show a real person.
            request = request.replace(nsfw_allowed=False)
            target["nsfw"] = False
        request = await self.admit(request, requester)
        entry, resolved = self.prepare(request, provider)
        # The headers were fine; now every pixel, off the loop. Only re-encoded images stay.
        bounds = self.settings.limits
        max_pixels = bounds.max_width * bounds.max_height
        reencoded = await asyncio.to_thread(reencode_inputs, resolved, max_pixels)
        resolved = reencoded.request
        if request.mode is Mode.EDIT and resolved.mode is Mode.IMG2IMG:
            target[EDIT_FALLBACK] = True
        await self._check_enabled(entry.name, resolved.model, requester)
        _check_tier_limits(resolved, await self.limits_for(requester))
        return NewJob(
            requester=requester,
            origin=origin,
            provider=entry.name,
            model=resolved.model or entry.provider.default_model,
            batch_key=entry.provider.batch_key(resolved),
            request=resolved,
            cost=self.policy.cost(
                resolved, entry.settings.cost_multiplier, painted=reencoded.painted
            ),
            max_attempts=self.settings.queue.max_attempts,
            timeout_seconds=self.settings.queue.job_timeout_seconds,
            target=target,
        )

    async def submit_describe(
        self,
        image: bytes,
        requester: Requester,
        *,
        provider: str | None = None,
        origin: str = "discord",
        target: dict[str, Any] | None = None,
    ) -> Job:
        """Queue a caption of ``image`` as a job like any other: the same bans and rules of the
        place, cooldown, queue limit and fair turn, at ``quota.describe_cost`` units."""
        if self.settings.scale.enabled:
            raise Refusal(
                "Describing images isn't available on this bot yet: its GPU workers don't run "
                "captioners. Nothing was queued or charged."
            )
        request = await self.admit(describe_request(image), requester)
        entry = self.providers.get(provider) if provider else self._describer()
        if not entry.provider.capabilities.describe:
            raise InvalidRequest("provider", entry.name, "a provider with a captioner")
        check_header(image, self.settings.limits)
        await asyncio.to_thread(_decode_fully, image)
        await self._check_enabled(entry.name, request.model, requester)
        new = NewJob(
            requester=requester,
            origin=origin,
            provider=entry.name,
            model=CAPTIONER,
            batch_key="",
            request=request,
            cost=self.settings.quota.describe_cost,
            max_attempts=self.settings.queue.max_attempts,
            timeout_seconds=min(DESCRIBE_TIMEOUT, self.settings.queue.job_timeout_seconds),
            target=target or {},
        )
        return await self._queue(new, await self.limits_for(requester))

    async def _queue(self, new: NewJob, limits: QuotaLimits) -> Job:
        job = await self.store.submit(new, limits)
        self.events.job_submitted()
        return job

    def _describer(self) -> ProviderEntry:
        for entry in self.providers:
            if entry.provider.capabilities.describe:
                return entry
        raise InvalidRequest("describe", None, "a provider with a captioner; none is configured")

    async def admit(self, request: GenerationRequest, requester: Requester) -> GenerationRequest:
        """The member may ask here (bans), and the server's rules allow what they ask:
        NSFW, img2img, blocked terms. Returns the request with NSFW taken away where the
        server does not allow it."""
        guild = requester.guild_id
        if self.moderation is not None:
            await self.moderation.ensure_not_banned(requester.user_id, guild)
        if self.policies is not None:
            policy = await self.policies.content(guild, requester.channel_id)
            if not policy.nsfw:
                request = request.replace(nsfw_allowed=False)
            if request.mode in IMAGE_MODES and not policy.img2img:
                raise InvalidRequest(
                    "image", None, "starting from an image is off here; leave it out"
                )
            if guided(request) and not policy.img2img:
                raise InvalidRequest(
                    "references" if request.references else "control_image",
                    None,
                    "members' images (references, control) are off here; leave them out",
                )
        if self.moderation is not None:
            try:
                await self.moderation.screen(
                    request.prompt,
                    request.negative_prompt,
                    guild_id=guild,
                    sfw=not request.nsfw_allowed,
                )
            except BlockedPrompt as blocked:
                await self.moderation.record(
                    guild_id=guild,
                    actor_id=requester.user_id,
                    action="prompt.blocked",
                    target_id=requester.user_id,
                    reason=f"{blocked.field}: {blocked.term}"
                    + (" (timed out, counted as a match)" if blocked.timed_out else ""),
                    details={"prompt": request.prompt[:500], "channel_id": requester.channel_id},
                )
                raise
        return request

    async def readmit(self, job: Job, requester: Requester, *, nsfw_place: bool) -> None:
        """Whether ``job``'s result may be shown again where ``requester`` asks (/show): the
        rules its request would meet as a new job there, bans, the server's and channel's
        rules, blocked terms, switched-off providers and models, NSFW models only where NSFW
        is allowed. Raises as ``submit`` would; charges nothing."""
        from_image = (
            job.request.mode in IMAGE_MODES
            or job.request.mode is Mode.UPSCALE
            or guided(job.request)
        )
        request = await self.admit(
            job.request.replace(nsfw_allowed=nsfw_place and not from_image), requester
        )
        entry = self.providers.find(job.provider)
        # A provider no longer configured cannot say; where the job ran tells.
        nsfw_model = (
            entry.provider.model_is_nsfw(job.model) if entry else bool(job.target.get("nsfw"))
        )
        if nsfw_model and not request.nsfw_allowed:
            raise _nsfw_model(job.model)
        if entry is not None:
            _refuse_nsfw_loras(entry.provider, request)
        await self._check_enabled(job.provider, job.model, requester)

    async def _check_enabled(self, provider: str, model: str | None, requester: Requester) -> None:
        if self.policies is None:
            return
        states = await self.policies.provider_states()
        policy = await self.policies.content(requester.guild_id, requester.channel_id)
        if states.get(provider) == "disabled" or provider in policy.disabled_providers:
            raise InvalidRequest(
                "model", provider, "pick a model of a provider that is switched on here"
            )
        if model in policy.disabled_models:
            raise InvalidRequest("model", model, "pick a model that is switched on here")

    async def limits_for(self, requester: Requester) -> QuotaLimits:
        """The configured policy (and, for DMs, the owner's allowance set with /admin), then
        what a server's moderators set: the server's default allowance, tiers by role, a
        member's own allowance. Those can lower what the owner allows, never raise it."""
        owner = self.policy.limits_for(requester)
        if self.policies is None:
            return owner
        units = await self.policies.guild_units(requester.guild_id)
        guild = requester.guild_id
        if guild is None:
            return owner if units is None else dataclasses.replace(owner, allowance=units)
        limits = owner if units is None else dataclasses.replace(owner, allowance=units)
        if self.moderation is not None:
            tiers = [
                t for t in await self.moderation.tiers(guild) if t.role_id in requester.role_ids
            ]
            if tiers:
                limits = apply_tier(
                    limits, max(tiers, key=lambda t: (t.daily_units or 0, t.priority))
                )
        member = await self.policies.member_units(guild, requester.user_id)
        if member is not None:
            limits = dataclasses.replace(limits, allowance=member)
        return bounded(limits, owner)

    async def cancel(self, job_id: int, user_id: int | None = None) -> JobStatus:
        status = await self.store.cancel(job_id, user_id)
        if status is JobStatus.RUNNING:
            self.events.cancel_requested(job_id)
        return status

    async def position(self, job_id: int) -> QueuePosition:
        job = await self.store.get(job_id)
        entry = self.providers.find(job.provider) if job is not None else None
        return await self.store.position(job_id, entry.settings.concurrency if entry else 1)


def apply_tier(limits: QuotaLimits, tier: Tier) -> QuotaLimits:
    return dataclasses.replace(
        limits,
        tier=tier.name,
        allowance=limits.allowance if tier.daily_units is None else tier.daily_units,
        max_queued=limits.max_queued if tier.max_queued is None else tier.max_queued,
        cooldown=limits.cooldown if tier.cooldown_seconds is None else tier.cooldown_seconds,
        priority=tier.priority,
        max_width=tier.max_width,
        max_height=tier.max_height,
        max_steps=tier.max_steps,
        max_count=tier.max_count,
    )


def _check_tier_limits(request: GenerationRequest, limits: QuotaLimits) -> None:
    width, height = request.size
    for name, value, most in (
        ("width", width, limits.max_width),
        ("height", height, limits.max_height),
        ("steps", request.steps, limits.max_steps),
        ("count", request.count, limits.max_count),
    ):
        if most is not None and value is not None and value > most:
            raise InvalidOption(
                name,
                value,
                lazy_t(
                    "your tier ({tier}) allows {most} at most; use less",
                    tier=limits.tier,
                    most=most,
                ),
            )


def _refuse_nsfw_loras(provider: Provider, request: GenerationRequest) -> None:
    if request.nsfw_allowed:
        return
    for lora in request.loras:
        if provider.lora_is_nsfw(lora.name):
            raise InvalidOption(
                "loras",
                lora.name,
                lazy_t(
                    "it is an NSFW LoRA, only for prompts (never images) in age-restricted "
                    "server channels; pick another"
                ),
            )


def _nsfw_model(model: str | None) -> InvalidRequest:
    return InvalidOption(
        "model",
        model,
        lazy_t(
            "it is an NSFW model, only for prompts (never images) in age-restricted server "
            "channels; pick another"
        ),
    )


def _decode_fully(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception:
        raise _image("the file is damaged or cut short; attach it again") from None


def _image(problem: str) -> InvalidRequest:
    return InvalidRequest("image", None, problem)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidOption(
            name, value, lazy_t("use a value from {low} to {high}", low=low, high=high)
        )
