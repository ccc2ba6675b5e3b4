"""The Vary (Region) button and what it opens: the three ways to say which part, then the
preview's Repaint, New prompt and Cancel.

Every step is a stateless custom id read again from the store, so it works after a restart:
``img:g:JOB:INDEX`` opens the choice; its option says the rest: ``up`` (upload a mask),
``name`` (name it), ``y.REF`` (repaint), ``w.REF`` (repaint with a new prompt), ``x.REF``
(cancel), where REF is a preset region's key or the token of a mask kept in
``PendingMasks``. The preset list is ``region:JOB:INDEX``."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from bot.canvas import regions
from bot.errors import Refusal
from bot.i18n import locale_of, t
from cogs.common import answer, bot_of, explain, in_language
from cogs.results.buttons.base import JobButton, defer, handles
from cogs.results.region.common import checked_job, pending_masks, source_of
from cogs.results.region.confirm import cancel, repaint
from cogs.results.region.modals import NameRegionModal, RepaintPromptModal, UploadMaskModal
from cogs.results.region.previews import no_segmenter, preview_preset
from cogs.results.region.segmenting import segmenter
from engine import EngineError


@handles("g")
async def on_region(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    step, _, ref = option.partition(".")
    if step == "":
        await _choose(interaction, job_id, index)
    elif step == "up":
        await checked_job(interaction, job_id)
        modal: discord.ui.Modal = UploadMaskModal(job_id, index)
        await interaction.response.send_modal(in_language(modal, locale_of(interaction)))
    elif step == "name":
        job = await checked_job(interaction, job_id)
        if segmenter(bot_of(interaction), job) is None:
            raise Refusal(no_segmenter())
        modal = NameRegionModal(job_id, index)
        await interaction.response.send_modal(in_language(modal, locale_of(interaction)))
    elif step == "y" and ref:
        await repaint(interaction, job_id, index, ref)
    elif step == "w" and ref:
        await _ask_prompt(interaction, job_id, index, ref)
    elif step == "x" and ref:
        await cancel(interaction, job_id, index, ref)
    else:
        raise Refusal("This button does nothing in this version of the bot.")


async def _choose(interaction: discord.Interaction[Any], job_id: int, index: int) -> None:
    source = await source_of(interaction, job_id, index)
    locale = locale_of(interaction)
    can_name = segmenter(bot_of(interaction), source.job) is not None
    view = discord.ui.View(timeout=None)
    upload, name = t(locale, "Upload a mask"), t(locale, "Name it")
    view.add_item(JobButton("g", job_id, index, label=upload, emoji="📤", option="up", row=0))
    if can_name:
        view.add_item(JobButton("g", job_id, index, label=name, emoji="🔤", option="name", row=0))
    view.add_item(RegionSelect(job_id, index, locale))
    view.stop()
    ways = [
        t(
            locale,
            "**{upload}**: an image of the same shape, white where to repaint, black where to "
            "keep.",
            upload=upload,
        ),
    ]
    if can_name:
        ways.append(
            t(
                locale,
                "**{name}**: say what to repaint, such as “the sky” or “her hat”.",
                name=name,
            )
        )
    ways.append(t(locale, "**Pick a region** from the list."))
    lines = [
        t(
            locale,
            "Which part of image {image} of job #{job} should be repainted?",
            image=index + 1,
            job=job_id,
        ),
        *(f"• {way}" for way in ways),
        t(locale, "You'll see the region before anything is charged."),
    ]
    await answer(interaction, "\n".join(lines), view=view)


async def _ask_prompt(
    interaction: discord.Interaction[Any], job_id: int, index: int, ref: str
) -> None:
    job = await checked_job(interaction, job_id)
    prompt = job.request.prompt
    if ref not in regions.REGIONS:
        pending = await asyncio.to_thread(
            pending_masks(interaction).get, ref, interaction.user.id, job_id, index
        )
        prompt = pending.prompt or prompt
    modal = RepaintPromptModal(job_id, index, ref, prompt)
    await interaction.response.send_modal(in_language(modal, locale_of(interaction)))


class RegionSelect(
    discord.ui.DynamicItem[discord.ui.Select[discord.ui.View]],
    template=r"region:(?P<job>[0-9]{1,19}):(?P<index>[0-9])",
):
    """The preset regions of one image."""

    def __init__(self, job_id: int, index: int, locale: object = None) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"region:{job_id}:{index}",
                placeholder=t(locale, "Pick a region to repaint"),
                options=[
                    discord.SelectOption(label=t(locale, label), value=key)
                    for key, label in regions.REGIONS.items()
                ],
                row=1,
            )
        )
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: Any,
        /,
    ) -> RegionSelect:
        return cls(int(match["job"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        values = self.item.values
        try:
            if len(values) != 1:
                raise Refusal("Pick one region.")
            await defer(interaction)
            await preview_preset(interaction, self.job_id, self.index, values[0])
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
