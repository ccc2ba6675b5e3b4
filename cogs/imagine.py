"""/imagine, /upscale and /describe, and the "Upscale" and "Describe" message menus."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range

from bot.errors import Refusal
from bot.i18n import locale_of, t
from bot.members import Preferences
from bot.policy import ContentPolicy
from bot.prompting.errors import PromptError
from bot.prompting.plan import (
    Ignored,
    drafts,
    ignored_notes,
    inline_history,
    job_seeds,
    overridden,
)
from bot.prompting.wildcards import Wildcards
from bot.providers import ProviderEntry
from bot.styles import NO_STYLE
from bot.styling import Styling, styled_negative
from cogs.catalogue import CHOICES_MAX
from cogs.common import answer, check_can_post, clip, explain, requester_of, runtime_of
from cogs.image_cog import ImageCog
from cogs.imagine_requests import RequestMaker
from cogs.options import ASPECTS, parse_loras
from cogs.prompt.translation import for_model
from cogs.results.confirm import ask_to_queue
from cogs.results.enqueue import enqueue, enqueue_describe
from cogs.steering import (
    CONTROL_CHOICES,
    Upload,
    gather_control,
    gather_references,
    history_choices,
)
from cogs.styles import choices, refusal
from engine import EngineError, GenerationRequest, InvalidRequest, Mode
from engine.types import MAX_SEED, Reference, ReferenceKind

if TYPE_CHECKING:
    from bot.app import ImageBot


class Imagine(ImageCog):
    def __init__(self, bot: ImageBot) -> None:
        super().__init__(bot)
        settings = bot.runtime.settings
        self.requests = RequestMaker(
            bot.runtime, self.catalogue, Wildcards(settings.prompts.wildcards_dir)
        )
        _bound(self.imagine, self._bounds())
        self.menu("Upscale", self.upscale_menu)
        self.menu("Describe", self.describe_menu)

    def _bounds(self) -> dict[str, tuple[int, int]]:
        """The ranges the schema offers: the configured limits, and no more than the largest
        any provider here accepts (the tightest check a value meets applies anyway)."""
        limits = self.bot.runtime.settings.limits
        caps = [entry.provider.capabilities for entry in self.bot.runtime.providers]
        size = max((c.max_size for c in caps), default=limits.max_width)
        steps = max((c.max_steps for c in caps), default=limits.max_steps)
        images = max((c.max_images for c in caps), default=limits.max_count)
        return {
            "prompt": (1, limits.max_prompt_length),
            "negative": (0, limits.max_prompt_length),
            "width": (64, max(64, min(limits.max_width, size))),
            "height": (64, max(64, min(limits.max_height, size))),
            "steps": (1, min(limits.max_steps, steps)),
            "count": (1, min(limits.max_count, images)),
        }

    @app_commands.command(description="Make images from a prompt")
    @app_commands.describe(
        prompt="What to draw; may end with parameters such as --ar 16:9 --no text --seed 7",
        negative="What to keep out of the image",
        model="Which model (and provider) draws it",
        aspect="Shape of the image; width and height override it",
        width="Width in pixels",
        height="Height in pixels",
        steps="Denoising steps: more is slower, often finer",
        guidance="How closely to follow the prompt (CFG scale)",
        sampler="The sampler the provider uses",
        seed="Start from this seed to repeat a result",
        count="How many images",
        loras="LoRAs as name:weight, separated by commas",
        image="Start from this image (img2img)",
        strength="With an image: how much to change it (0.05-1)",
        sref="A style reference: an image whose look (palette, medium, texture) to follow",
        sref_weight="How strongly to follow the style reference (0-2, default 1)",
        oref="A subject reference: a character or object to keep",
        oref_weight="How strongly to keep the subject (0-2, default 1)",
        ref_job="Your results as references: JOB:IMAGE[:style|subject][:WEIGHT], comma-separated",
        control="An image whose structure to follow: a pose, depth or edges",
        control_type="What to follow in the control image",
        control_strength="How strictly to follow it (0-2, default 1)",
        control_start="When to start following it, as a fraction of the steps (0-1, default 0)",
        control_end="When to stop following it (0-1, default 1)",
        style="A saved style (yours or this server's); else your default; - for none",
    )
    @app_commands.choices(
        aspect=[Choice(name=aspect, value=aspect) for aspect in ASPECTS],
        control_type=CONTROL_CHOICES,
    )
    # The ranges here are the widest; __init__ narrows them to the settings (see _bounds).
    async def imagine(
        self,
        interaction: discord.Interaction[Any],
        prompt: Range[str, 1, 1500],
        negative: Range[str, 0, 1500] | None = None,
        model: str | None = None,
        aspect: str | None = None,
        width: Range[int, 64, 2048] | None = None,
        height: Range[int, 64, 2048] | None = None,
        steps: Range[int, 1, 150] | None = None,
        guidance: Range[float, 0.0, 30.0] | None = None,
        sampler: str | None = None,
        seed: Range[int, 0, MAX_SEED] | None = None,
        count: Range[int, 1, 4] = 1,
        loras: str | None = None,
        image: discord.Attachment | None = None,
        strength: Range[float, 0.05, 1.0] | None = None,
        sref: discord.Attachment | None = None,
        sref_weight: Range[float, 0.0, 2.0] | None = None,
        oref: discord.Attachment | None = None,
        oref_weight: Range[float, 0.0, 2.0] | None = None,
        ref_job: Range[str, 1, 200] | None = None,
        control: discord.Attachment | None = None,
        control_type: str | None = None,
        control_strength: Range[float, 0.0, 2.0] | None = None,
        control_start: Range[float, 0.0, 1.0] | None = None,
        control_end: Range[float, 0.0, 1.0] | None = None,
        style: Range[str, 1, 32] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # first: 3 s to answer
        runtime = runtime_of(interaction)
        preferences = await runtime.members.preferences(interaction.user.id)
        private = preferences.private_delivery
        options: dict[str, Any] = {"model": model, "aspect": aspect, "width": width}
        options |= {"height": height, "steps": steps, "guidance": guidance}
        options |= {"sampler": sampler, "seed": seed, "negative": negative}
        try:
            check_can_post(interaction, private)
            policy = await runtime.policies.content(interaction.guild_id, interaction.channel_id)
            defaults = _defaults(preferences, policy)
            limits = await runtime.service.limits_for(requester_of(interaction))
            planned = drafts(prompt, limits.max_queued)
            if image is None and strength is not None:
                raise InvalidRequest(
                    "strength",
                    strength,
                    "it only applies with an image; attach one or leave it out",
                )
            init_image = await self._read(image) if image is not None else None
            uploads: list[Upload] = [
                (sref, ReferenceKind.STYLE, sref_weight, "sref"),
                (oref, ReferenceKind.SUBJECT, oref_weight, "oref"),
            ]
            steer, control_image = await gather_control(
                self.attachments,
                control,
                control_type,
                control_strength,
                control_start,
                control_end,
            )
            styling = Styling(
                runtime.styles,
                interaction.guild_id,
                interaction.user.id,
                option=style,
                default=preferences.style,
            )
            common = GenerationRequest(
                prompt,
                mode=Mode.IMG2IMG if init_image is not None else Mode.TXT2IMG,
                count=count,
                strength=(strength or 0.6) if init_image is not None else None,
                loras=parse_loras(loras),
                init_image=init_image,
                control=steer,
                control_image=control_image,
            )
            jobs: list[tuple[str | None, GenerationRequest]] = []
            extras: list[dict[str, Any] | None] = []  # what the result notes besides (translation)
            ignored: list[Ignored] = []
            references: dict[object, tuple[tuple[Reference, ...], tuple[bytes, ...]]] = {}
            for draft in planned:
                styled, chosen, ignored_style = await styling.draft(draft)
                # notes name the member's own parameters the options override, not a style's
                ignored += ignored_style + overridden(draft.params, options)[1]
                params = overridden(styled.params, options)[0]
                key = (params.sref, params.sw)
                if key not in references:
                    history = inline_history(ref_job, params)
                    references[key] = await gather_references(
                        interaction, self.attachments, uploads, history
                    )
                provider, request = self.requests.request(common, styled, params, options, defaults)
                request = styled_negative(
                    runtime.providers, provider, chosen, request, typed=negative is not None
                )
                text, noted = await for_model(interaction, request.prompt, provider, request.model)
                refs, images = references[key]
                request = request.replace(prompt=text, references=refs, reference_images=images)
                for first_seed in job_seeds(request.seed, draft.jobs, count):
                    jobs.append(
                        (provider, await self.requests.with_seed(request, first_seed, provider))
                    )
                    extras.append(noted)
        except PromptError as err:
            await answer(interaction, err.worded(partial(t, locale_of(interaction))))
            return
        except (Refusal, EngineError) as err:
            await answer(interaction, refusal(locale_of(interaction), err))
            return
        notes = ignored_notes(locale_of(interaction), ignored)
        if len(jobs) > 1:
            try:
                await ask_to_queue(interaction, jobs, private=private, notes=notes, extras=extras)
            except (Refusal, EngineError) as err:
                await answer(interaction, explain(err, locale_of(interaction)))
            return
        provider, request = jobs[0]
        queued = await enqueue(
            interaction, request, provider=provider, private=private, extra=extras[0]
        )
        if queued and notes:
            await interaction.followup.send(notes, ephemeral=True)

    async def _read(self, attachment: discord.Attachment) -> bytes:
        return await self.attachments.read(attachment)

    @imagine.autocomplete("style")
    async def style_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        runtime = runtime_of(interaction)
        usable = await runtime.styles.usable(interaction.guild_id, interaction.user.id)
        locale = locale_of(interaction)
        found = choices(locale, usable, current)
        if (await runtime.members.preferences(interaction.user.id)).style:
            found.insert(
                0, Choice(name=t(locale, "No style, not even your default"), value=NO_STYLE)
            )
        return found[:CHOICES_MAX]

    @imagine.autocomplete("model")
    async def model_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        return self.catalogue.choices(current)

    @imagine.autocomplete("sampler")
    async def sampler_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        """The samplers of the model chosen so far (else the default one), not every
        provider's: a flow-matching model takes none of the A1111 names."""
        try:
            provider, model = self.catalogue.resolve(getattr(interaction.namespace, "model", None))
            samplers = self.catalogue.model_info(provider, model).samplers
        except InvalidRequest:
            return []
        needle = current.lower()
        return [Choice(name=s, value=s) for s in samplers if needle in s.lower()][:CHOICES_MAX]

    @imagine.autocomplete("loras")
    async def lora_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        """Completes the last name:weight item of the list typed so far, offering the LoRAs
        that fit the chosen model."""
        chosen = self._chosen(interaction)
        if chosen is None:
            return []
        entry, model = chosen
        names = self.catalogue.loras(entry.name, model)
        done, _, last = current.rpartition(",")
        prefix = f"{done}, " if done else ""
        needle = last.strip().partition(":")[0].lower()
        picks = [name for name in names if needle in name.lower()]
        return [
            Choice(name=clip(f"{prefix}{name}:1", 100), value=f"{prefix}{name}:1"[:100])
            for name in picks
        ][:CHOICES_MAX]

    @imagine.autocomplete("ref_job")
    async def reference_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        return await history_choices(interaction, current)

    def _chosen(self, interaction: discord.Interaction[Any]) -> tuple[ProviderEntry, str] | None:
        """The provider and model picked so far in the command, else the defaults."""
        try:
            provider, model = self.catalogue.resolve(getattr(interaction.namespace, "model", None))
            entry = self.bot.runtime.providers.get(provider)
        except InvalidRequest:
            return None
        return entry, model or entry.provider.default_model

    @app_commands.command(description="Upscale an image")
    @app_commands.describe(image="The image to enlarge")
    async def upscale(
        self, interaction: discord.Interaction[Any], image: discord.Attachment
    ) -> None:
        await self._upscale(interaction, image)

    async def upscale_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        await self._upscale(interaction, _first_image(message))

    async def _upscale(
        self, interaction: discord.Interaction[Any], image: discord.Attachment | None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        runtime = runtime_of(interaction)
        private = (await runtime.members.preferences(interaction.user.id)).private_delivery
        try:
            if image is None:
                raise Refusal("That message has no image to upscale.")
            check_can_post(interaction, private)
            provider = next(
                (
                    e.name
                    for e in runtime.providers
                    if Mode.UPSCALE in e.provider.capabilities.modes
                ),
                None,
            )
            if provider is None:
                raise Refusal("No provider here can upscale images.")
            data = await self._read(image)
            request = GenerationRequest("upscale", mode=Mode.UPSCALE, init_image=data)
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
            return
        await enqueue(interaction, request, provider=provider, private=private)

    @app_commands.command(description="Suggest a prompt for an image")
    @app_commands.describe(image="The image to describe")
    async def describe(
        self, interaction: discord.Interaction[Any], image: discord.Attachment
    ) -> None:
        await self._describe(interaction, image)

    async def describe_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        await self._describe(interaction, _first_image(message))

    async def _describe(
        self, interaction: discord.Interaction[Any], image: discord.Attachment | None
    ) -> None:
        """Queued like any job; the caption replaces the private status message."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        private = (
            await runtime_of(interaction).members.preferences(interaction.user.id)
        ).private_delivery
        try:
            if image is None:
                raise Refusal("That message has no image to describe.")
            data = await self._read(image)
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
            return
        await enqueue_describe(interaction, data, private=private)


def _bound(
    command: app_commands.Command[Any, ..., Any], bounds: dict[str, tuple[int, int]]
) -> None:
    """Set the options' ranges on this cog's copy of the command before the tree syncs
    (``Range`` in a signature is fixed when the class is defined, before settings exist)."""
    params = command._params  # the copy Cog.__new__ made for this instance
    for name, (low, high) in bounds.items():
        params[name] = dataclasses.replace(params[name], min_value=low, max_value=high)


def _defaults(preferences: Preferences, policy: ContentPolicy) -> Preferences:
    """The member's own defaults, else the channel's or server's."""
    return Preferences(
        model=preferences.model or policy.model,
        width=preferences.width or policy.width,
        height=preferences.height or policy.height,
        negative_prompt=preferences.negative_prompt or policy.negative_prompt,
        private_delivery=preferences.private_delivery,
    )


def _first_image(message: discord.Message) -> discord.Attachment | None:
    for attachment in message.attachments:
        if (attachment.content_type or "").startswith(
            "image/"
        ) or attachment.filename.lower().endswith((".png", ".jpg", ".jpeg", ".webp")):
            return attachment
    return None


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(Imagine(bot))
