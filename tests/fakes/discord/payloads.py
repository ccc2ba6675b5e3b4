"""The bot's identity, ids, timestamps, permission sets and small payload builders."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import discord
from aiohttp import web
from PIL import Image

from bot.app import PERMISSIONS

APPLICATION_ID = 4242
BOT_ID = 4243
BOT_USER: dict[str, Any] = {
    "id": str(BOT_ID),
    "username": "imagebot",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}
TOKEN = "fake-token"

DISCORD_EPOCH_MS = 1_420_070_400_000
CHANNEL_TYPES = {"text": 0, "dm": 1, "group": 3, "thread": 11}

# Message flags.
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
COMPONENTS_V2 = 1 << 15
SENDABLE_FLAGS = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | COMPONENTS_V2

INVITE_PERMISSIONS = PERMISSIONS  # what the bot's invite link grants
MEMBER_PERMISSIONS = discord.Permissions(
    create_instant_invite=True,
    add_reactions=True,
    stream=True,
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    external_emojis=True,
    connect=True,
    speak=True,
    use_voice_activation=True,
    change_nickname=True,
    use_application_commands=True,
    create_public_threads=True,
    create_private_threads=True,
    external_stickers=True,
    send_messages_in_threads=True,
    send_voice_messages=True,
)
# app_permissions where the bot user is absent, as Discord documents them: group DMs and
# servers that only the member installed the app into get the first set, the bot's own DMs
# also external emojis.
PRIVATE_PERMISSIONS = discord.Permissions(
    attach_files=True, embed_links=True, mention_everyone=True
)
DM_PERMISSIONS = discord.Permissions(
    PRIVATE_PERMISSIONS.value | discord.Permissions(external_emojis=True).value
)


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py reads JSON only when Content-Type is exactly application/json.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


class Snowflakes:
    """Ids shaped like Discord's, so discord.py's ``created_at`` reads the real time."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        self._last = max((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22, self._last + 1)
        return self._last


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(user_id: int, name: str) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": False,
        "public_flags": 0,
    }


def permissions_named(names: Iterable[str]) -> discord.Permissions:
    permissions = discord.Permissions.none()
    for name in names:
        if name not in discord.Permissions.VALID_FLAGS:
            raise ValueError(f"not a discord.Permissions attribute: {name!r}")
        setattr(permissions, name, True)
    return permissions


def image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError):
        return None
