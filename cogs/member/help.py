"""/help: what a member can do, in one private message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import locale_of, t

if TYPE_CHECKING:
    from bot.app import ImageBot

COLOUR = discord.Colour.blurple()


def help_text(locale: object) -> str:
    """What a member can do, one paragraph per command, in their language."""
    return "\n".join(
        (
            t(
                locale,
                "**/imagine** `prompt` makes images. Options: negative prompt, model, aspect "
                "ratio or width and height, steps, guidance, sampler, seed, count (1-4), LoRAs "
                "(`name:weight, ...`), and an image with a strength to start from.",
            ),
            t(
                locale,
                "A prompt may end with parameters: `a castle --ar 16:9 --no people --seed 7 "
                "--chaos 20 --repeat 2 --style NAME`; `{choices}` makes one job per choice (you "
                "confirm first when there are several).",
                choices="a {day, night} sky",
            ),
            t(
                locale,
                "**/style** `save`, `list` and `delete` keep your own styles (text and "
                "parameters added to a prompt); use one with `--style NAME` or the `style` "
                "option, or make it your default in **/settings**.",
            ),
            t(
                locale,
                "Under a result: **U1-U4** upscale an image, **V1-V4** make variations of it, "
                "**Re-roll** runs the same prompt with a new seed, **Remix** lets you edit the "
                "prompt first, **Delete** removes the message, **Report** tells the moderators. "
                "**🛠 N** (or, under a single image, the buttons themselves) holds that image's "
                "tools: **Vary (Subtle/Strong)**, **Zoom Out** 1.5×/2×/custom, **Pan** "
                "⬅️➡️⬆️⬇️, **Make Square** and **Edit**.",
            ),
            t(
                locale,
                '**/edit** changes an image as an instruction says ("make it night"); '
                "right-click a message → Apps → **Edit image** does the same for the image in "
                "it.",
            ),
            t(
                locale,
                "**/upscale** and **/describe** take an image; right-click a message → Apps → "
                "**Upscale** or **Describe** does the same for the image in it.",
            ),
            t(
                locale,
                "**/queue** shows your jobs with their position and wait; **/cancel** stops one "
                "or all.",
            ),
            t(
                locale,
                "**/quota** shows what you have used and when it resets. Bigger, longer or more "
                "images cost more units; failed and cancelled jobs are refunded.",
            ),
            t(
                locale,
                "**/settings** keeps your default model, size and negative prompt, and private "
                "delivery (results only you can see). **/history** lists your past jobs; "
                "**/show** posts one again.",
            ),
            t(locale, "**/forget-me** deletes your prompts, images, history and settings."),
            t(
                locale,
                "NSFW models and images only appear in age-restricted server channels; DMs are "
                "always SFW.",
            ),
        )
    )


class Help(commands.Cog):
    """The /help command."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="How to use the image bot")
    async def help_command(self, interaction: discord.Interaction[Any]) -> None:
        locale = locale_of(interaction)
        embed = discord.Embed(
            title=t(locale, "Image bot"), description=help_text(locale), colour=COLOUR
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)
