"""/edit and the "Edit image" message menu: a member's image changed as an instruction says, on
a model that edits by instruction. Members' images are edited SFW, always (a photo can show a
real person): ``enqueue`` allows NSFW for txt2img only. An instruction may end with ``--seed``
and ``--no`` (``cogs.results.reprompt``); other parameters are refused."""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from PIL import Image

from bot.errors import InvalidOption, Refusal
from bot.i18n import lazy_t, lazy_tn, locale_of
from cogs.common import answer, explain, in_language, private_delivery, runtime_of
from cogs.image_cog import ImageCog
from cogs.results.buttons.tools import named, takes
from cogs.results.enqueue import enqueue
from cogs.results.modals import InstructionModal
from cogs.results.reprompt import EDIT, applied, read
from engine import EngineError, GenerationRequest, InvalidRequest, Mode

if TYPE_CHECKING:
    from bot.app import ImageBot

IMAGE_NAMES = (".png", ".jpg", ".jpeg", ".webp")
Source = discord.Attachment | dict[str, Any]  # an attachment, or an embed's image by its URL


class Edit(ImageCog):
    def __init__(self, bot: ImageBot) -> None:
        super().__init__(bot)
        self.menu("Edit image", self.edit_menu)

    @app_commands.command(description="Change an image as an instruction says")
    @app_commands.describe(
        image="The image to change",
        instruction="What to change: 'make it night', 'remove the car'",
        model="A model that edits by instruction",
        strength="How much to change it (0.05-1), for models that take it",
        image2="A further image, for models that take several ('put this logo on the mug')",
        image3="Another further image",
    )
    async def edit(
        self,
        interaction: discord.Interaction[Any],
        image: discord.Attachment,
        instruction: Range[str, 1, 1500],
        model: str | None = None,
        strength: Range[float, 0.05, 1.0] | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # first: 3 s to answer
        try:
            private = await private_delivery(interaction)
            images = [source for source in (image, image2, image3) if source is not None]
            request, provider = await self._request(
                interaction, images, instruction, model, strength
            )
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
            return
        await enqueue(interaction, request, provider=provider, private=private)

    @edit.autocomplete("model")
    async def model_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        return self.catalogue.choices(current, Mode.EDIT)

    async def edit_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        """Asks for the instruction in a modal, then edits the message's first image."""
        source = first_image(message)
        try:
            if source is None:
                raise Refusal("That message has no image to edit.")
            private = await private_delivery(interaction)
            self._pick(None)  # refuse before the modal where no model edits
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
            return

        async def submit(submitted: discord.Interaction[Any], instruction: str) -> None:
            request, provider = await self._request(submitted, [source], instruction)
            await enqueue(submitted, request, provider=provider, private=private)

        await interaction.response.send_modal(
            in_language(InstructionModal(submit), locale_of(interaction))
        )

    async def _request(
        self,
        interaction: discord.Interaction[Any],
        sources: Sequence[Source],
        instruction: str,
        model: str | None = None,
        strength: float | None = None,
    ) -> tuple[GenerationRequest, str]:
        instruction, params = read(interaction, instruction, "Edit", EDIT)
        if not instruction.strip():
            raise InvalidRequest("instruction", None, "say what to change in the image")
        provider, model_name = self._pick(model)
        info = self.catalogue.model_info(provider, model_name)
        if len(sources) > info.max_input_images:
            most = info.max_input_images
            raise InvalidOption(
                "image2",
                None,
                lazy_tn(
                    "{model} takes {count} image per edit; leave the others out or pick a model "
                    "that takes more",
                    "{model} takes {count} images per edit; leave the others out or pick a model "
                    "that takes more",
                    most,
                    model=model_name,
                ),
            )
        images = [await self.attachments.read(source) for source in sources]
        runtime = runtime_of(interaction)
        entry = runtime.providers.get(provider)
        usual = entry.provider.prepare(GenerationRequest("size", model=model_name)).size
        limits = runtime.settings.limits
        largest = min(entry.provider.capabilities.max_size, limits.max_width, limits.max_height)
        width, height = await asyncio.to_thread(
            edit_size, images[0], usual[0] * usual[1], info.size_multiple, largest
        )
        negative = runtime.providers.default_negative(
            provider, model_name, runtime.settings.defaults.negative_prompt
        )
        request = GenerationRequest(
            instruction.strip(),
            model=model_name,
            mode=Mode.EDIT,
            negative_prompt=negative,
            strength=strength,
            width=width,
            height=height,
            init_image=images[0],
            extra_images=tuple(images[1:]),
        )
        return await applied(interaction, request, params, provider), provider

    def _pick(self, model: str | None) -> tuple[str, str]:
        """The model asked for, when it edits; else the first that does. Where the owner lets
        edits fall back to img2img, a model that only takes img2img will do too (the service
        turns the edit into one, and the result says so)."""
        able = self.catalogue.able(Mode.EDIT)
        providers = self.bot.runtime.providers
        fallback = self.bot.runtime.settings.limits.edit_falls_back_to_img2img
        if model:
            provider, name = self.catalogue.resolve(model)
            entry = providers.get(provider)
            name = name or entry.provider.default_model
            if (entry.name, name) in able or (
                fallback and takes(providers, entry.name, name, Mode.IMG2IMG)
            ):
                return entry.name, name
            raise Refusal(
                lazy_t(
                    "{model} can't edit an image by instruction. {models}",
                    model=name,
                    models=named([f"{p}:{m}" for p, m in able]),
                )
            )
        if able:
            return next(((p, m) for p, m in able if p == providers.default), able[0])
        if fallback and providers.default is not None:
            entry = providers.get(None)
            if takes(providers, entry.name, entry.provider.default_model, Mode.IMG2IMG):
                return entry.name, entry.provider.default_model
        raise Refusal(
            "No model on this bot edits images by instruction; ask its owner to add one "
            "(FLUX.1 Kontext or FLUX.2 [klein] on the local engine, or an OpenAI-compatible server "
            "with edits = true)."
        )


def edit_size(image: bytes, area: int, multiple: int, largest: int) -> tuple[int, int]:
    """The image's shape at the model's usual pixel count, each side a multiple of
    ``multiple`` and at most ``largest``. Reads the header only; the service checks the rest."""
    try:
        with Image.open(io.BytesIO(image)) as opened:
            width, height = opened.size
    except Image.DecompressionBombError:
        raise InvalidRequest(
            "image", None, "it is far too large to open; attach a smaller one"
        ) from None
    except Exception:
        raise InvalidRequest(
            "image", None, "that file is not an image; attach a PNG, JPEG or WebP image instead"
        ) from None
    if width < 1 or height < 1:
        raise InvalidRequest("image", None, "it has no pixels; attach another image")
    return fit_shape(width, height, area, multiple, largest)


def fit_shape(width: int, height: int, area: int, multiple: int, largest: int) -> tuple[int, int]:
    """``width`` by ``height`` scaled to about ``area`` pixels, each side a multiple of
    ``multiple`` from 64 (rounded up to one) to ``largest`` (rounded down to one)."""
    scale = min(math.sqrt(area / (width * height)), largest / width, largest / height)
    low = math.ceil(64 / multiple) * multiple
    high = max(low, largest // multiple * multiple)

    def side(length: float) -> int:
        return min(high, max(low, round(length / multiple) * multiple))

    return side(width * scale), side(height * scale)


def first_image(message: discord.Message) -> Source | None:
    """The message's first image: an attachment, else an embed's image (fetched only from
    Discord's own hosts, as any attachment)."""
    for attachment in message.attachments:
        if (attachment.content_type or "").startswith(
            "image/"
        ) or attachment.filename.lower().endswith(IMAGE_NAMES):
            return attachment
    for embed in message.embeds:
        for picture in (embed.image, embed.thumbnail):
            if picture.url:
                return {"url": picture.url, "size": 0, "content_type": ""}
    return None


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(Edit(bot))
