"""/blend, and the "Use as reference" and "Use as pose" message menus: members' images steering
a new picture. Their images can show real people, so these jobs are SFW, always (``enqueue``
allows NSFW only for a txt2img job without images)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range

from bot.errors import InvalidOption, Refusal
from bot.i18n import Text, lazy_t, locale_of
from cogs.catalogue import CHOICES_MAX
from cogs.common import answer, clip, explain, in_language, private_delivery, runtime_of
from cogs.edit import Source, first_image
from cogs.image_cog import ImageCog
from cogs.options import ASPECTS, aspect_size
from cogs.reference_modals import PoseModal, ReferenceModal
from cogs.results.buttons.tools import named
from cogs.results.enqueue import enqueue
from cogs.steering import able_controls, able_references
from engine import EngineError, GenerationRequest, Mode
from engine.types import REFERENCE_WEIGHTS, Control, ControlKind, Reference, ReferenceKind

if TYPE_CHECKING:
    from bot.app import ImageBot


class References(ImageCog):
    def __init__(self, bot: ImageBot) -> None:
        super().__init__(bot)
        self.menu("Use as reference", self.reference_menu)
        self.menu("Use as pose", self.pose_menu)

    @app_commands.command(description="Blend two to five images into one")
    @app_commands.describe(
        image1="The first image to blend",
        image2="The second image to blend",
        image3="A third image",
        image4="A fourth image",
        image5="A fifth image",
        prompt="What to draw, if anything (the images lead)",
        aspect_ratio="Shape of the result (default 1:1)",
        model="A model that follows reference images",
    )
    @app_commands.choices(aspect_ratio=[Choice(name=a, value=a) for a in ASPECTS])
    async def blend(
        self,
        interaction: discord.Interaction[Any],
        image1: discord.Attachment,
        image2: discord.Attachment,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        image5: discord.Attachment | None = None,
        prompt: Range[str, 1, 1500] | None = None,
        aspect_ratio: str | None = None,
        model: str | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # first: 3 s to answer
        sources = [i for i in (image1, image2, image3, image4, image5) if i is not None]
        try:
            private = await private_delivery(interaction)
            references = tuple(Reference(ReferenceKind.STYLE, 1.0) for _ in sources)
            able = able_references(self.catalogue, ReferenceKind.STYLE, len(sources))
            does = lazy_t("blend {count} images", count=len(sources))
            provider, name = self._model(interaction, model, able, does)
            images = tuple([await self.attachments.read(source) for source in sources])
            aspect = aspect_ratio or "1:1"
            if aspect not in ASPECTS:
                raise InvalidOption(
                    "aspect_ratio", aspect, lazy_t("pick one of {names}", names=", ".join(ASPECTS))
                )
            entry = runtime_of(interaction).providers.get(provider)
            usual = entry.provider.prepare(GenerationRequest("size", model=name)).size
            multiple = self.catalogue.model_info(provider, name).size_multiple
            width, height = aspect_size(aspect, usual[0] * usual[1], multiple)
            request = self._request(interaction, provider, name, prompt or "").replace(
                width=width,
                height=height,
                references=references,
                reference_images=images,
            )
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
            return
        await enqueue(interaction, request, provider=provider, private=private)

    @blend.autocomplete("model")
    async def model_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        needle = current.lower()
        found = []
        for provider, model in able_references(self.catalogue, ReferenceKind.STYLE, 2):
            label = f"{model} ({provider})"
            if needle in label.lower():
                found.append(Choice(name=clip(label, 100), value=f"{provider}:{model}"[:100]))
        return found[:CHOICES_MAX]

    async def reference_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        """Asks for a prompt, the kind of reference and its weight, then draws with the
        message's first image as the reference."""
        source = first_image(message)
        try:
            if source is None:
                raise Refusal("That message has no image to use as a reference.")
            private = await private_delivery(interaction)
            if not able_references(self.catalogue, None, 1):
                raise Refusal("No model on this bot can follow reference images.")
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
            return

        async def submit(
            submitted: discord.Interaction[Any], prompt: str, kind: ReferenceKind, weight: str
        ) -> None:
            reference = Reference(kind, _weight(weight))
            able = able_references(self.catalogue, kind, 1)
            does = (
                lazy_t("follow subject references")
                if kind is ReferenceKind.SUBJECT
                else lazy_t("follow style references")
            )
            provider, name = self._model(submitted, None, able, does)
            image = await self.attachments.read(source)
            request = self._request(submitted, provider, name, prompt).replace(
                references=(reference,), reference_images=(image,)
            )
            await enqueue(submitted, request, provider=provider, private=private)

        modal: discord.ui.Modal = ReferenceModal(submit)
        await interaction.response.send_modal(in_language(modal, locale_of(interaction)))

    async def pose_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        """Asks for a prompt, then draws following the pose in the message's first image."""
        source: Source | None = first_image(message)
        try:
            if source is None:
                raise Refusal("That message has no image to take a pose from.")
            private = await private_delivery(interaction)
            if not able_controls(self.catalogue, ControlKind.POSE):
                raise Refusal("No model on this bot can follow a pose.")
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
            return

        async def submit(submitted: discord.Interaction[Any], prompt: str) -> None:
            control = Control(ControlKind.POSE)
            able = able_controls(self.catalogue, ControlKind.POSE)
            provider, name = self._model(submitted, None, able, lazy_t("follow a pose"))
            image = await self.attachments.read(source)
            request = self._request(submitted, provider, name, prompt).replace(
                control=control, control_image=image
            )
            await enqueue(submitted, request, provider=provider, private=private)

        modal = PoseModal(submit)
        await interaction.response.send_modal(in_language(modal, locale_of(interaction)))

    def _model(
        self,
        interaction: discord.Interaction[Any],
        model: str | None,
        able: Sequence[tuple[str, str]],
        does: Text,
    ) -> tuple[str, str]:
        """The model asked for, when it is able; else the default model when it is; else the
        first able one, the default provider's first. ``does`` says what they can do."""
        providers = runtime_of(interaction).providers
        if not able:
            raise Refusal(
                lazy_t("No model on this bot can {does}; ask its owner to add one.", does=does)
            )
        if model:
            provider, name = self.catalogue.resolve(model)
            entry = providers.get(provider)
            chosen = (entry.name, name or entry.provider.default_model)
            if chosen not in able:
                raise Refusal(
                    lazy_t(
                        "{model} can't {does}. {models}",
                        model=chosen[1],
                        does=does,
                        models=named([f"{p}:{m}" for p, m in able]),
                    )
                )
            return chosen
        entry = providers.get(None)
        default = (entry.name, entry.provider.default_model)
        if default in able:
            return default
        return next(((p, m) for p, m in able if p == providers.default), able[0])

    def _request(
        self, interaction: discord.Interaction[Any], provider: str, model: str, prompt: str
    ) -> GenerationRequest:
        runtime = runtime_of(interaction)
        negative = runtime.providers.default_negative(
            provider, model, runtime.settings.defaults.negative_prompt
        )
        return GenerationRequest(
            prompt.strip(), model=model, mode=Mode.TXT2IMG, negative_prompt=negative
        )


def _weight(text: str) -> float:
    """A weight as a member typed it ("0.8", "0,8"), within the range."""
    low, high = REFERENCE_WEIGHTS
    try:
        weight = float(text.strip().replace(",", ".") or "1")
    except ValueError:
        weight = math.nan
    if not (math.isfinite(weight) and low <= weight <= high):
        raise InvalidOption(
            "weight",
            clip(text, 20),
            lazy_t(
                "use a weight from {low} to {high}", low=format(low, "g"), high=format(high, "g")
            ),
        )
    return weight


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(References(bot))
