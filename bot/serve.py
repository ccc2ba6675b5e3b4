"""`python -m bot`: the bot on the Discord gateway until SIGTERM, with the failures an owner
meets first (a refused token, Discord out of reach) said in one line each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

import aiohttp
import discord

from bot.app import point_at
from bot.runtime import open_runtime
from bot.scale.gateway import Cluster, open_bot
from bot.settings import LoadedSettings

UNREACHABLE = (
    "Could not reach Discord at {where}: {reason}. Check this machine's internet connection, "
    "its DNS and any firewall or proxy (the bot needs outbound HTTPS to discord.com and "
    "secure websockets to gateway.discord.gg)."
)


RETRIES = ("Attempting a reconnect", "Failed to connect for shard_id")
RETRYING_LOGGERS = ("discord.client", "discord.shard")


class _OneLineReconnects(logging.Filter):
    """discord.py logs every reconnect attempt with a full traceback; one line says enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith(RETRIES):
            error = record.exc_info[1]
            record.msg = f"{record.msg} (%s)"
            record.args = (*(record.args or ()), _reason(error))
            record.exc_info = None
            record.exc_text = None
        return True


def _connected(client: discord.Client) -> bool:
    """Whether the gateway was ever reached (discord.py types ``ws`` as always set)."""
    return getattr(client, "ws", None) is not None


def _reason(error: BaseException | None) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def serve(loaded: LoadedSettings) -> int:
    assert loaded.secrets.discord_token is not None
    cluster = Cluster.of(loaded.settings.scale, loaded.secrets.redis_url)
    point_at(loaded.settings.discord.api_base, loaded.settings.discord.gateway_url)
    # The bot never joins voice: PyNaCl and davey are not needed, and no warning should say so.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    reconnects = _OneLineReconnects()
    for name in RETRYING_LOGGERS:
        logging.getLogger(name).addFilter(reconnects)
    try:
        async with open_runtime(loaded) as runtime, open_bot(runtime, cluster) as client:
            running = asyncio.create_task(
                client.start(loaded.secrets.discord_token.get_secret_value())
            )
            closing: set[asyncio.Task[None]] = set()

            async def stop() -> None:
                await client.close()
                # A reconnect waiting out its backoff (up to minutes) would only notice the
                # close when it wakes: everything is closed by now, so end the wait.
                running.cancel()

            asyncio.get_running_loop().add_signal_handler(
                signal.SIGTERM, lambda: closing.add(asyncio.create_task(stop()))
            )
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            except discord.LoginFailure:
                print(
                    "Discord refused the token (DISCORD_TOKEN). Reset it in the developer "
                    "portal and set it again.",
                    file=sys.stderr,
                )
                return 2
            except discord.PrivilegedIntentsRequired:
                print("Discord refused the gateway intents the bot asked for.", file=sys.stderr)
                return 2
            except (TimeoutError, aiohttp.ClientError, OSError) as err:
                where = loaded.settings.discord.api_base or "discord.com"
                print(UNREACHABLE.format(where=where, reason=_reason(err)), file=sys.stderr)
                return 1
            except Exception as err:
                if _connected(client):
                    raise
                # The first gateway connection failed: discord.py then fails on its own retry
                # (it resumes a session that never was), so the cause is the one before.
                where = loaded.settings.discord.gateway_url or "gateway.discord.gg"
                cause = err.__context__ or err
                print(UNREACHABLE.format(where=where, reason=_reason(cause)), file=sys.stderr)
                return 1
    finally:
        for name in RETRYING_LOGGERS:
            logging.getLogger(name).removeFilter(reconnects)
    return 0
