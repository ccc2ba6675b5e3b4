"""The forms of Vary (Region): upload a mask, name a region, give a new prompt."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import discord

from bot.errors import Refusal
from bot.i18n import N_, locale_of
from cogs.common import answer, bot_of, explain
from cogs.results.buttons.base import defer
from cogs.results.region.confirm import region_prompt, repaint
from cogs.results.region.previews import preview_named, preview_upload
from engine import EngineError

PROMPT_LIMIT = 4000
PHRASE_LIMIT = 100


def _prompt_input(default: str = "", *, required: bool = False) -> discord.ui.TextInput[Any]:
    return discord.ui.TextInput(
        label=N_("New prompt") if required else N_("New prompt (empty: keep the original)"),
        custom_id="prompt",
        style=discord.TextStyle.paragraph,
        default=default[:PROMPT_LIMIT] or None,
        required=required,
        max_length=PROMPT_LIMIT,
    )


async def _answered(interaction: discord.Interaction[Any], step: Awaitable[None]) -> None:
    try:
        await step
    except (Refusal, EngineError) as err:
        await answer(interaction, explain(err, locale_of(interaction)))


async def _readable(interaction: discord.Interaction[Any], prompt: str) -> bool:
    """Whether the prompt given with a mask can be used, said before any preview is made (the
    repaint reads it again)."""
    try:
        region_prompt(interaction, prompt)
    except Refusal as err:
        await answer(interaction, explain(err, locale_of(interaction)))
        return False
    return True


class UploadMaskModal(discord.ui.Modal, title=N_("Vary (Region): upload a mask")):
    def __init__(self, job_id: int, index: int) -> None:
        super().__init__(timeout=900)
        self.job_id, self.index = job_id, index
        self.upload: discord.ui.FileUpload[UploadMaskModal] = discord.ui.FileUpload(
            custom_id="mask", required=True, min_values=1, max_values=1
        )
        self.add_item(
            discord.ui.Label(
                text=N_("Mask: white repaints, black keeps"),
                description=N_("A PNG of the image's shape; any colours are read as brightness."),
                component=self.upload,
            )
        )
        self.prompt = _prompt_input()
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        await defer(interaction)
        if not await _readable(interaction, self.prompt.value):
            return
        files = self.upload.values
        await _answered(
            interaction,
            preview_upload(interaction, self.job_id, self.index, files, self.prompt.value),
        )


class NameRegionModal(discord.ui.Modal, title=N_("Vary (Region): name the part")):
    def __init__(self, job_id: int, index: int) -> None:
        super().__init__(timeout=900)
        self.job_id, self.index = job_id, index
        self.phrase: discord.ui.TextInput[NameRegionModal] = discord.ui.TextInput(
            label=N_("What to repaint"),
            custom_id="phrase",
            placeholder=N_("the sky, her hat, the red car"),
            max_length=PHRASE_LIMIT,
        )
        self.add_item(self.phrase)
        self.prompt = _prompt_input()
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        await defer(interaction)
        if not await _readable(interaction, self.prompt.value):
            return
        await _answered(
            interaction,
            preview_named(
                interaction, self.job_id, self.index, self.phrase.value, self.prompt.value
            ),
        )


class RepaintPromptModal(discord.ui.Modal, title=N_("Vary (Region): new prompt")):
    """Repaint the previewed region with the prompt typed here."""

    def __init__(self, job_id: int, index: int, ref: str, prompt: str) -> None:
        super().__init__(timeout=900)
        self.job_id, self.index, self.ref = job_id, index, ref
        self.prompt = _prompt_input(prompt, required=True)
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        await _answered(
            interaction,
            repaint(interaction, self.job_id, self.index, self.ref, self.prompt.value),
        )
