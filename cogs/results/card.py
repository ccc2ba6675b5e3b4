"""A result as a card: Discord's layout components (a container with the images in a media
gallery, the prompt and the parameters as text, the buttons below), built from the same
embed and buttons as the embed form so both say the same.

Discord's rules for such a message (the ``IS_COMPONENTS_V2`` flag, which discord.py sets
for a ``LayoutView``): no content or embeds, at most 40 components, at most 4000 characters
of text, a gallery of 1 to 10 items, and a file shows only where a component names it
(``attachment://NAME``, the name it was uploaded under)."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.i18n import t
from bot.jobs import Job
from cogs.common import clip, shown

MAX_TEXT = 4000
MAX_COMPONENTS = 40
PARAMETERS_TEXT = 1500  # the parameters' share of the text; the prompt gets what is left
MENTION_TEXT = 400
SEPARATOR = " · "
ATTACHMENT = "attachment://"


def card(
    job: Job,
    embed: discord.Embed,
    buttons: discord.ui.View | None,
    files: Sequence[discord.File],
    *,
    mention: str | None,
) -> discord.ui.LayoutView:
    """The first message of a result: the mention (if any) above a container holding the
    prompt, the images, the parameters (beside the control map, if the embed shows one) and
    the buttons, in their rows."""
    thumbnail = _attachment_name(embed.thumbnail.url)
    pictures = [file for file in files if file.filename != thumbnail]
    mention = clip(mention, MENTION_TEXT) if mention else None
    parameters = clip(_parameters(job, embed), PARAMETERS_TEXT)
    room = MAX_TEXT - len(parameters) - len(mention or "")
    head = f"**{embed.author.name}**\n" if embed.author.name else ""
    prompt = clip(head + (embed.description or ""), room)

    view = discord.ui.LayoutView(timeout=None)
    if mention:
        view.add_item(discord.ui.TextDisplay(mention))
    container: discord.ui.Container[discord.ui.LayoutView] = discord.ui.Container(
        accent_colour=embed.colour
    )
    container.add_item(discord.ui.TextDisplay(prompt))
    if pictures:
        container.add_item(_gallery(job, pictures))
    if thumbnail is not None and any(file.filename == thumbnail for file in files):
        container.add_item(
            discord.ui.Section(
                discord.ui.TextDisplay(parameters),
                accessory=discord.ui.Thumbnail(
                    ATTACHMENT + thumbnail, description=embed.footer.text
                ),
            )
        )
    else:
        container.add_item(discord.ui.TextDisplay(parameters))
    rows = _rows(buttons)
    if rows:
        container.add_item(discord.ui.Separator())
        for row in rows:
            container.add_item(row)
    view.add_item(container)
    view.stop()  # the buttons are dynamic items: nothing is kept in memory per message
    return view


def more_images(
    job: Job, embed: discord.Embed, files: Sequence[discord.File], part: int, parts: int
) -> discord.ui.LayoutView:
    """A later message of a result split for size: its images, under a line saying whose."""
    view = discord.ui.LayoutView(timeout=None)
    container: discord.ui.Container[discord.ui.LayoutView] = discord.ui.Container(
        accent_colour=embed.colour
    )
    line = t(
        job.locale, "Job #{job}, part {part} of {parts}", job=job.job_id, part=part, parts=parts
    )
    container.add_item(discord.ui.TextDisplay(f"-# {line}"))
    if files:
        container.add_item(_gallery(job, files))
    view.add_item(container)
    view.stop()
    return view


def fits(view: discord.ui.LayoutView) -> bool:
    """Within Discord's count of components and characters of text."""
    text = sum(
        len(item.content)
        for item in view.walk_children()
        if isinstance(item, discord.ui.TextDisplay)
    )
    return view.total_children_count <= MAX_COMPONENTS and text <= MAX_TEXT


def _gallery(
    job: Job, files: Sequence[discord.File]
) -> discord.ui.MediaGallery[discord.ui.LayoutView]:
    gallery: discord.ui.MediaGallery[discord.ui.LayoutView] = discord.ui.MediaGallery()
    for file in files:
        # Named JOB-INDEX.EXT for one image (bot.packing), JOB.EXT for a grid of all of them.
        stem = file.filename.removeprefix("SPOILER_").rpartition(".")[0]
        job_id, _, index = stem.partition("-")
        description = (
            t(job.locale, "Image {number} of job #{job}", number=int(index) + 1, job=job.job_id)
            if job_id == str(job.job_id) and index.isdigit()
            else t(job.locale, "The images of job #{job}", job=job.job_id)
        )
        gallery.add_item(
            media=ATTACHMENT + file.filename, description=description, spoiler=file.spoiler
        )
    return gallery


def _parameters(job: Job, embed: discord.Embed) -> str:
    """The embed's fields as lines: the short ones (model, seeds, size, steps, time) on one,
    with the settings the embed leaves out (guidance, sampler, references, control), then
    each long one (negative prompt, LoRAs, notes) on its own."""
    request, locale = job.request, job.locale
    short = [f"**{field.name}** {field.value}" for field in embed.fields if field.inline]
    guidance, sampler = t(locale, "Guidance"), t(locale, "Sampler")
    references, control_word = t(locale, "References"), t(locale, "Control")
    if request.guidance is not None:
        short.append(f"**{guidance}** {request.guidance:g}")
    if request.sampler:
        short.append(f"**{sampler}** {shown(request.sampler, 100)}")
    if request.references:
        kinds = ", ".join(f"{ref.kind.value} {ref.weight:g}" for ref in request.references)
        short.append(f"**{references}** {kinds}")
    if request.control is not None:
        control = request.control
        short.append(
            f"**{control_word}** {control.kind.value} {control.strength:g} "
            f"({control.start:g}–{control.end:g})"
        )
    lines = [SEPARATOR.join(short)] if short else []
    lines += [f"**{field.name}** {field.value}" for field in embed.fields if not field.inline]
    if embed.footer.text:
        lines.append(f"-# {embed.footer.text}")
    return "\n".join(lines) or "\u200b"


def _rows(
    buttons: discord.ui.View | None,
) -> list[discord.ui.ActionRow[discord.ui.LayoutView]]:
    """The buttons in the rows they asked for (each button of a result names its row)."""
    if buttons is None:
        return []
    rows: dict[int, list[discord.ui.Item[discord.ui.View]]] = {}
    for item in buttons.children:
        rows.setdefault(item.row or 0, []).append(item)
    built = []
    for _, items in sorted(rows.items()):
        row: discord.ui.ActionRow[discord.ui.LayoutView] = discord.ui.ActionRow()
        for item in items:
            row.add_item(item)
        built.append(row)
    return built


def _attachment_name(url: str | None) -> str | None:
    if url and url.startswith(ATTACHMENT):
        return url.removeprefix(ATTACHMENT)
    return None
