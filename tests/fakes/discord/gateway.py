"""The fake gateway's sharding, as Discord does it: every session of the bot runs one shard of
one shard count, at most one session per shard; IDENTIFYs are limited per bucket
(``shard_id % max_concurrency``) to one per window; a guild lives on shard
``(guild_id >> 22) % shard_count`` and DMs on shard 0."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(eq=False)
class Session:
    """One gateway connection; ``shard_id`` once its IDENTIFY was accepted."""

    ws: web.WebSocketResponse
    shard_id: int | None = None
    seq: int = 0
    sending: asyncio.Task[None] | None = None  # the last frame queued, to keep frames in order


@dataclass(frozen=True)
class Identify:
    """An IDENTIFY the fake accepted."""

    shard_id: int
    bucket: int
    at: float  # time.monotonic()


@dataclass
class Shards:
    """The bot's shards: their sessions, the IDENTIFYs accepted and those refused."""

    count: int = 1
    max_concurrency: int = 1
    window: float = 5.0
    session_starts: int = 1000
    sessions: dict[int, Session] = field(default_factory=dict)
    identifies: list[Identify] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.count < 1 or self.max_concurrency < 1:
            raise ValueError("shard_count and max_concurrency start at 1")

    def of_guild(self, guild_id: int | None) -> int:
        return 0 if guild_id is None else (guild_id >> 22) % self.count

    def admit(self, session: Session, shard: Any) -> str | None:
        """Registers ``session`` for the shard its IDENTIFY names (no ``shard``: [0, 1]), or
        says why Discord would answer INVALID_SESSION instead (and records it)."""
        if shard is None:
            shard = [0, 1]
        if isinstance(shard, list) and len(shard) == 2 and all(type(n) is int for n in shard):
            shard_id, count = shard
            reason = self._refusal(shard_id, count)
        else:
            reason = "shard is not [shard_id, shard_count]"
        if reason is not None:
            self.refused.append(f"IDENTIFY shard {shard}: {reason}")
            return reason
        bucket = shard_id % self.max_concurrency
        self.identifies.append(Identify(shard_id, bucket, time.monotonic()))
        session.shard_id, session.seq = shard_id, 0
        self.sessions[shard_id] = session
        return None

    def _refusal(self, shard_id: int, count: int) -> str | None:
        if count != self.count:
            return f"shard count {count}; the bot runs {self.count} shards"
        if not 0 <= shard_id < count:
            return f"shard id {shard_id} is out of range"
        connected = self.sessions.get(shard_id)
        if connected is not None and not connected.ws.closed:
            return f"shard {shard_id} is already connected"
        bucket = shard_id % self.max_concurrency
        last = max((i.at for i in self.identifies if i.bucket == bucket), default=None)
        ago = time.monotonic() - last if last is not None else None
        if ago is not None and ago < self.window:
            return f"bucket {bucket} identified {ago:.3f}s ago; the window is {self.window}s"
        return None

    def drop(self, session: Session) -> None:
        if session.shard_id is not None and self.sessions.get(session.shard_id) is session:
            del self.sessions[session.shard_id]

    def bot_gateway(self, url: str) -> dict[str, Any]:
        """GET /gateway/bot."""
        return {
            "url": url,
            "shards": self.count,
            "session_start_limit": {
                "total": self.session_starts,
                "remaining": max(0, self.session_starts - len(self.identifies)),
                "reset_after": 24 * 3600 * 1000,
                "max_concurrency": self.max_concurrency,
            },
        }
