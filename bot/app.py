"""The Discord side of start-up: the bot class, its extensions, the invite link."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import discord
import yarl
from discord.ext import commands

from bot.deliveries import ResultSink
from bot.errors import Refusal, in_words
from bot.i18n import discord_time, locale_of, t
from bot.i18n.commands import CommandTranslator
from bot.retention import Retention
from bot.runtime import JobRunner, Runtime
from engine import EngineError

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "cogs.results",
    "cogs.imagine",
    "cogs.prompt",
    "cogs.edit",
    "cogs.references",
    "cogs.member",
    "cogs.admin",
)
SEEN_INTERACTIONS = 10_000

INTENTS = discord.Intents.none()
INTENTS.guilds = True

PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)

SCOPES = ("bot", "applications.commands")

NO_TOKEN_HELP = """\
No Discord bot token is set, so the bot cannot start.

1. Create an application at https://discord.com/developers/applications, open "Bot" and press
   "Reset Token" to get the token. The bot needs no privileged gateway intents (only Guilds).
2. Pass the token in the environment, never in the config file:
       export DISCORD_TOKEN='paste-the-token-here'
   or put discord_token = "..." in a secrets file named by IMAGEBOT_SECRETS_FILE.
3. Start again: python -m bot. It prints the invite link, which asks for the scopes
   "bot applications.commands" and these permissions: View Channels, Send Messages,
   Send Messages in Threads, Embed Links, Attach Files, Read Message History.
"""


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


def point_at(api_base: str, gateway_url: str | None) -> None:
    """Send REST to ``api_base`` (a rate-limit proxy such as nirn-proxy, which the scaled
    mode's clusters share; a local fake) and the gateway to ``gateway_url`` when set.
    discord.py reads both as class attributes."""
    discord.http.Route.BASE = api_base
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class Replayed(discord.app_commands.CheckFailure):
    """An interaction id seen before: acted on once, never again."""


class Tree(discord.app_commands.CommandTree["ImageBot"]):
    """Acts on each interaction id once, and answers unexpected errors in one place."""

    def __init__(self, client: ImageBot, **options: Any) -> None:
        super().__init__(client, **options)
        self._seen: OrderedDict[int, None] = OrderedDict()

    def first_time(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.id in self._seen:
            log.warning("Interaction %d arrived again; ignored", interaction.id)
            return False
        self._seen[interaction.id] = None
        if len(self._seen) > SEEN_INTERACTIONS:
            self._seen.popitem(last=False)
        return True

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if not self.first_time(interaction):
            raise Replayed("already handled")
        return True

    async def on_error(
        self, interaction: discord.Interaction[Any], error: discord.app_commands.AppCommandError
    ) -> None:
        if isinstance(error, Replayed):
            return
        original = getattr(error, "original", error)
        locale = locale_of(interaction)
        if isinstance(original, Refusal | EngineError):
            await _tell(interaction, in_words(original, discord_time, locale))
            return
        if isinstance(error, discord.app_commands.CheckFailure):
            said = str(error)  # an N_ literal (cogs.admin.checks), or discord.py's own words
            await _tell(
                interaction,
                t(locale, said) if said else t(locale, "You can't use this command here."),
            )
            return
        command = interaction.command.qualified_name if interaction.command else "?"
        log.error("Command %s failed", command, exc_info=error)
        await _tell(
            interaction, t(locale, "Something went wrong on our side; nothing was charged.")
        )


async def _tell(interaction: discord.Interaction[Any], text: str) -> None:
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.info("Could not tell the member about an error", exc_info=True)


class ImageBot(commands.Bot):
    """The bot: its extensions, command tree and worker. ``options`` go to discord.py (the
    sharded variant in bot.scale.gateway passes its shards)."""

    def __init__(
        self, runtime: Runtime, extensions: Sequence[str] = EXTENSIONS, **options: Any
    ) -> None:
        settings = runtime.settings.discord
        if settings.application_id is not None:
            options["application_id"] = settings.application_id
        if settings.owner_ids:
            options["owner_ids"] = set(settings.owner_ids)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=INTENTS,
            allowed_mentions=discord.AllowedMentions.none(),  # a post names whom it may ping
            help_command=None,
            tree_cls=Tree,
            allowed_installs=discord.app_commands.AppInstallationType(guild=True, user=True),
            allowed_contexts=discord.app_commands.AppCommandContext(
                guild=True, dm_channel=True, private_channel=True
            ),
            **options,
        )
        self.runtime = runtime
        self._extensions = tuple(extensions)
        self.worker: JobRunner | None = None  # the embedded worker, or the cluster relay
        self.retention = Retention.of(runtime.db, runtime.settings.storage)
        self.sink: ResultSink | None = None  # set by the results extension

    @property
    def syncs_commands(self) -> bool:
        """Whether this process syncs the command tree: of a sharded bot's clusters only one
        does, or each would overwrite the others' sync."""
        return True

    def first_time(self, interaction: discord.Interaction[Any]) -> bool:
        """False for an interaction id this process has already acted on (a replay)."""
        tree = self.tree
        assert isinstance(tree, Tree)
        return tree.first_time(interaction)

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CommandTranslator())
        for extension in self._extensions:
            await self.load_extension(extension)
        settings = self.runtime.settings.discord
        if settings.sync_commands and self.syncs_commands:
            guild = discord.Object(settings.sync_guild_id) if settings.sync_guild_id else None
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d application command(s)", len(synced))
        elif settings.sync_commands:
            log.info("The cluster with shard 0 syncs the application commands")
        if self.sink is None:
            raise RuntimeError("No extension set a result sink; load cogs.results.")
        self.worker = self.runtime.runner(
            self.sink,
            origin="discord",
            progress_interval=self.runtime.settings.discord.progress_seconds,
        )
        await self.worker.start()
        self.retention.start()
        if self.application_id is not None:
            print(f"Invite the bot with: {invite_url(self.application_id)}", flush=True)

    async def close(self) -> None:
        await self.retention.stop()
        if self.worker is not None:
            await self.worker.stop()
        await super().close()
