"""The fake Discord itself: an aiohttp server on loopback with the REST API and a websocket
gateway (text frames only), the world it holds, and the members acting in it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import mimetypes
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import discord
from aiohttp import BodyPartReader, WSMsgType, web

from . import commands as schema
from . import layout
from .gateway import Session, Shards
from .model import Channel, FakeInteraction, FakeMessage, Guild, Member, Recorded, StoredFile
from .payloads import (
    APPLICATION_ID,
    BOT_ID,
    BOT_USER,
    COMPONENTS_V2,
    DM_PERMISSIONS,
    EPHEMERAL,
    INVITE_PERMISSIONS,
    LOADING,
    MEMBER_PERMISSIONS,
    PRIVATE_PERMISSIONS,
    SENDABLE_FLAGS,
    TOKEN,
    Snowflakes,
    image_size,
    now_iso,
    permissions_named,
    reply,
    user_payload,
)
from .rules import (
    FILE_UPLOAD,
    SELECTS,
    Refused,
    Upload,
    already_acknowledged,
    check_choices,
    check_commands,
    check_content_permissions,
    check_message,
    check_modal,
    check_not_empty,
    invalid,
    invalid_token,
    missing_access,
    missing_permissions,
    unknown_channel,
    unknown_interaction,
    unknown_message,
    unknown_webhook,
    walk,
)

API = "/api/v10"
JOINED = "2026-01-01T00:00:00+00:00"
FILE_FIELD = re.compile(r"files\[(\d+)\]")
# The callback types Discord accepts for each interaction type.
ANSWERS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}
COMMAND_KINDS = {1: "slash", 2: "user", 3: "message"}
# What a test submits for one modal input: text, select values, or attachments (dicts from
# ``FakeDiscord.add_attachment``) for a file upload.
ModalValue = str | Sequence[str] | Sequence[dict[str, Any]]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Body:
    json: Any
    uploads: list[Upload]

    @property
    def data(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}


BODY = web.RequestKey("body", Body)


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    times: int
    code: int | None


@dataclass
class Place:
    """Where an interaction happens, as its payload describes it."""

    channel: Channel
    user_id: int
    context: int  # 0 guild, 1 bot DM, 2 private channel
    owners: dict[str, str]
    permissions: discord.Permissions
    installed_by_user: bool


def _snowflake(text: str, refusal: Refused) -> int:
    if not text.isdigit():
        raise refusal
    return int(text)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _named(
    body: dict[str, Any], uploads: Sequence[Upload]
) -> list[tuple[Upload, str, dict[str, Any]]]:
    """Each upload with the name it gets (its ``attachments`` entry's, else its part's) and
    that entry."""
    entries = {
        str(entry.get("id")): entry
        for entry in body.get("attachments") or []
        if isinstance(entry, dict)
    }
    named = []
    for upload in uploads:
        entry = entries.get(str(upload.index), {}) if upload.index is not None else {}
        named.append((upload, str(entry.get("filename") or upload.filename), entry))
    return named


class FakeDiscord:
    """Discord on loopback for a real discord.py client. Channel posts to channels never
    added are accepted as bare text channels (the first tests rely on it) unless
    ``strict_channels``.

    The gateway is sharded as Discord's is (``shards``): ``shard_count`` shards, IDENTIFYs
    limited to one per bucket (``shard_id % max_concurrency``) per ``identify_window``
    seconds, each guild's events on its shard and DMs on shard 0. An IDENTIFY Discord would
    refuse is answered with INVALID_SESSION and recorded in ``shards.refused``."""

    def __init__(
        self,
        *,
        response_deadline: float = 3.0,
        token_lifetime: float = 15 * 60,
        upload_limit: int = 10 * 2**20,
        strict_channels: bool = False,
        shard_count: int = 1,
        max_concurrency: int = 1,
        identify_window: float = 5.0,
        session_starts: int = 1000,
    ) -> None:
        self.response_deadline = response_deadline
        self.token_lifetime = token_lifetime
        self.upload_limit = upload_limit
        self.strict_channels = strict_channels
        self.app = web.Application(client_max_size=256 * 2**20, middlewares=[self._middleware])
        self.app.add_routes(self._routes())
        self.runner: web.AppRunner | None = None
        self.base = ""
        self.synced: list[dict[str, Any]] = []
        # The application's "Installation" settings in the developer portal; None: not set.
        self.install_params: dict[str, Any] | None = None
        self.guild_synced: dict[int, list[dict[str, Any]]] = {}
        self.syncs = 0
        self.messages: list[FakeMessage] = []  # channel posts, in order
        self.message_posted = asyncio.Event()
        self.identified = asyncio.Event()
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self._ids = Snowflakes()
        self._offset = 0.0
        self._guilds: dict[int, Guild] = {}
        self._outside_members: dict[tuple[int, int], Member] = {}
        self._channels: dict[int, Channel] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._messages: dict[int, FakeMessage] = {}
        self._files: dict[int, StoredFile] = {}
        self._interactions: dict[int, FakeInteraction] = {}
        self._tokens: dict[str, FakeInteraction] = {}
        self._nonces: dict[str | int, int] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._faults: list[Fault] = []
        self._tick = asyncio.Event()
        self.shards = Shards(shard_count, max_concurrency, identify_window, session_starts)
        self._sockets: set[web.WebSocketResponse] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._deleted_channels: set[int] = set()

    def _routes(self) -> list[web.RouteDef]:
        webhook_message = f"{API}/webhooks/{{app}}/{{token}}/messages/{{message}}"
        channel_message = f"{API}/channels/{{channel}}/messages/{{message}}"
        return [
            web.get(f"{API}/users/@me", self._users_me),
            web.get(f"{API}/gateway/bot", self._bot_gateway),
            web.get(f"{API}/oauth2/applications/@me", self._application),
            web.put(f"{API}/applications/{{app}}/commands", self._sync),
            web.put(f"{API}/applications/{{app}}/guilds/{{guild}}/commands", self._sync),
            web.post(f"{API}/interactions/{{id}}/{{token}}/callback", self._callback),
            web.post(f"{API}/webhooks/{{app}}/{{token}}", self._followup),
            web.get(webhook_message, self._webhook_get),
            web.patch(webhook_message, self._webhook_edit),
            web.delete(webhook_message, self._webhook_delete),
            web.post(f"{API}/channels/{{channel}}/messages", self._post_message),
            web.get(f"{API}/channels/{{channel}}/messages", self._history),
            web.get(channel_message, self._get_message),
            web.patch(channel_message, self._edit_message),
            web.delete(channel_message, self._delete_message),
            web.get(f"{API}/channels/{{channel}}", self._get_channel),
            web.post(f"{API}/channels/{{channel}}/typing", self._typing),
            web.post(f"{API}/users/@me/channels", self._open_dm),
            web.get(f"{API}/users/{{user}}", self._get_user),
            web.route("*", f"{API}/{{tail:.*}}", self._unknown),
            web.get("/attachments/{id}/{filename}", self._attachment),
            web.get("/gateway", self._gateway),
        ]

    # Lifecycle

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"{self.base}{API}"

    @property
    def gateway_url(self) -> str:
        return f"{self.base.replace('http', 'ws', 1)}/gateway"

    # The world

    def add_guild(
        self, guild_id: int, *, name: str = "guild", owner_id: int = 1, locale: str = "en-US"
    ) -> None:
        guild = Guild(guild_id, name, owner_id, bot_role_id=self._ids(), locale=locale)
        guild.roles[guild_id] = self._role(guild_id, "@everyone", 0, position=0)
        guild.roles[guild.bot_role_id] = {
            **self._role(guild.bot_role_id, BOT_USER["username"], INVITE_PERMISSIONS.value),
            "managed": True,
            "tags": {"bot_id": str(BOT_ID)},
        }
        self._guilds[guild_id] = guild
        self._emit("GUILD_CREATE", self._guild_create(guild), guild_id=guild_id)

    def set_guild_locale(self, guild_id: int, locale: str) -> None:
        """The server's preferred locale, which later interactions there carry."""
        self._guilds[guild_id].locale = locale

    def add_role(
        self,
        guild_id: int,
        role_id: int,
        *,
        name: str = "role",
        permissions: int | discord.Permissions = 0,
    ) -> None:
        value = permissions.value if isinstance(permissions, discord.Permissions) else permissions
        role = self._role(role_id, name, value)
        self._guild(guild_id).roles[role_id] = role
        self._emit(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role}, guild_id=guild_id
        )

    def add_channel(
        self,
        channel_id: int,
        *,
        guild_id: int | None = None,
        name: str = "general",
        nsfw: bool = False,
        kind: str = "text",
        parent_id: int | None = None,
        bot_denied: Iterable[str] = (),
    ) -> None:
        """``bot_denied`` names discord.Permissions attributes the bot lacks in the channel.
        A thread also lacks what its parent denies; discord.py sees only the parent's."""
        if kind not in ("text", "thread", "dm", "group"):
            raise ValueError(f"kind must be text, thread, dm or group, not {kind!r}")
        if (guild_id is None) != (kind in ("dm", "group")):
            raise ValueError("text channels and threads need a guild_id; DMs and groups have none")
        if kind == "thread" and (parent_id is None or parent_id not in self._channels):
            raise ValueError("a thread needs the parent_id of a channel added before it")
        channel = Channel(
            channel_id, kind, guild_id, name, nsfw, parent_id, permissions_named(bot_denied)
        )
        self._channels[channel_id] = channel
        if guild_id in self._guilds:
            event = "THREAD_CREATE" if kind == "thread" else "CHANNEL_CREATE"
            self._emit(event, self._channel_payload(channel), guild_id=guild_id)

    def add_user(self, user_id: int, name: str = "member") -> None:
        self._users[user_id] = user_payload(user_id, name)

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        *,
        roles: Iterable[int] = (),
        permissions: int | discord.Permissions = MEMBER_PERMISSIONS,
    ) -> None:
        """``permissions`` is what interactions carry as the member's permissions. A role of
        the member's own holds them too, so discord.py's ``guild_permissions`` agrees."""
        guild = self._guild(guild_id)
        value = permissions.value if isinstance(permissions, discord.Permissions) else permissions
        self._ensure_user(user_id)
        own = self._ids()
        name = f"{self._users[user_id]['username']}'s permissions"
        guild.roles[own] = self._role(own, name, value)
        role = guild.roles[own]
        self._emit(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role}, guild_id=guild_id
        )
        guild.members[user_id] = Member(user_id, [*roles, own], value)

    def add_outside_member(
        self, guild_id: int, user_id: int, *, permissions: discord.Permissions
    ) -> None:
        """A member of a server the bot is not in, with the permissions interactions through
        their own install of the app carry there (its owner has them all)."""
        if guild_id in self._guilds:
            raise AssertionError(f"the bot is in guild {guild_id}: use add_member")
        self._ensure_user(user_id)
        self._outside_members[(guild_id, user_id)] = Member(user_id, [], permissions.value)

    async def disconnect(self, code: int = 4000, *, shard: int = 0) -> None:
        """Drop the bot's gateway connection (of ``shard``), as Discord does now and then; a
        bot that reconnects gets an invalid session (op 9) for its RESUME and identifies
        again."""
        session = self.shards.sessions.get(shard)
        assert session is not None, f"no bot is connected on shard {shard}"
        self.identified.clear()
        await session.ws.close(code=code, message=b"Unknown error.")

    def delete_channel(self, channel_id: int) -> None:
        """A moderator deletes the channel: REST calls to it answer 10003 Unknown Channel."""
        self._deleted_channels.add(channel_id)

    def dm_channel_of(self, user_id: int) -> int:
        self._ensure_user(user_id)
        for channel in self._channels.values():
            if channel.kind == "dm" and channel.recipient_id == user_id:
                return channel.id
        channel = Channel(self._ids(), "dm", name="", recipient_id=user_id)
        self._channels[channel.id] = channel
        return channel.id

    def add_attachment(
        self, data: bytes, filename: str = "image.png", content_type: str = "image/png"
    ) -> dict[str, Any]:
        """An attachment a member uploads with a command option; its url is served here."""
        return self._store_file(data, filename, content_type=content_type, ephemeral=True).payload()

    def user_message(
        self,
        channel_id: int,
        user_id: int,
        content: str = "",
        *,
        files: Mapping[str, bytes] | None = None,
    ) -> FakeMessage:
        """A message a member posted (no gateway event: the bot has no message intent), for
        message commands to target."""
        self._ensure_user(user_id)
        message = FakeMessage(
            self._ids(), channel_id, self._users[user_id], "user", content=content
        )
        message.attachments = [self._store_file(data, name) for name, data in (files or {}).items()]
        self._messages[message.id] = message
        return message

    def bot_permissions(self, channel: Channel | int) -> discord.Permissions:
        """The bot's permissions in a channel, as Discord computes them for app_permissions
        and as discord.py computes ``channel.permissions_for(guild.me)``."""
        if isinstance(channel, int):
            channel = self._channels[channel]
        if channel.kind == "dm":
            return discord.Permissions(DM_PERMISSIONS.value)
        if channel.kind == "group":
            return discord.Permissions(PRIVATE_PERMISSIONS.value)
        if channel.guild_id is None:
            return discord.Permissions(INVITE_PERMISSIONS.value)
        denied = channel.denied.value
        parent = self._channels.get(channel.parent_id or 0)
        if parent is not None:
            denied |= parent.denied.value
        if channel.guild_id not in self._guilds:
            return discord.Permissions(PRIVATE_PERMISSIONS.value & ~denied)
        permissions = discord.Permissions(INVITE_PERMISSIONS.value & ~denied)
        thread = channel.kind == "thread"
        if not (permissions.send_messages_in_threads if thread else permissions.send_messages):
            permissions.send_tts_messages = permissions.mention_everyone = False
            permissions.embed_links = permissions.attach_files = False
        if not permissions.view_channel:
            permissions.value &= ~discord.Permissions.all_channel().value
        return permissions

    @property
    def guild_ids(self) -> list[int]:
        return list(self._guilds)

    # Reading what happened

    def message(self, message_id: int) -> FakeMessage:
        try:
            return self._messages[message_id]
        except KeyError:
            raise KeyError(f"the fake holds no message {message_id}") from None

    def channel_messages(
        self, channel_id: int, *, include_ephemeral: bool = True
    ) -> list[FakeMessage]:
        return [
            message
            for message in self._messages.values()
            if message.channel_id == channel_id
            and not message.deleted
            and (include_ephemeral or not message.ephemeral)
        ]

    def interaction(self, interaction_id: int) -> FakeInteraction:
        return self._interactions[interaction_id]

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10,  # noqa: ASYNC109
    ) -> None:
        """Re-checks ``predicate`` after every request the fake answers and every event it
        sends, and every 20 ms for state that changes in the bot alone."""
        deadline = time.monotonic() + timeout
        while True:
            tick = self._tick
            if predicate():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"not true within {timeout}s; latest violations: {self.violations[-3:]}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tick.wait(), min(left, 0.02))

    def _notify(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    # Faults and time

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int = 429,
        retry_after: float = 0.05,
        times: int = 1,
        code: int | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path (after /api/v10) ``path_pattern``
        searches with ``status``. "*" matches any method."""
        fault = Fault(method.upper(), re.compile(path_pattern), status, retry_after, times, code)
        self._faults.append(fault)

    def clock(self) -> float:
        """The virtual clock that token lifetimes are measured on."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds
        self._notify()

    def expire(self, interaction: FakeInteraction) -> None:
        interaction.issued_at = self.clock() - self.token_lifetime - 1
        self._notify()

    # Members acting

    async def invoke(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: int,
        channel: int,
        attachments: Mapping[str, dict[str, Any]] | None = None,
        installed_by_user: bool = False,
        locale: str = "en-US",
        forged: bool = False,
    ) -> FakeInteraction:
        """A slash command; ``command`` may name a subcommand path ("admin quota set").
        Attachment options take dicts from ``add_attachment``, in ``options`` or
        ``attachments``. ``forged`` sends it even where no client offers the command (its
        contexts or installs leave this place out), as a hand-made request would."""
        given = dict(options or {})
        for name, attachment in (attachments or {}).items():
            if name in given:
                raise AssertionError(f"option {name!r} given twice")
            given[name] = attachment
        place = self._place(channel, user, installed_by_user)
        root, guild_id, chain, options_schema = self._command(command, 1, place, forged=forged)
        built, resolved = schema.build(
            command,
            options_schema,
            given,
            lambda option, value: self._resolve(option, value, place),
        )
        data = self._command_data(root, guild_id, schema.nest(chain, built), resolved)
        return await self._dispatch(self._interaction(2, data, place, user, locale))

    async def autocomplete(
        self,
        command: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        user: int,
        channel: int,
        installed_by_user: bool = False,
        locale: str = "en-US",
        timeout: float = 5,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Types into ``focused`` and returns the choices the bot answers with."""
        place = self._place(channel, user, installed_by_user)
        root, guild_id, chain, options_schema = self._command(command, 1, place)
        built, resolved = schema.build(
            command,
            options_schema,
            dict(options),
            lambda option, value: self._resolve(option, value, place),
            focused=focused,
        )
        data = self._command_data(root, guild_id, schema.nest(chain, built), resolved)
        interaction = await self._dispatch(self._interaction(4, data, place, user, locale))
        answer = await interaction.response(timeout)
        if answer.get("type") != 8:
            raise AssertionError(f"autocomplete was answered with type {answer.get('type')}")
        return list((answer.get("data") or {}).get("choices") or [])

    async def message_command(
        self,
        name: str,
        message_id: int,
        *,
        user: int,
        channel: int,
        installed_by_user: bool = False,
        locale: str = "en-US",
    ) -> FakeInteraction:
        message = self._live(message_id)
        if message.ephemeral or message.channel_id != channel:
            raise AssertionError(
                f"message {message_id} is ephemeral or not in channel {channel}: no client "
                "offers message commands on it there"
            )
        place = self._place(channel, user, installed_by_user)
        root, guild_id, _, _ = self._command(name, 3, place)
        resolved = {"messages": {str(message_id): message.payload()}}
        data = self._command_data(root, guild_id, None, resolved, target_id=str(message_id))
        return await self._dispatch(self._interaction(2, data, place, user, locale))

    async def user_command(
        self,
        name: str,
        target: int,
        *,
        user: int,
        channel: int,
        installed_by_user: bool = False,
        locale: str = "en-US",
    ) -> FakeInteraction:
        place = self._place(channel, user, installed_by_user)
        root, guild_id, _, _ = self._command(name, 2, place)
        _, entries = self._resolve({"type": schema.USER}, target, place)
        resolved: dict[str, dict[str, Any]] = {}
        for section, key, payload in entries:
            resolved.setdefault(section, {})[str(key)] = payload
        data = self._command_data(root, guild_id, None, resolved, target_id=str(target))
        return await self._dispatch(self._interaction(2, data, place, user, locale))

    async def click(
        self, message_id: int, custom_id: str, *, user: int, locale: str = "en-US"
    ) -> FakeInteraction:
        message, component = self._component(message_id, custom_id, user)
        if component.get("type") != 2:
            raise AssertionError(f"{custom_id!r} on message {message_id} is not a button")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._component_interaction(message, data, user, locale)

    async def select(
        self,
        message_id: int,
        custom_id: str,
        values: Sequence[str],
        *,
        user: int,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Picks ``values`` in a string select menu."""
        message, component = self._component(message_id, custom_id, user)
        if component.get("type") != 3:
            raise AssertionError(f"{custom_id!r} is not a string select (the fake has no other)")
        offered = [option["value"] for option in component.get("options") or []]
        low, high = component.get("min_values", 1), component.get("max_values", 1)
        if not set(values) <= set(offered) or not low <= len(values) <= high:
            raise AssertionError(f"{list(values)} is not {low}..{high} of {offered}")
        data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        return await self._component_interaction(message, data, user, locale)

    async def submit_modal(
        self,
        interaction: FakeInteraction,
        values: Mapping[str, ModalValue],
        *,
        user: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Submits the modal ``interaction`` was answered with, echoing its structure (action
        rows of text inputs, labels wrapping one component) as Discord does. A file upload
        takes a list of dicts from ``add_attachment``: its submitted component carries their
        ids and the interaction's ``data.resolved.attachments`` the attachments."""
        modal = interaction.modal
        if modal is None:
            raise AssertionError(f"{interaction!r} was not answered with a modal")
        if interaction.modal_submitted:
            raise AssertionError("that modal was already submitted and closed")
        known = {c["custom_id"] for c in walk(modal["components"]) if "custom_id" in c}
        unknown = sorted(set(values) - known)
        if unknown:
            raise AssertionError(f"the modal has no input {unknown}; it has {sorted(known)}")
        uploads: dict[str, dict[str, Any]] = {}
        components = [
            self._submitted(component, values, uploads) for component in modal["components"]
        ]
        interaction.modal_submitted = True
        user = interaction.user_id if user is None else user
        message = self._messages.get(interaction.message_id or 0)
        if message is not None and message.deleted:
            message = None
        place = self._place(interaction.channel_id, user, interaction.installed_by_user)
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
        if uploads:
            data["resolved"] = {"attachments": uploads}
        submit = self._interaction(
            5, data, place, user, locale, message=message, opener=interaction
        )
        return await self._dispatch(submit)

    # Building interactions

    def _place(self, channel_id: int, user_id: int, installed_by_user: bool) -> Place:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise AssertionError(f"channel {channel_id} was never added (fake.add_channel)")
        self._ensure_user(user_id)
        if channel.kind == "dm":
            if channel.recipient_id is None:
                channel.recipient_id = user_id
            if channel.recipient_id != user_id:
                raise AssertionError(f"DM {channel_id} belongs to user {channel.recipient_id}")
            permissions = discord.Permissions(DM_PERMISSIONS.value)
            return Place(channel, user_id, 1, {"1": str(user_id)}, permissions, installed_by_user)
        if channel.kind == "group":
            if not installed_by_user:
                raise AssertionError("only a user-installed app runs in a group DM")
            permissions = discord.Permissions(PRIVATE_PERMISSIONS.value)
            return Place(channel, user_id, 2, {"1": str(user_id)}, permissions, True)
        if channel.guild_id is None:
            raise AssertionError(f"channel {channel_id} has no guild: add it with add_channel")
        if channel.guild_id not in self._guilds and not installed_by_user:
            raise AssertionError(
                f"the bot is not in guild {channel.guild_id}: only a user-installed app "
                "(installed_by_user=True) answers there"
            )
        owners = {"1": str(user_id)} if installed_by_user else {"0": str(channel.guild_id)}
        permissions = self.bot_permissions(channel)
        return Place(channel, user_id, 0, owners, permissions, installed_by_user)

    def _command(
        self, path: str, kind: int, place: Place, *, forged: bool = False
    ) -> tuple[dict[str, Any], int | None, list[dict[str, Any]], list[dict[str, Any]]]:
        scopes: list[tuple[list[dict[str, Any]], int | None]] = []
        guild_id = place.channel.guild_id
        if place.context == 0 and guild_id in self._guilds and guild_id is not None:
            scopes.append((self.guild_synced.get(guild_id, []), guild_id))
        scopes.append((self.synced, None))
        for commands, scope in scopes:
            found = schema.find(commands, path, kind)
            if found is not None:
                root, chain, options = found
                if not forged:
                    self._check_available(root, scope, place, path)
                return root, scope, chain, options
        names = sorted({c["name"] for commands, _ in scopes for c in commands})
        raise AssertionError(
            f"no {COMMAND_KINDS[kind]} command {path.partition(' ')[0]!r} is synced where channel "
            f"{place.channel.id} is (synced: {names}); did the bot sync its tree?"
        )

    def _check_available(
        self, root: dict[str, Any], scope: int | None, place: Place, path: str
    ) -> None:
        where = f"/{path} in channel {place.channel.id} (context {place.context})"
        if scope is None:
            contexts = root.get("contexts")
            if contexts is not None and place.context not in contexts:
                raise AssertionError(f"{where}: the command allows only contexts {contexts}")
            if contexts is None and root.get("dm_permission") is False and place.context:
                raise AssertionError(f"{where}: the command is guild-only")
            installs = root.get("integration_types")
            # In the bot's DMs either install will do, unless the user's is asked for.
            usable = {1} if place.installed_by_user else {0, 1} if place.context == 1 else {0}
            if installs is not None and not usable & set(installs):
                raise AssertionError(f"{where}: the command allows only installs {installs}")
        if root.get("nsfw") and place.channel.in_guild and not self._nsfw(place.channel):
            raise AssertionError(f"{where}: age-restricted command outside an NSFW channel")

    def _command_data(
        self,
        root: dict[str, Any],
        guild_id: int | None,
        options: list[dict[str, Any]] | None,
        resolved: dict[str, dict[str, Any]],
        **extra: Any,
    ) -> dict[str, Any]:
        kind = root.get("type", 1)
        data: dict[str, Any] = {
            "id": str(self._command_id(guild_id, kind, root["name"])),
            "name": root["name"],
            "type": kind,
            **extra,
        }
        if options is not None:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return data

    def _resolve(
        self, option: dict[str, Any], value: Any, place: Place
    ) -> tuple[int, list[tuple[str, int, dict[str, Any]]]]:
        kind = option["type"]
        if kind == schema.ATTACHMENT:
            if not (isinstance(value, dict) and {"id", "filename", "url"} <= set(value)):
                raise AssertionError(f"{option['name']}: pass the dict from fake.add_attachment")
            return int(value["id"]), [("attachments", int(value["id"]), value)]
        ident = int(getattr(value, "id", value))
        guild = self._guilds.get(place.channel.guild_id or 0) if place.context == 0 else None
        if kind == schema.USER or (kind == schema.MENTIONABLE and ident in self._users):
            self._ensure_user(ident)
            entries = [("users", ident, self._users[ident])]
            if guild is not None and ident in guild.members:
                entries.append(("members", ident, self._member_payload(guild.members[ident])))
            return ident, entries
        if kind == schema.CHANNEL:
            channel = self._channels.get(ident)
            if channel is None:
                raise AssertionError(f"{option['name']}: channel {ident} was never added")
            allowed = option.get("channel_types")
            if allowed and channel.type not in allowed:
                raise AssertionError(
                    f"{option['name']}: channel type {channel.type} not in {allowed}"
                )
            member = self._member(channel.guild_id, place.user_id) if channel.in_guild else None
            return ident, [("channels", ident, self._channel_payload(channel, member))]
        role = guild.roles.get(ident) if guild is not None else None
        if role is None:
            raise AssertionError(f"{option['name']}: no role or user {ident} in this guild")
        return ident, [("roles", ident, role)]

    def _interaction(
        self,
        kind: int,
        data: dict[str, Any],
        place: Place,
        user_id: int,
        locale: str,
        *,
        message: FakeMessage | None = None,
        opener: FakeInteraction | None = None,
    ) -> FakeInteraction:
        channel = place.channel
        member = self._member(channel.guild_id, user_id) if channel.in_guild else None
        payload: dict[str, Any] = {
            "id": str(self._ids()),
            "application_id": str(APPLICATION_ID),
            "type": kind,
            "data": data,
            "token": secrets.token_urlsafe(32),
            "version": 1,
            "channel": self._channel_payload(channel, member),
            "channel_id": str(channel.id),
            "app_permissions": str(place.permissions.value),
            "locale": locale,
            "entitlements": [],
            "authorizing_integration_owners": place.owners,
            "context": place.context,
            "attachment_size_limit": self.upload_limit,
        }
        if member is not None:
            payload["guild_id"] = str(channel.guild_id)
            known = self._guilds.get(channel.guild_id)
            guild_locale = known.locale if known is not None else "en-US"
            payload["guild"] = {"id": str(channel.guild_id), "locale": guild_locale, "features": []}
            payload["guild_locale"] = guild_locale
            payload["member"] = {**self._member_payload(member), "user": self._users[user_id]}
        else:
            payload["user"] = self._users[user_id]
        if message is not None:
            payload["message"] = message.payload()
        interaction = FakeInteraction(
            self,
            payload,
            user_id=user_id,
            channel_id=channel.id,
            installed_by_user=place.installed_by_user,
            message_id=None if message is None else message.id,
            opener=opener,
        )
        self._interactions[interaction.id] = interaction
        self._tokens[interaction.token] = interaction
        return interaction

    async def replay(self, interaction: FakeInteraction) -> None:
        """Send the same INTERACTION_CREATE again, as a replaying attacker or a confused
        gateway would: a bot should act on an interaction id once."""
        sent = self._emit_interaction(interaction)
        assert sent is not None
        await sent
        self._notify()

    async def _dispatch(self, interaction: FakeInteraction) -> FakeInteraction:
        interaction.dispatched_at = time.monotonic()
        sent = self._emit_interaction(interaction)
        assert sent is not None
        await sent
        self._notify()
        return interaction

    def _component(
        self, message_id: int, custom_id: str, user: int
    ) -> tuple[FakeMessage, dict[str, Any]]:
        message = self._live(message_id)
        if message.ephemeral and message.interaction_id is not None:
            owner = self._interactions[message.interaction_id].user_id
            if owner != user:
                raise AssertionError(f"message {message_id} is ephemeral: only {owner} sees it")
        components = list(walk(message.components))
        found = next((c for c in components if c.get("custom_id") == custom_id), None)
        if found is None:
            ids = [c["custom_id"] for c in components if "custom_id" in c]
            raise AssertionError(f"message {message_id} has no {custom_id!r}; it has {ids}")
        if found.get("disabled"):
            raise AssertionError(f"{custom_id!r} on message {message_id} is disabled")
        return message, found

    async def _component_interaction(
        self, message: FakeMessage, data: dict[str, Any], user: int, locale: str
    ) -> FakeInteraction:
        origin = self._interactions.get(message.interaction_id or 0)
        by_user = origin.installed_by_user if origin is not None else False
        place = self._place(message.channel_id, user, by_user)
        return await self._dispatch(
            self._interaction(3, data, place, user, locale, message=message)
        )

    def _submitted(
        self,
        component: dict[str, Any],
        values: Mapping[str, ModalValue],
        uploads: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        kind = component.get("type")
        echo: dict[str, Any] = {"type": kind}
        if "id" in component:
            echo["id"] = component["id"]
        if kind == 1:
            echo["components"] = [
                self._submitted(c, values, uploads) for c in component["components"]
            ]
        elif kind == 18:
            echo["component"] = self._submitted(component["component"], values, uploads)
        elif kind == FILE_UPLOAD:
            echo |= self._uploaded_files(component, values.get(component["custom_id"], []), uploads)
        elif kind == 10:
            echo["content"] = component.get("content", "")
        elif kind == 4:
            custom_id = component["custom_id"]
            value = values.get(custom_id, component.get("value") or "")
            if not isinstance(value, str):
                raise AssertionError(f"text input {custom_id!r} takes a str")
            low, high = component.get("min_length"), component.get("max_length")
            if not value and component.get("required", True):
                raise AssertionError(f"text input {custom_id!r} is required")
            if value and ((low is not None and len(value) < low) or (high and len(value) > high)):
                raise AssertionError(f"text input {custom_id!r} takes {low}..{high} characters")
            echo |= {"custom_id": custom_id, "value": value}
        elif kind in SELECTS:
            picked = values.get(component["custom_id"], [])
            echo |= {
                "custom_id": component["custom_id"],
                "values": [picked] if isinstance(picked, str) else list(picked),
            }
        elif "custom_id" in component:
            echo["custom_id"] = component["custom_id"]
        return echo

    @staticmethod
    def _uploaded_files(
        component: dict[str, Any], given: ModalValue, uploads: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        custom_id = component["custom_id"]
        if isinstance(given, str) or not all(isinstance(file, dict) for file in given):
            raise AssertionError(f"file upload {custom_id!r} takes dicts from fake.add_attachment")
        files = [file for file in given if isinstance(file, dict)]
        low = component.get("min_values") or 0
        high = component.get("max_values") or 1
        if not files and component.get("required", True):
            raise AssertionError(f"file upload {custom_id!r} is required")
        if files and not low <= len(files) <= high:
            raise AssertionError(f"file upload {custom_id!r} takes {low}..{high} files")
        for file in files:
            uploads[str(file["id"])] = dict(file)
        return {"custom_id": custom_id, "values": [str(file["id"]) for file in files]}

    # Payloads

    def _ensure_user(self, user_id: int) -> None:
        if user_id not in self._users:
            self.add_user(user_id, f"user{user_id}")

    def _guild(self, guild_id: int) -> Guild:
        guild = self._guilds.get(guild_id)
        if guild is None:
            raise ValueError(f"guild {guild_id} was never added (fake.add_guild)")
        return guild

    def _member(self, guild_id: int | None, user_id: int) -> Member:
        guild = self._guilds.get(guild_id or 0)
        member = guild.members.get(user_id) if guild is not None else None
        outside = self._outside_members.get((guild_id or 0, user_id))
        return member or outside or Member(user_id, [], MEMBER_PERMISSIONS.value)

    def _member_payload(self, member: Member) -> dict[str, Any]:
        return {
            "roles": [str(role) for role in member.roles],
            "permissions": str(member.permissions),
            "joined_at": JOINED,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "communication_disabled_until": None,
        }

    @staticmethod
    def _role(role_id: int, name: str, permissions: int, position: int = 1) -> dict[str, Any]:
        return {
            "id": str(role_id),
            "name": name,
            "permissions": str(permissions),
            "position": position,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }

    def _nsfw(self, channel: Channel) -> bool:
        parent = self._channels.get(channel.parent_id or 0)
        return channel.nsfw or (parent is not None and parent.nsfw)

    def _channel_payload(
        self, channel: Channel, member: Member | None = None, *, rest: bool = False
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "name": channel.name,
            "nsfw": self._nsfw(channel),
            "flags": 0,
            "last_message_id": None,
        }
        if channel.guild_id is not None:
            data |= {
                "guild_id": str(channel.guild_id),
                "position": 0,
                "rate_limit_per_user": 0,
                "topic": None,
            }
        if channel.kind == "text":
            denied = channel.denied.value
            data["permission_overwrites"] = (
                [{"id": str(BOT_ID), "type": 1, "allow": "0", "deny": str(denied)}]
                if denied
                else []
            )
        if channel.kind == "thread":
            guild = self._guilds.get(channel.guild_id or 0)
            data |= {
                "parent_id": str(channel.parent_id),
                "owner_id": str(guild.owner_id if guild else 1),
                "message_count": 0,
                "member_count": 1,
                "total_message_sent": 0,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": JOINED,
                    "locked": False,
                },
            }
        if rest and channel.kind == "dm" and channel.recipient_id is not None:
            data["recipients"] = [self._users[channel.recipient_id]]
        if channel.kind == "group":
            data |= {"recipients": [], "owner_id": "1", "icon": None}
        if member is not None:
            data["permissions"] = str(member.permissions)
        return data

    def _guild_create(self, guild: Guild) -> dict[str, Any]:
        channels = [c for c in self._channels.values() if c.guild_id == guild.id]
        bot_member = {
            "user": BOT_USER,
            "roles": [str(guild.bot_role_id)],
            "joined_at": JOINED,
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        return {
            "id": str(guild.id),
            "name": guild.name,
            "owner_id": str(guild.owner_id),
            "unavailable": False,
            "large": False,
            "member_count": len(guild.members) + 1,
            "joined_at": JOINED,
            "icon": None,
            "features": [],
            "preferred_locale": guild.locale,
            "premium_tier": 0,
            "mfa_level": 0,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
            "afk_timeout": 300,
            "roles": list(guild.roles.values()),
            "channels": [self._channel_payload(c) for c in channels if c.kind == "text"],
            "threads": [self._channel_payload(c) for c in channels if c.kind == "thread"],
            "members": [bot_member],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _command_id(self, guild_id: int | None, kind: int, name: str) -> int:
        return self._command_ids.setdefault((guild_id, kind, name), self._ids())

    def _metadata(self, interaction: FakeInteraction, *, followup: bool) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": self._users[interaction.user_id],
            "authorizing_integration_owners": interaction.payload["authorizing_integration_owners"],
        }
        if interaction.type == 2:
            metadata["name"] = interaction.payload["data"]["name"]
        if interaction.type == 3 and interaction.message_id is not None:
            metadata["interacted_message_id"] = str(interaction.message_id)
        if interaction.opener is not None:
            metadata["triggering_interaction_metadata"] = self._metadata(
                interaction.opener, followup=False
            )
        if followup and interaction.original_id is not None:
            metadata["original_response_message_id"] = str(interaction.original_id)
        return metadata

    # Messages

    def _store_file(
        self,
        data: bytes,
        filename: str,
        *,
        content_type: str | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> StoredFile:
        ident = self._ids()
        stored = StoredFile(
            ident,
            filename,
            data,
            f"{self.base}/attachments/{ident}/{quote(filename)}",
            content_type or mimetypes.guess_type(filename)[0],
            image_size(data),
            description,
            ephemeral,
        )
        self._files[ident] = stored
        return stored

    def _uploaded(self, body: dict[str, Any], uploads: list[Upload]) -> list[StoredFile]:
        return [
            self._store_file(upload.data, name, description=entry.get("description"))
            for upload, name, entry in _named(body, uploads)
        ]

    def _live(self, message_id: int) -> FakeMessage:
        message = self._messages.get(message_id)
        if message is None or message.deleted:
            raise AssertionError(f"message {message_id} does not exist or was deleted")
        return message

    def _create(
        self,
        channel_id: int,
        body: dict[str, Any],
        uploads: list[Upload],
        *,
        via: str,
        interaction: FakeInteraction | None = None,
        followup: bool = False,
        loading: bool = False,
    ) -> FakeMessage:
        flags = int(body.get("flags") or 0) & SENDABLE_FLAGS
        if interaction is None:
            flags &= ~EPHEMERAL
        if loading:
            flags |= LOADING
        kind = 0
        if interaction is not None and interaction.type == 2 and not followup:
            kind = 20 if interaction.payload["data"].get("type", 1) == 1 else 23
        message = FakeMessage(
            self._ids(),
            channel_id,
            dict(BOT_USER),
            via,
            content=str(body.get("content") or ""),
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            flags=flags,
            nonce=body.get("nonce"),
            interaction_id=None if interaction is None else interaction.id,
            type=kind,
            metadata=None
            if interaction is None
            else self._metadata(interaction, followup=followup),
            reference=body.get("message_reference"),
            allowed_mentions=body.get("allowed_mentions"),
        )
        message.attachments = self._uploaded(body, uploads)
        if flags & COMPONENTS_V2:
            message.components = layout.resolve(message.components, message.attachments)
        self._messages[message.id] = message
        return message

    def _check_new(
        self,
        body: dict[str, Any],
        uploads: list[Upload],
        permissions: discord.Permissions,
        where: str,
    ) -> None:
        flags = int(body.get("flags") or 0)
        check_message(body, uploads, upload_limit=self.upload_limit, flags=flags)
        if flags & COMPONENTS_V2:
            names = [name for _, name, _ in _named(body, uploads)]
            layout.check_layout(body.get("components") or [], names)
        check_not_empty(
            body.get("content"),
            body.get("embeds"),
            body.get("components"),
            uploads,
            body.get("sticker_ids"),
            body.get("poll"),
        )
        check_content_permissions(permissions, body, uploads, where)

    def _edit(
        self,
        message: FakeMessage,
        body: dict[str, Any],
        uploads: list[Upload],
        permissions: discord.Permissions,
        where: str,
    ) -> None:
        kept = self._kept(message, body, uploads)
        flags = message.flags & ~LOADING
        if body.get("flags") is not None:
            # Ephemerality is fixed when a message is made.
            flags = (message.flags & EPHEMERAL) | (int(body["flags"]) & SENDABLE_FLAGS & ~EPHEMERAL)
        if message.flags & COMPONENTS_V2 and not flags & COMPONENTS_V2:
            raise invalid("flags", "The IS_COMPONENTS_V2 flag cannot be removed from a message.")
        check_message(body, uploads, upload_limit=self.upload_limit, flags=flags, kept=len(kept))
        check_content_permissions(permissions, body, uploads, where)
        content = str(body.get("content") or "") if "content" in body else message.content
        embeds = list(body.get("embeds") or []) if "embeds" in body else message.embeds
        components = (
            list(body.get("components") or []) if "components" in body else message.components
        )
        if flags & COMPONENTS_V2:
            if content or embeds:  # an edit into a layout clears what the message had
                raise invalid(
                    "content", "A components v2 message cannot have content or embeds: clear them."
                )
            names = [stored.filename for stored in kept]
            names += [name for _, name, _ in _named(body, uploads)]
            if "components" in body:
                layout.check_layout(components, names)
        check_not_empty(content, embeds, components, kept, uploads)
        if message.loading:  # the edit that fills a deferred answer posts it: it notifies
            message.allowed_mentions = body.get("allowed_mentions")
        message.content, message.embeds, message.components = content, embeds, components
        message.flags = flags
        message.attachments = kept + self._uploaded(body, uploads)
        if flags & COMPONENTS_V2 and "components" in body:
            message.components = layout.resolve(components, message.attachments)
        message.edited_timestamp = now_iso()
        message.edits.append(body)
        message.edit_times.append(time.monotonic())
        message.file_history += [stored.filename for stored in message.attachments]

    def _kept(
        self, message: FakeMessage, body: dict[str, Any], uploads: list[Upload]
    ) -> list[StoredFile]:
        """The current attachments an edit keeps: all of them unless it lists which (the
        list also names the new uploads, by their index)."""
        if body.get("attachments") is None:
            return list(message.attachments)
        current = {str(stored.id): stored for stored in message.attachments}
        indices = {str(upload.index) for upload in uploads}
        kept = []
        for i, entry in enumerate(body["attachments"]):
            key = str(entry.get("id"))
            if key in current:
                kept.append(current[key])
            elif key not in indices:
                raise invalid(
                    f"attachments.{i}.id", f"{key} is not an attachment of message {message.id}"
                )
        return kept

    # HTTP plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        path = request.path.removeprefix(API)
        record = Recorded(request.method, path, dict(request.query), None, {})
        self.requests.append(record)
        response: web.StreamResponse
        try:
            body = await self._read(request)
            record.json = body.json
            record.files = {upload.filename: len(upload.data) for upload in body.uploads}
            request[BODY] = body
            fault = self._take_fault(request.method, path)
            if fault is None:
                response = await handler(request)
            else:
                response = self._fault_response(fault)
                record.code = fault.code
        except Refused as refused:
            self.violations.append(f"{request.method} {path}: {refused}")
            record.code = refused.code
            response = refused.response()
        record.status = response.status
        self._notify()
        return response

    async def _read(self, request: web.Request) -> Body:
        if not request.body_exists:
            return Body(None, [])
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            uploads: list[Upload] = []
            async for part in await request.multipart():
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                    continue
                match = FILE_FIELD.fullmatch(part.name or "")
                uploads.append(
                    Upload(
                        part.name or "",
                        part.filename or part.name or "file",
                        bytes(await part.read()),
                        int(match[1]) if match else None,
                    )
                )
            return Body(payload, uploads)
        raw = await request.read()
        if not raw:
            return Body(None, [])
        try:
            return Body(json.loads(raw), [])
        except ValueError:
            raise Refused(400, 50109, "The request body contains invalid JSON.") from None

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.method in (method, "*") and fault.pattern.search(path):
                fault.times -= 1
                return fault
        return None

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        if fault.status != 429:
            message = f"{fault.status}: injected by the test"
            return reply({"message": message, "code": fault.code or 0}, fault.status)
        body: dict[str, Any] = {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": False,
        }
        if fault.code is not None:
            body["code"] = fault.code
        # discord.py retries a 429 only when it came through a proxy (Via) with a JSON body.
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, math.ceil(fault.retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
            "X-RateLimit-Bucket": "fake-bucket",
            "X-RateLimit-Scope": "user",
        }
        return reply(body, 429, headers)

    @staticmethod
    def _body(request: web.Request) -> Body:
        return request[BODY]

    @staticmethod
    def _bot_auth(request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {TOKEN}":
            raise Refused(401, 0, "401: Unauthorized", detail="bot routes need the bot token")

    # REST: the bot and its commands

    async def _users_me(self, request: web.Request) -> web.Response:
        self._bot_auth(request)
        return reply(BOT_USER)

    async def _application(self, request: web.Request) -> web.Response:
        self._bot_auth(request)
        return reply(
            {
                "id": str(APPLICATION_ID),
                "name": BOT_USER["username"],
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": {**BOT_USER, "id": "1", "bot": False, "username": "owner"},
                "verify_key": "0" * 64,
                "flags": 0,
                **({} if self.install_params is None else {"install_params": self.install_params}),
            }
        )

    async def _bot_gateway(self, request: web.Request) -> web.Response:
        self._bot_auth(request)
        return reply(self.shards.bot_gateway(self.gateway_url))

    async def _sync(self, request: web.Request) -> web.Response:
        self._bot_auth(request)
        if request.match_info["app"] != str(APPLICATION_ID):
            raise missing_access("another application's commands")
        payload = self._body(request).json
        check_commands(payload)
        guild = request.match_info.get("guild")
        guild_id = None if guild is None else _snowflake(guild, missing_access("bad guild id"))
        if guild_id is None:
            self.synced = payload
        elif guild_id in self._guilds:
            self.guild_synced[guild_id] = payload
        else:
            raise missing_access(f"the bot is not in guild {guild_id}")
        self.syncs += 1
        return reply([self._registered(command, guild_id) for command in payload])

    def _registered(self, command: dict[str, Any], guild_id: int | None) -> dict[str, Any]:
        kind = command.get("type", 1)
        data = {
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            **command,
            "id": str(self._command_id(guild_id, kind, command["name"])),
            "application_id": str(APPLICATION_ID),
            "version": str(self._ids()),
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return data

    # REST: interaction callbacks and webhooks

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        ident = _snowflake(request.match_info["id"], unknown_interaction())
        interaction = self._interactions.get(ident)
        if interaction is None or interaction.token != request.match_info["token"]:
            raise unknown_interaction("no such interaction id and token")
        body = self._body(request)
        kind = body.data.get("type")
        data: dict[str, Any] = body.data.get("data") or {}
        if interaction.responses:
            raise already_acknowledged()
        interaction.responded_at = time.monotonic()
        late = interaction.responded_at - interaction.dispatched_at
        if late > self.response_deadline:
            raise unknown_interaction(
                f"first response {late:.2f}s after dispatch; the deadline is "
                f"{self.response_deadline}s"
            )
        allowed = ANSWERS.get(interaction.type, set())
        if kind not in allowed:
            raise invalid(
                "type",
                f"a type-{interaction.type} interaction takes responses {sorted(allowed)}, "
                f"not {kind}",
            )
        where = f"interaction {interaction.id}'s app_permissions"
        message: FakeMessage | None = None
        if kind == 4:
            self._check_new(data, body.uploads, interaction.app_permissions, where)
            message = self._create(
                interaction.channel_id,
                data,
                body.uploads,
                via="interaction",
                interaction=interaction,
            )
            interaction.original_id = message.id
        elif kind == 5:
            if int(data.get("flags") or 0) & COMPONENTS_V2:
                raise invalid("data.flags", "IS_COMPONENTS_V2 goes on the followup, not the ack.")
            message = self._create(
                interaction.channel_id,
                {"flags": int(data.get("flags") or 0) & EPHEMERAL},
                [],
                via="interaction",
                interaction=interaction,
                loading=True,
            )
            interaction.original_id = message.id
        elif kind in (6, 7):
            target = self._messages.get(interaction.message_id or 0)
            if target is None:
                raise invalid("type", "no message to update: the modal came from a command")
            if target.deleted:
                raise unknown_message(f"message {target.id} was deleted")
            if kind == 7:
                self._edit(target, data, body.uploads, interaction.app_permissions, where)
                message = target
            interaction.original_id = target.id
        elif kind == 8:
            check_choices(data)
        elif kind == 9:
            check_modal(data)
            interaction.modal = data
        interaction.responses.append(body.data)
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        answer: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        if message is not None and kind in (4, 5, 7):
            answer |= {
                "response_message_id": str(message.id),
                "response_message_loading": kind == 5,
                "response_message_ephemeral": message.ephemeral,
            }
        resource: dict[str, Any] = {"type": kind}
        if message is not None and kind in (4, 7):
            resource["message"] = message.payload()
        return reply({"interaction": answer, "resource": resource})

    def _webhook(self, request: web.Request) -> FakeInteraction:
        if request.match_info["app"] != str(APPLICATION_ID):
            raise unknown_webhook("the webhook id is not the application id")
        interaction = self._tokens.get(request.match_info["token"])
        if interaction is None:
            raise invalid_token("no interaction has that token")
        age = self.clock() - interaction.issued_at
        if age > self.token_lifetime:
            raise invalid_token(f"the token is {age:.0f}s old; it lives {self.token_lifetime:.0f}s")
        if interaction.type == 4:
            raise unknown_webhook("autocomplete interactions have no webhook")
        return interaction

    def _webhook_message(self, interaction: FakeInteraction, ref: str) -> FakeMessage:
        if not interaction.responses:
            raise unknown_message("the interaction has no initial response yet")
        if ref == "@original":
            ident = interaction.original_id
        else:
            ident = _snowflake(ref, unknown_message(f"bad message id {ref!r}"))
            if ident != interaction.original_id and ident not in interaction.followup_ids:
                raise unknown_message(f"message {ident} is not this interaction's")
        message = self._messages.get(ident or 0)
        if message is None or message.deleted:
            raise unknown_message(f"the interaction has no message {ref}")
        return message

    async def _followup(self, request: web.Request) -> web.StreamResponse:
        interaction = self._webhook(request)
        if not interaction.responses:
            raise unknown_webhook("a followup before the initial response")
        body = self._body(request)
        data = body.data
        where = f"interaction {interaction.id}'s app_permissions"
        original = interaction.original
        if original is not None and original.loading and not original.deleted:
            # Discord reads the first followup after a deferral as resolving the loading
            # message: it fills the original, keeping the deferral's ephemerality.
            self._check_new(data, body.uploads, interaction.app_permissions, where)
            self._edit(original, data, body.uploads, interaction.app_permissions, where)
            message = original
        else:
            self._check_new(data, body.uploads, interaction.app_permissions, where)
            message = self._create(
                interaction.channel_id,
                data,
                body.uploads,
                via="followup",
                interaction=interaction,
                followup=True,
            )
            interaction.followup_ids.append(message.id)
        if not _truthy(request.query.get("wait")):
            return web.Response(status=204)
        return reply(message.payload())

    async def _webhook_get(self, request: web.Request) -> web.Response:
        interaction = self._webhook(request)
        return reply(self._webhook_message(interaction, request.match_info["message"]).payload())

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        interaction = self._webhook(request)
        message = self._webhook_message(interaction, request.match_info["message"])
        body = self._body(request)
        where = f"interaction {interaction.id}'s app_permissions"
        self._edit(message, body.data, body.uploads, interaction.app_permissions, where)
        return reply(message.payload())

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        interaction = self._webhook(request)
        self._webhook_message(interaction, request.match_info["message"]).deleted = True
        return web.Response(status=204)

    # REST: channels

    def _rest_channel(self, request: web.Request, *, create: bool = False) -> Channel:
        self._bot_auth(request)
        ident = _snowflake(request.match_info["channel"], unknown_channel("bad channel id"))
        channel = self._channels.get(ident)
        if ident in self._deleted_channels:
            raise unknown_channel(f"channel {ident} was deleted")
        if channel is None:
            if not create or self.strict_channels:
                raise unknown_channel(f"channel {ident} was never added")
            channel = self._channels[ident] = Channel(ident, "text")
        if channel.kind == "group":
            raise missing_access("a bot cannot reach a group DM")
        if channel.guild_id is not None and channel.guild_id not in self._guilds:
            raise missing_access(f"the bot is not in guild {channel.guild_id}")
        if not self._rest_permissions(channel).view_channel:
            raise missing_access(f"the bot cannot view channel {ident}")
        return channel

    def _rest_permissions(self, channel: Channel) -> discord.Permissions:
        """What the bot user may do through the channel endpoints; its own DMs are open."""
        if channel.kind == "dm":
            return discord.Permissions(INVITE_PERMISSIONS.value)
        return self.bot_permissions(channel)

    def _require_send(self, channel: Channel) -> None:
        needed = "send_messages_in_threads" if channel.kind == "thread" else "send_messages"
        if not getattr(self._rest_permissions(channel), needed):
            raise missing_permissions(f"the bot lacks {needed} in channel {channel.id}")

    def _channel_message(self, request: web.Request, channel: Channel) -> FakeMessage:
        ident = _snowflake(request.match_info["message"], unknown_message("bad message id"))
        message = self._messages.get(ident)
        if message is None or message.deleted or message.channel_id != channel.id:
            raise unknown_message(f"no message {ident} in channel {channel.id}")
        if message.ephemeral:
            raise unknown_message(f"message {ident} is ephemeral: only its interaction reaches it")
        return message

    async def _post_message(self, request: web.Request) -> web.Response:
        channel = self._rest_channel(request, create=True)
        self._require_send(channel)
        body = self._body(request)
        data = body.data
        nonce = data.get("nonce")
        if data.get("enforce_nonce") and nonce in self._nonces:
            return reply(self._messages[self._nonces[nonce]].payload())
        where = f"channel {channel.id}"
        self._check_new(data, body.uploads, self._rest_permissions(channel), where)
        message = self._create(channel.id, data, body.uploads, via="channel")
        if nonce is not None:
            self._nonces[nonce] = message.id
        self.messages.append(message)
        self.message_posted.set()
        return reply(message.payload())

    async def _history(self, request: web.Request) -> web.Response:
        channel = self._rest_channel(request)
        limit = int(request.query.get("limit", "50"))
        found = self.channel_messages(channel.id, include_ephemeral=False)
        return reply([message.payload() for message in reversed(found)][:limit])

    async def _get_message(self, request: web.Request) -> web.Response:
        channel = self._rest_channel(request)
        return reply(self._channel_message(request, channel).payload())

    async def _edit_message(self, request: web.Request) -> web.Response:
        channel = self._rest_channel(request)
        message = self._channel_message(request, channel)
        if message.author_id != BOT_ID:
            raise Refused(403, 50005, "Cannot edit a message authored by another user")
        body = self._body(request)
        where = f"channel {channel.id}"
        self._edit(message, body.data, body.uploads, self._rest_permissions(channel), where)
        return reply(message.payload())

    async def _delete_message(self, request: web.Request) -> web.Response:
        channel = self._rest_channel(request)
        message = self._channel_message(request, channel)
        if message.author_id != BOT_ID and not self._rest_permissions(channel).manage_messages:
            raise missing_permissions("deleting others' messages needs manage_messages")
        message.deleted = True
        return web.Response(status=204)

    async def _get_channel(self, request: web.Request) -> web.Response:
        return reply(self._channel_payload(self._rest_channel(request), rest=True))

    async def _typing(self, request: web.Request) -> web.Response:
        self._require_send(self._rest_channel(request))
        return web.Response(status=204)

    async def _open_dm(self, request: web.Request) -> web.Response:
        self._bot_auth(request)
        recipient = str(self._body(request).data.get("recipient_id", ""))
        if not recipient.isdigit():
            raise invalid("recipient_id", "Must be a user id.")
        channel = self._channels[self.dm_channel_of(int(recipient))]
        return reply(self._channel_payload(channel, rest=True))

    async def _get_user(self, request: web.Request) -> web.Response:
        self._bot_auth(request)
        unknown = Refused(404, 10013, "Unknown User")
        user = self._users.get(_snowflake(request.match_info["user"], unknown))
        if user is None:
            raise unknown
        return reply(user)

    async def _unknown(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix(API)
        raise Refused(404, 0, "404: Not Found", detail=f"the fake has no {request.method} {path}")

    async def _attachment(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        stored = self._files.get(int(ident)) if ident.isdigit() else None
        if stored is None or stored.filename != request.match_info["filename"]:
            raise Refused(404, 0, "404: Not Found", detail="no such attachment")
        return web.Response(
            body=stored.data, content_type=stored.content_type or "application/octet-stream"
        )

    # The gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        session = Session(ws)
        self._send(session, {"op": 10, "d": {"heartbeat_interval": 41250}})
        try:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                if message.get("op") == 1:
                    self._send(session, {"op": 11})
                elif message.get("op") == 2:
                    if message["d"].get("token") != TOKEN:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    self._identify(session, message["d"].get("shard"))
                elif message.get("op") == 6:
                    self._send(session, {"op": 9, "d": False})
        finally:
            self._sockets.discard(ws)
            self.shards.drop(session)
        return ws

    def _identify(self, session: Session, shard: Any) -> None:
        if self.shards.admit(session, shard) is not None:
            self._send(session, {"op": 9, "d": False})
            self._notify()
            return
        self.identified.set()
        shard_id = session.shard_id
        guilds = [g for g in self._guilds.values() if self.shards.of_guild(g.id) == shard_id]
        ready = {
            "v": 10,
            "user": BOT_USER,
            "guilds": [{"id": str(guild.id), "unavailable": True} for guild in guilds],
            "session_id": "session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APPLICATION_ID), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        if shard is not None:
            ready["shard"] = shard
        self._emit("READY", ready, shard=shard_id)
        for guild in guilds:
            self._emit("GUILD_CREATE", self._guild_create(guild), shard=shard_id)
        self._notify()

    def _emit_interaction(self, interaction: FakeInteraction) -> asyncio.Task[None] | None:
        guild_id = interaction.payload.get("guild_id")
        return self._emit(
            "INTERACTION_CREATE",
            interaction.payload,
            guild_id=None if guild_id is None else int(guild_id),
            quiet=False,
        )

    def _emit(
        self,
        event: str,
        data: Any,
        *,
        guild_id: int | None = None,
        shard: int | None = None,
        quiet: bool = True,
    ) -> asyncio.Task[None] | None:
        """Sends a dispatch to the session of ``shard`` (by default the shard of ``guild_id``,
        shard 0 without one), in order; nothing when none is connected (it will get the
        world in GUILD_CREATE), unless the caller needs it sent."""
        if shard is None:
            shard = self.shards.of_guild(guild_id)
        session = self.shards.sessions.get(shard)
        if session is None:
            if quiet:
                return None
            raise AssertionError(f"no bot is connected to the fake's gateway on shard {shard}")
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        return self._send(session, frame, quiet=quiet)

    def _send(
        self, session: Session, frame: dict[str, Any], *, quiet: bool = True
    ) -> asyncio.Task[None]:
        previous, text, ws = session.sending, json.dumps(frame), session.ws

        async def send() -> None:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                if not quiet:
                    raise

        task = asyncio.get_running_loop().create_task(send())
        session.sending = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
