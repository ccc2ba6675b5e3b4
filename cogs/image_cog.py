"""What the cogs that read members' images share: the model catalogue, the attachment reader,
and their message menus, which a cog registers itself (discord.py adds a cog's slash commands
on its own, not menus built in ``__init__``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from discord import app_commands
from discord.ext import commands

from cogs.attachments import AttachmentReader
from cogs.catalogue import Catalogue

if TYPE_CHECKING:
    from bot.app import ImageBot


class ImageCog(commands.Cog):
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self.catalogue = Catalogue(bot.runtime)
        settings = bot.runtime.settings
        self.attachments = AttachmentReader(
            settings.discord.attachment_origins, settings.limits.max_input_image_bytes
        )
        self.menus: list[app_commands.ContextMenu] = []  # filled by the cog

    def menu(self, name: str, callback: Any) -> app_commands.ContextMenu:
        """A message menu of this cog, registered with it."""
        made = app_commands.ContextMenu(name=name, callback=callback)
        self.menus.append(made)
        return made

    async def cog_load(self) -> None:
        self.catalogue.refresh()
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        await self.attachments.close()
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)
