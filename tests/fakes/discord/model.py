"""What the fake remembers: channels, guilds, files, messages, interactions and requests."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from . import layout
from .payloads import APPLICATION_ID, CHANNEL_TYPES, COMPONENTS_V2, EPHEMERAL, LOADING, now_iso

if TYPE_CHECKING:
    from .server import FakeDiscord

MENTION = re.compile(r"<@!?([0-9]+)>|<@&([0-9]+)>|@(everyone|here)")


@dataclass
class Channel:
    id: int
    kind: str  # "text" | "thread" | "dm" | "group"
    guild_id: int | None = None
    name: str = "general"
    nsfw: bool = False
    parent_id: int | None = None
    denied: discord.Permissions = field(default_factory=discord.Permissions.none)
    recipient_id: int | None = None

    @property
    def type(self) -> int:
        return CHANNEL_TYPES[self.kind]

    @property
    def in_guild(self) -> bool:
        return self.guild_id is not None


@dataclass
class Member:
    user_id: int
    roles: list[int]
    permissions: int


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    bot_role_id: int
    roles: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    locale: str = "en-US"  # the server's preferred locale (interactions' guild_locale)


@dataclass
class StoredFile:
    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    size_px: tuple[int, int] | None = None
    description: str | None = None
    ephemeral: bool = False

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type:
            data["content_type"] = self.content_type
        if self.size_px:
            data["width"], data["height"] = self.size_px
        if self.description:
            data["description"] = self.description
        if self.ephemeral:
            data["ephemeral"] = True
        return data


@dataclass(eq=False)
class FakeMessage:
    """A message the fake holds; ``payload()`` is the Discord message object it serves."""

    id: int
    channel_id: int
    author: dict[str, Any]
    via: str  # "channel" | "interaction" | "followup" | "user"
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredFile] = field(default_factory=list)
    flags: int = 0
    nonce: str | int | None = None
    interaction_id: int | None = None
    type: int = 0
    metadata: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    deleted: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)
    edit_times: list[float] = field(default_factory=list)  # time.monotonic() of each edit
    created_at: float = field(default_factory=time.monotonic)
    file_history: list[str] = field(default_factory=list)  # every file name it has carried
    timestamp: str = field(default_factory=now_iso)
    edited_timestamp: str | None = None
    allowed_mentions: dict[str, Any] | None = None  # as the bot sent it, when it did

    @property
    def pinged(self) -> set[str]:
        """Whom posting this notified, by Discord's rules: each mention in the content (or a
        layout's text displays) (``user:ID``, ``role:ID``, ``everyone``) that
        ``allowed_mentions`` lets through, or every one of them when the bot sent no
        ``allowed_mentions``. Edits notify nobody."""
        allowed = self.allowed_mentions
        parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse", []))
        users = {str(user) for user in (allowed or {}).get("users", [])}
        roles = {str(role) for role in (allowed or {}).get("roles", [])}
        found: set[str] = set()
        for match in MENTION.finditer("\n".join([self.content, *self.texts])):
            user, role, everyone = match.groups()
            if user is not None and ("users" in parse or user in users):
                found.add(f"user:{user}")
            elif role is not None and ("roles" in parse or role in roles):
                found.add(f"role:{role}")
            elif everyone is not None and "everyone" in parse:
                found.add("everyone")
        return found

    @property
    def files(self) -> dict[str, bytes]:
        return {stored.filename: stored.data for stored in self.attachments}

    @property
    def layout(self) -> bool:
        """Sent with layout components (the ``IS_COMPONENTS_V2`` flag)."""
        return bool(self.flags & COMPONENTS_V2)

    @property
    def texts(self) -> list[str]:
        """A layout's text displays, in reading order (none for a message with content)."""
        return layout.texts(self.components) if self.layout else []

    @property
    def gallery(self) -> list[StoredFile]:
        """The files a layout's media galleries show, in order."""
        by_id = {str(stored.id): stored for stored in self.attachments}
        items = layout.gallery(self.components) if self.layout else []
        return [by_id[str(item["media"].get("attachment_id"))] for item in items]

    @property
    def hidden_files(self) -> list[str]:
        """Files a layout carries but shows nowhere: Discord does not display them."""
        shown = layout.shown_ids(self.components)
        return [s.filename for s in self.attachments if self.layout and str(s.id) not in shown]

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    @property
    def author_id(self) -> int:
        return int(self.author["id"])

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author,
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [stored.payload() for stored in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
        }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.interaction_id is not None:
            data["webhook_id"] = data["application_id"] = str(APPLICATION_ID)
        if self.metadata is not None:
            data["interaction_metadata"] = self.metadata
        if self.reference is not None:
            data["message_reference"] = self.reference
        return copy.deepcopy(data)


# Kept for the first tests, which read channel posts as PostedMessage.
PostedMessage = FakeMessage


class FakeInteraction:
    """One interaction the fake dispatched, and everything the bot answered to it."""

    def __init__(
        self,
        fake: FakeDiscord,
        payload: dict[str, Any],
        *,
        user_id: int,
        channel_id: int,
        installed_by_user: bool,
        message_id: int | None = None,
        opener: FakeInteraction | None = None,
    ) -> None:
        self.fake = fake
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.user_id = user_id
        self.channel_id = channel_id
        self.installed_by_user = installed_by_user
        self.app_permissions = discord.Permissions(int(payload["app_permissions"]))
        self.message_id = message_id  # the message a component sat on
        self.opener = opener  # the interaction whose modal this one submits
        self.responses: list[dict[str, Any]] = []
        self.original_id: int | None = None
        self.followup_ids: list[int] = []
        self.modal: dict[str, Any] | None = None
        self.modal_submitted = False
        self.dispatched_at = time.monotonic()
        self.responded_at: float | None = None  # when the first callback arrived
        self.issued_at = fake.clock()

    def __repr__(self) -> str:
        return f"<FakeInteraction id={self.id} type={self.type} responses={len(self.responses)}>"

    @property
    def original(self) -> FakeMessage | None:
        return None if self.original_id is None else self.fake.message(self.original_id)

    @property
    def followups(self) -> list[FakeMessage]:
        return [self.fake.message(message_id) for message_id in self.followup_ids]

    @property
    def messages(self) -> list[FakeMessage]:
        """The original (if any) then the followups."""
        original = self.original
        return ([original] if original is not None else []) + self.followups

    @property
    def ephemeral(self) -> bool:
        if not self.responses:
            return False
        data = self.responses[0].get("data") or {}
        return bool(int(data.get("flags") or 0) & EPHEMERAL)

    async def response(self, timeout: float = 5) -> dict[str, Any]:  # noqa: ASYNC109
        """The first callback body (``type`` and ``data``), once it came."""
        await self.wait(lambda interaction: bool(interaction.responses), timeout)
        return self.responses[0]

    async def wait(
        self,
        predicate: Callable[[FakeInteraction], bool],
        timeout: float = 10,  # noqa: ASYNC109
    ) -> None:
        await self.fake.wait_for(lambda: predicate(self), timeout)


@dataclass
class Recorded:
    """One HTTP request the fake answered."""

    method: str
    path: str  # after /api/v10 for the API
    query: dict[str, str]
    json: Any
    files: dict[str, int]  # filename -> size
    status: int = 0
    code: int | None = None
