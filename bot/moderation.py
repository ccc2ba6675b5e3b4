"""Moderator tools: bans, blocked terms, role tiers, reports, the audit log and usage stats."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import statistics
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import regex

from bot.errors import Banned, BlockedPrompt, InvalidTerm
from bot.storage import Row, SqlConnection, SqlDatabase

log = logging.getLogger(__name__)

# A baseline for venues that are not NSFW, matched as whole words; owners extend it with their
# own terms and regexes. Short on purpose: it catches the obvious asks, not every spelling.
SFW_TERMS = (
    "nsfw",
    "nude",
    "nudes",
    "nudity",
    "naked",
    "topless",
    "porn",
    "porno",
    "pornographic",
    "pornography",
    "hentai",
    "sex",
    "sexual",
    "sexy",
    "explicit",
    "erotic",
    "xxx",
    "nipples",
    "genitals",
)

MAX_PATTERN = 200
MAX_REPEAT = 100  # a count in {n} or {n,m}
MAX_REPEAT_PRODUCT = 10_000  # all counts of one pattern multiplied
MATCH_TIMEOUT = 0.05
CACHE_SECONDS = 5.0
PROBE_TIMEOUT = 0.05
PROBE_LENGTH = 2000
FLAGS = regex.IGNORECASE
R = TypeVar("R")

ACTIVE_BAN = "lifted_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
LIFT_BANS = (
    "UPDATE bans SET lifted_at = ? WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ? "
    f"AND {ACTIVE_BAN}"
)
FINISHED = "('succeeded', 'failed', 'cancelled')"
MEMBER_TEXTS = frozenset({"prompt", "negative_prompt"})  # audit details quoting a member


@dataclass(frozen=True, slots=True)
class Ban:
    ban_id: int
    user_id: int
    guild_id: int | None
    reason: str
    actor_id: int
    created_at: float
    expires_at: float | None

    @property
    def is_global(self) -> bool:
        return self.guild_id is None


@dataclass(frozen=True, slots=True)
class Term:
    term_id: int
    guild_id: int | None
    pattern: str
    regex: bool
    actor_id: int
    created_at: float


@dataclass(frozen=True, slots=True)
class AuditEntry:
    entry_id: int
    guild_id: int | None
    actor_id: int
    action: str
    target_id: int | None
    reason: str
    details: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]
    page: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class Tier:
    """A guild's quota tier for members with a role; None leaves the guild's own limit."""

    guild_id: int
    role_id: int
    name: str
    daily_units: int | None = None
    max_queued: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_steps: int | None = None
    max_count: int | None = None
    cooldown_seconds: float | None = None
    priority: float = 1.0


ReportStatus = Literal["open", "resolved", "dismissed"]


@dataclass(frozen=True, slots=True)
class Report:
    report_id: int
    job_id: int | None
    guild_id: int | None
    reporter_id: int
    reason: str
    status: ReportStatus
    created_at: float
    resolved_at: float | None
    resolver_id: int | None
    channel_id: int | None
    message_id: int | None
    seen_channel_id: int | None  # the reported message, where the reporter saw it
    seen_message_id: int | None


@dataclass(frozen=True, slots=True)
class ModelUsage:
    provider: str
    model: str
    jobs: int
    images: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Jobs that finished between ``since`` (a UTC midnight) and ``until``."""

    since: float
    until: float
    images_per_day: list[tuple[str, int]]
    models: list[ModelUsage]
    succeeded: int
    failed: int
    cancelled: int
    failure_rate: float | None
    median_seconds: float | None
    p95_seconds: float | None
    top_users: list[tuple[int, int]]
    daily: list[DayUsage] = dataclasses.field(default_factory=list)  # one per day, oldest first


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One UTC day of Stats, for the chart: images by provider, jobs ended, run times."""

    day: str  # YYYY-MM-DD
    images: dict[str, int]  # by provider, of the jobs that succeeded
    succeeded: int
    failed: int
    median_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    term: str
    pattern: regex.Pattern[str]
    slow: bool = False  # a moderator's regex, which may backtrack; plain words never do


class Moderation:
    """Moderator state in the database. Blocked terms are compiled once per guild and kept in this
    process until this store adds or removes one there."""

    def __init__(self, db: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        # Kept CACHE_SECONDS, like bans and tiers: another process (a bot cluster of the
        # scaled mode) may add or remove terms; a change made here is seen at once.
        self._compiled: dict[int | None, tuple[float, tuple[_Compiled, ...]]] = {}
        self._generation = 0
        self._slow: set[tuple[int | None, str]] = set()
        # Read on every request: kept a few seconds (another process's change shows within
        # CACHE_SECONDS), dropped at once when this process changes them.
        self._bans: dict[int | None, tuple[float, dict[int, list[Ban]]]] = {}
        self._tiers: dict[int, tuple[float, list[Tier]]] = {}

    # Bans

    async def ban(
        self,
        user_id: int,
        *,
        guild_id: int | None,
        actor_id: int,
        reason: str,
        expires_at: float | None,
    ) -> int:
        """Ban in one guild, or everywhere when ``guild_id`` is None; replaces an active ban."""
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise ValueError(f"a ban must end in the future, not at {expires_at}")
        reason = reason.strip()
        async with self._db.transaction() as conn:
            lifted = await conn.execute(LIFT_BANS, (now, user_id, guild_id, now))
            ban_id = await _insert(
                conn,
                "INSERT INTO bans (user_id, guild_id, reason, actor_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING ban_id",
                (user_id, guild_id, reason, actor_id, now, expires_at),
            )
            await _record_in(
                conn,
                now,
                guild_id=guild_id,
                actor_id=actor_id,
                action="ban",
                target_id=user_id,
                reason=reason,
                details={"ban_id": ban_id, "expires_at": expires_at, "replaced": lifted.rowcount},
            )
        self._bans.clear()
        log.info("Member %d banned in %s by %d", user_id, guild_id or "every guild", actor_id)
        return ban_id

    async def unban(self, user_id: int, *, guild_id: int | None, actor_id: int) -> bool:
        now = self._clock()
        async with self._db.transaction() as conn:
            lifted = await conn.execute(LIFT_BANS, (now, user_id, guild_id, now))
            if not lifted.rowcount:
                return False
            await _record_in(
                conn, now, guild_id=guild_id, actor_id=actor_id, action="unban", target_id=user_id
            )
        self._bans.clear()
        return True

    async def active_ban(self, user_id: int, guild_id: int | None) -> Ban | None:
        """The ban that keeps the member out here, the longest first: a global ban applies
        everywhere, DMs included; a guild ban only in its guild."""
        now = self._clock()
        found = [
            ban
            for scope in {guild_id, None}
            for ban in (await self._active_bans(scope)).get(user_id, [])
            if ban.expires_at is None or ban.expires_at > now
        ]
        if not found:
            return None
        return max(found, key=lambda b: (b.expires_at is None, b.expires_at or 0.0, b.ban_id))

    async def _active_bans(self, guild_id: int | None) -> dict[int, list[Ban]]:
        cached = self._bans.get(guild_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        by_user: dict[int, list[Ban]] = {}
        for ban in await self.bans(guild_id):
            by_user.setdefault(ban.user_id, []).append(ban)
        self._bans[guild_id] = (time.monotonic(), by_user)
        return by_user

    async def ensure_not_banned(self, user_id: int, guild_id: int | None) -> None:
        ban = await self.active_ban(user_id, guild_id)
        if ban is not None:
            raise Banned(reason=ban.reason, expires_at=ban.expires_at)

    async def bans(self, guild_id: int | None) -> list[Ban]:
        """Active bans of one guild, or the global ones when ``guild_id`` is None."""
        rows = await self._db.fetchall(
            f"SELECT * FROM bans WHERE guild_id IS NOT DISTINCT FROM ? AND {ACTIVE_BAN} "
            "ORDER BY ban_id DESC",
            (guild_id, self._clock()),
        )
        return [_ban(row) for row in rows]

    # Blocked terms

    async def add_term(
        self, guild_id: int | None, pattern: str, *, regex: bool, actor_id: int
    ) -> int:
        """Block a whole-word term, or a regex, in one guild or everywhere (None)."""
        pattern = " ".join(pattern.split()) if not regex else pattern.strip()
        if regex:
            await asyncio.to_thread(_check_regex, pattern)
        else:
            _check_plain(pattern)
        now = self._clock()
        async with self._db.transaction() as conn:
            for term in await _terms_in(conn, guild_id):
                if _same(term, pattern, regex) or term.pattern == pattern:
                    # the table keeps one row per text, whether word or regex
                    raise InvalidTerm(pattern, "it is already blocked")
            term_id = await _insert(
                conn,
                "INSERT INTO blocked_terms (guild_id, pattern, is_regex, actor_id, created_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING term_id",
                (guild_id, pattern, regex, actor_id, now),
            )
            await _record_in(
                conn,
                now,
                guild_id=guild_id,
                actor_id=actor_id,
                action="term.add",
                target_id=term_id,
                details={"pattern": pattern, "regex": regex},
            )
        self._forget_compiled(guild_id)
        return term_id

    async def remove_term(self, guild_id: int | None, pattern_or_id: str, *, actor_id: int) -> bool:
        """Unblock by the pattern as written (plain terms in any case) or by the term's id."""
        wanted = pattern_or_id.strip()
        now = self._clock()
        async with self._db.transaction() as conn:
            terms = await _terms_in(conn, guild_id)
            found = next((t for t in terms if t.pattern == wanted), None)
            found = found or next((t for t in terms if _same(t, wanted, False)), None)
            if found is None and wanted.isdigit():
                found = next((t for t in terms if t.term_id == int(wanted)), None)
            if found is None:
                return False
            await conn.execute("DELETE FROM blocked_terms WHERE term_id = ?", (found.term_id,))
            await _record_in(
                conn,
                now,
                guild_id=guild_id,
                actor_id=actor_id,
                action="term.remove",
                target_id=found.term_id,
                details={"pattern": found.pattern, "regex": found.regex},
            )
        self._forget_compiled(guild_id)
        return True

    async def terms(self, guild_id: int | None) -> list[Term]:
        """One guild's terms, or the global ones when ``guild_id`` is None; not the SFW list."""
        rows = await self._db.fetchall(
            "SELECT * FROM blocked_terms WHERE guild_id IS NOT DISTINCT FROM ? ORDER BY term_id",
            (guild_id,),
        )
        return [_term(row) for row in rows]

    async def check_prompt(self, text: str, *, guild_id: int | None, sfw: bool) -> str | None:
        """The term, as its moderator wrote it, that blocks ``text`` here, or None."""
        found = await self._blocking(text, guild_id=guild_id, sfw=sfw)
        return found[0] if found is not None else None

    async def _blocking(
        self, text: str, *, guild_id: int | None, sfw: bool
    ) -> tuple[str, bool] | None:
        """The term that blocks ``text`` and whether it did by timing out, or None. A term
        that times out blocks (fails closed): a prompt built to stall a moderator's regex
        must not slip past it."""
        if not text.strip():
            return None
        normalised = unicodedata.normalize("NFKC", text)
        try:
            built_in = sfw and ANY_BUILT_IN.search(normalised, timeout=MATCH_TIMEOUT) is not None
        except TimeoutError:
            built_in = True  # each term is tried on its own below, with its own time-out
        compiled = [
            *(await self._compiled_for(guild_id) if guild_id is not None else ()),
            *await self._compiled_for(None),
            *(BUILT_IN if built_in else ()),
        ]
        if not compiled:
            return None
        if any(entry.slow for entry in compiled):
            # Off the event loop: a regex may take up to MATCH_TIMEOUT on a hostile prompt.
            found = await asyncio.to_thread(_first_match, compiled, normalised)
        else:  # whole words only: linear in the prompt, quicker than a thread hop
            found = _first_match(compiled, normalised)
        if found is not None and found[1] and (guild_id, found[0]) not in self._slow:
            self._slow.add((guild_id, found[0]))
            log.warning(
                "Blocked term %r timed out on a prompt in guild %s and blocked it; "
                "a simpler pattern would stop these refusals",
                found[0],
                guild_id,
            )
        return found

    async def screen(
        self, prompt: str, negative_prompt: str = "", *, guild_id: int | None, sfw: bool
    ) -> None:
        """Raise BlockedPrompt naming the field. The SFW list skips the negative prompt, where
        'nsfw, nude' is how members steer away from it."""
        for field, text, sfw_list in (
            ("prompt", prompt, sfw),
            ("negative prompt", negative_prompt, False),
        ):
            found = await self._blocking(text, guild_id=guild_id, sfw=sfw_list)
            if found is not None:
                raise BlockedPrompt(found[0], field, timed_out=found[1])

    async def _compiled_for(self, guild_id: int | None) -> tuple[_Compiled, ...]:
        cached = self._compiled.get(guild_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        generation = self._generation
        read_at = time.monotonic()
        compiled = tuple(
            entry
            for term in await self.terms(guild_id)
            if (entry := _compile_stored(term)) is not None
        )
        # A term added or removed while this read ran makes the result stale: use, don't keep.
        if generation == self._generation:
            self._compiled[guild_id] = (read_at, compiled)
        return compiled

    def _forget_compiled(self, guild_id: int | None) -> None:
        self._compiled.pop(guild_id, None)
        self._generation += 1

    # Audit log

    async def record(
        self,
        *,
        guild_id: int | None,
        actor_id: int,
        action: str,
        target_id: int | None = None,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        now = self._clock()
        async with self._db.transaction() as conn:
            return await _record_in(
                conn,
                now,
                guild_id=guild_id,
                actor_id=actor_id,
                action=action,
                target_id=target_id,
                reason=reason,
                details=details,
            )

    async def audit(self, guild_id: int | None, *, page: int = 0, per_page: int = 10) -> AuditPage:
        """Newest first, one guild or every guild (None); a page out of range shows the nearest."""
        where, params = ("WHERE guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        found = await self._db.page(
            f"audit_log {where}",
            params,
            "created_at DESC, entry_id DESC",
            page=page,
            per_page=per_page,
        )
        entries = [_entry(row) for row in found.rows]
        return AuditPage(entries, found.page, found.pages, found.total)

    # Tiers

    async def set_tier(self, tier: Tier, *, actor_id: int) -> None:
        """Create or replace the tier of ``tier.role_id`` in its guild."""
        _check_tier(tier)
        now = self._clock()
        values = asdict(tier)
        columns = ", ".join(values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in [*values, "updated_at"])
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO tiers ({columns}, updated_at) "
                f"VALUES ({', '.join('?' * len(values))}, ?) "
                f"ON CONFLICT (guild_id, role_id) DO UPDATE SET {updates}",
                (*values.values(), now),
            )
            await _record_in(
                conn,
                now,
                guild_id=tier.guild_id,
                actor_id=actor_id,
                action="tier.set",
                target_id=tier.role_id,
                details={k: v for k, v in values.items() if k not in ("guild_id", "role_id")},
            )
        self._tiers.pop(tier.guild_id, None)

    async def remove_tier(self, guild_id: int, role_id: int, *, actor_id: int) -> bool:
        now = self._clock()
        async with self._db.transaction() as conn:
            removed = await conn.execute(
                "DELETE FROM tiers WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
            )
            if not removed.rowcount:
                return False
            await _record_in(
                conn,
                now,
                guild_id=guild_id,
                actor_id=actor_id,
                action="tier.remove",
                target_id=role_id,
            )
        self._tiers.pop(guild_id, None)
        return True

    async def tiers(self, guild_id: int) -> list[Tier]:
        cached = self._tiers.get(guild_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        tiers = await self._read_tiers(guild_id)
        self._tiers[guild_id] = (time.monotonic(), tiers)
        return tiers

    async def _read_tiers(self, guild_id: int) -> list[Tier]:
        rows = await self._db.fetchall(
            "SELECT * FROM tiers WHERE guild_id = ? ORDER BY priority DESC, name, role_id",
            (guild_id,),
        )
        fields = Tier.__dataclass_fields__
        return [Tier(**{key: row[key] for key in fields}) for row in rows]

    # Reports

    async def report(self, report_id: int) -> Report | None:
        row = await self._db.fetchone("SELECT * FROM reports WHERE report_id = ?", (report_id,))
        return _report(row) if row else None

    async def open_reports(self, guild_id: int | None) -> list[Report]:
        """Oldest first, in one guild or everywhere (None), reports filed in DMs included."""
        where = "AND guild_id = ?" if guild_id is not None else ""
        rows = await self._db.fetchall(
            f"SELECT * FROM reports WHERE status = 'open' {where} ORDER BY report_id",
            (guild_id,) if guild_id is not None else (),
        )
        return [_report(row) for row in rows]

    async def resolve_report(
        self, report_id: int, *, actor_id: int, status: Literal["resolved", "dismissed"]
    ) -> bool:
        """Close an open report; False when it is gone or already closed."""
        if status not in ("resolved", "dismissed"):
            raise ValueError(f"a report is resolved or dismissed, not {status!r}")
        now = self._clock()
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT guild_id, job_id FROM reports WHERE report_id = ? AND status = 'open'",
                (report_id,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return False
            await conn.execute(
                "UPDATE reports SET status = ?, resolved_at = ?, resolver_id = ? "
                "WHERE report_id = ?",
                (status, now, actor_id, report_id),
            )
            await _record_in(
                conn,
                now,
                guild_id=row["guild_id"],
                actor_id=actor_id,
                action=f"report.{status}",
                target_id=report_id,
                details={"job_id": row["job_id"]},
            )
        return True

    async def set_report_message(self, report_id: int, channel_id: int, message_id: int) -> None:
        """Where the report was posted for moderators, so its buttons can find it again."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE reports SET channel_id = ?, message_id = ? WHERE report_id = ?",
                (channel_id, message_id, report_id),
            )

    # Stats and prompts

    async def stats(
        self, guild_id: int | None, *, days: int = 7, now: float | None = None
    ) -> Stats:
        """Usage over the last ``days`` UTC days, today included; every guild when None."""
        if days < 1:
            raise ValueError(f"days must be at least 1, not {days}")
        now = self._clock() if now is None else now
        today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days - 1)
        where = "AND j.guild_id = ?" if guild_id is not None else ""
        rows = await self._db.fetchall(
            "SELECT j.user_id, j.provider, j.model, j.status, j.started_at, j.finished_at, "
            "(SELECT COUNT(*) FROM job_images i WHERE i.job_id = j.job_id) AS images "
            f"FROM jobs j WHERE j.status IN {FINISHED} AND j.finished_at >= ? "
            f"AND j.finished_at <= ? {where}",
            (start.timestamp(), now, *((guild_id,) if guild_id is not None else ())),
        )
        return _stats(rows, start, days, now)

    async def recent_prompts(
        self, user_id: int, guild_id: int | None, limit: int = 10
    ) -> list[tuple[int, str, float]]:
        """(job_id, prompt, created_at), newest first, in one guild or everywhere (None)."""
        where = "AND guild_id = ?" if guild_id is not None else ""
        rows = await self._db.fetchall(
            f"SELECT job_id, request, created_at FROM jobs WHERE user_id = ? {where} "
            "ORDER BY created_at DESC, job_id DESC LIMIT ?",
            (user_id, *((guild_id,) if guild_id is not None else ()), limit),
        )
        return [
            (row["job_id"], str(json.loads(row["request"]).get("prompt", "")), row["created_at"])
            for row in rows
        ]

    async def delivered_messages(self, user_id: int, guild_id: int) -> list[tuple[int, str]]:
        """(job_id, message reference) of the results posted for a member in a guild."""
        rows = await self._db.fetchall(
            "SELECT j.job_id, d.reference FROM jobs j JOIN deliveries d ON d.job_id = j.job_id "
            "WHERE j.user_id = ? AND j.guild_id = ? AND d.reference IS NOT NULL "
            "ORDER BY j.job_id",
            (user_id, guild_id),
        )
        return [(row["job_id"], row["reference"]) for row in rows]


async def _record_in(
    conn: SqlConnection,
    now: float,
    *,
    guild_id: int | None,
    actor_id: int,
    action: str,
    target_id: int | None = None,
    reason: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    details = dict(details or {})
    entry_id = await _insert(
        conn,
        "INSERT INTO audit_log (guild_id, actor_id, action, target_id, reason, details, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING entry_id",
        (guild_id, actor_id, action, target_id, reason, json.dumps(details), now),
    )
    return AuditEntry(entry_id, guild_id, actor_id, action, target_id, reason, details, now)


async def forget_member_texts(conn: SqlConnection, user_id: int) -> int:
    """For /forget-me, in the caller's transaction: audit entries about the member keep what
    happened, when, by whom and why, but lose the member's own words (their prompts). Returns
    how many entries changed."""
    async with conn.execute(
        "SELECT entry_id, details FROM audit_log WHERE target_id = ?", (user_id,)
    ) as cursor:
        rows = list(await cursor.fetchall())
    changed = 0
    for row in rows:
        details = json.loads(row["details"])
        if not isinstance(details, dict) or not MEMBER_TEXTS & details.keys():
            continue
        kept = {key: value for key, value in details.items() if key not in MEMBER_TEXTS}
        await conn.execute(
            "UPDATE audit_log SET details = ? WHERE entry_id = ?",
            (json.dumps({**kept, "forgotten": True}), row["entry_id"]),
        )
        changed += 1
    return changed


async def _insert(conn: SqlConnection, sql: str, params: Sequence[object]) -> int:
    """The id an INSERT ... RETURNING gave its row."""
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _terms_in(conn: SqlConnection, guild_id: int | None) -> list[Term]:
    async with conn.execute(
        "SELECT * FROM blocked_terms WHERE guild_id IS NOT DISTINCT FROM ?", (guild_id,)
    ) as cursor:
        return [_term(row) for row in await cursor.fetchall()]


def _same(term: Term, pattern: str, is_regex: bool) -> bool:
    if term.regex or is_regex:
        return term.regex == is_regex and term.pattern == pattern
    return term.pattern.casefold() == pattern.casefold()


def _plain(term: str) -> regex.Pattern[str]:
    """Whole words in any case, any run of spaces between them: 'cat' misses 'concatenate'.
    Lookarounds rather than \\b so that terms starting or ending in a symbol work too."""
    words = r"\s+".join(regex.escape(word) for word in term.split())
    return regex.compile(rf"(?<!\w){words}(?!\w)", FLAGS)


BUILT_IN = tuple(_Compiled(term, _plain(term)) for term in SFW_TERMS)
# One search for the common case, a prompt with none of them; then which one, if any.
ANY_BUILT_IN = regex.compile(
    r"(?<!\w)(?:"
    + "|".join(r"\s+".join(map(regex.escape, t.split())) for t in SFW_TERMS)
    + r")(?!\w)",
    FLAGS,
)


def _check_plain(term: str) -> None:
    if not term:
        raise InvalidTerm(term, "it is empty")
    if len(term) > MAX_PATTERN:
        raise InvalidTerm(term, f"it is longer than {MAX_PATTERN} characters")


def _check_regex(pattern: str) -> None:
    _check_plain(pattern)
    _check_counts(pattern)
    try:
        compiled = regex.compile(pattern, FLAGS)
    except regex.error as err:
        raise InvalidTerm(pattern, f"it is not a valid regular expression ({err})") from err
    if _nested_repeat(pattern):
        raise InvalidTerm(
            pattern,
            "it repeats a group that itself repeats, like (a+)+, which can take forever to match",
        )
    try:
        if compiled.search("", timeout=PROBE_TIMEOUT) is not None:
            raise InvalidTerm(pattern, "it matches an empty prompt, so it would block every one")
        for probe in _probes(pattern):
            compiled.search(probe, timeout=PROBE_TIMEOUT)
    except TimeoutError as err:
        raise InvalidTerm(
            pattern, "it takes too long to match some prompts, so it could stall the bot"
        ) from err


def _check_counts(pattern: str) -> None:
    """The regex module unrolls counted repeats when it compiles (x{3000000} takes seconds and
    gigabytes), so counts are bounded before anything is compiled: each, and their product."""
    product = 1
    for quantifier in QUANTIFIER.finditer(pattern):
        counts = [int(n) for n in quantifier.groups() if n and n.isdigit()]
        if not counts:
            continue
        if max(counts) > MAX_REPEAT:
            raise InvalidTerm(pattern, f"it repeats something more than {MAX_REPEAT} times")
        product *= max(*counts, 1)
        if product > MAX_REPEAT_PRODUCT:
            raise InvalidTerm(pattern, "its counted repeats multiply to too many")


def _probes(pattern: str) -> Iterable[str]:
    """Long runs of the characters the pattern looks for, ending in one it cannot want: the
    inputs that make a backtracking matcher retry every way of splitting the run."""
    chars = dict.fromkeys(c for c in pattern.casefold() if c.isalnum())
    for char in [*list(chars)[:8], "a", "0", " "]:
        yield char * PROBE_LENGTH + "\x00"
    yield "ab " * (PROBE_LENGTH // 3) + "\x00"


QUANTIFIER = regex.compile(r"[*+?]|\{(?:(\d+)(?:(,)(\d*))?|,(\d+))\}")


def _nested_repeat(pattern: str) -> bool:
    """Whether a group that holds an unbounded repeat is itself repeated: (a+)+, (\\w*,){2,}."""
    groups = [False]  # per open group: whether it holds an unbounded repeat
    group_repeats = False  # the atom just before is a group that holds one
    i = 0
    while i < len(pattern):
        char = pattern[i]
        quantifier = QUANTIFIER.match(pattern, i)
        if char == "\\":
            i, group_repeats = i + 2, False
        elif char == "[":
            i, group_repeats = _class_end(pattern, i), False
        elif pattern.startswith("(?#", i):
            end = pattern.find(")", i)
            i = len(pattern) if end < 0 else end + 1
        elif char == "(":
            groups.append(False)
            i, group_repeats = i + 1, False
        elif char == ")":
            group_repeats = groups.pop() if len(groups) > 1 else False
            groups[-1] = groups[-1] or group_repeats
            i += 1
        elif quantifier is not None:
            most = _most(quantifier)
            if group_repeats and most > 1:
                return True
            groups[-1] = groups[-1] or group_repeats or most == math.inf
            i = quantifier.end()
            if i < len(pattern) and pattern[i] in "?+":
                i += 1
            group_repeats = False
        else:
            i, group_repeats = i + 1, False
    return False


def _most(quantifier: regex.Match[str]) -> float:
    text = quantifier[0]
    if text in "*+":
        return math.inf
    if text == "?":
        return 1
    least, comma, most, only_most = quantifier.groups()
    if only_most is not None:
        return int(only_most)
    if comma is None:
        return int(least)
    return int(most) if most else math.inf


def _class_end(pattern: str, start: int) -> int:
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
        elif pattern.startswith("[:", i) and (end := pattern.find(":]", i + 2)) >= 0:
            i = end + 2
        elif pattern[i] == "]":
            return i + 1
        else:
            i += 1
    return len(pattern)


def _compile_stored(term: Term) -> _Compiled | None:
    if not term.regex:
        return _Compiled(term.pattern, _plain(term.pattern))
    try:
        return _Compiled(term.pattern, regex.compile(term.pattern, FLAGS), slow=True)
    except regex.error as err:
        log.warning("Skipping blocked term %d, which no longer compiles: %s", term.term_id, err)
        return None


def _first_match(compiled: Sequence[_Compiled], text: str) -> tuple[str, bool] | None:
    """The first term that matches or times out (a time-out counts as a match), and
    whether it timed out."""
    for entry in compiled:
        try:
            if entry.pattern.search(text, timeout=MATCH_TIMEOUT) is not None:
                return entry.term, False
        except TimeoutError:
            return entry.term, True
    return None


def _check_tier(tier: Tier) -> None:
    if not tier.name.strip():
        raise ValueError("a tier needs a name")
    minimums = {
        "daily_units": 0,
        "max_queued": 1,
        "max_width": 1,
        "max_height": 1,
        "max_steps": 1,
        "max_count": 1,
        "cooldown_seconds": 0,
    }
    for name, least in minimums.items():
        value = getattr(tier, name)
        if value is not None and value < least:
            raise ValueError(f"a tier's {name} must be at least {least}, not {value}")
    if not 0 < tier.priority <= 100:
        raise ValueError(f"a tier's priority must be above 0 and at most 100, not {tier.priority}")


def _stats(rows: Sequence[Row], start: datetime, days: int, now: float) -> Stats:
    per_day = {(start + timedelta(days=n)).strftime("%Y-%m-%d"): 0 for n in range(days)}
    statuses: Counter[str] = Counter()
    jobs: Counter[tuple[str, str]] = Counter()
    images: Counter[tuple[str, str]] = Counter()
    per_user: Counter[int] = Counter()
    durations = []
    for row in rows:
        statuses[row["status"]] += 1
        key = (row["provider"], row["model"])
        jobs[key] += 1
        if row["status"] != "succeeded":
            continue
        images[key] += row["images"]
        per_user[row["user_id"]] += row["images"]
        day = datetime.fromtimestamp(row["finished_at"], UTC).strftime("%Y-%m-%d")
        per_day[day] = per_day.get(day, 0) + row["images"]
        if row["started_at"] is not None:
            durations.append(row["finished_at"] - row["started_at"])
    durations.sort()
    ended = statuses["succeeded"] + statuses["failed"]
    models = [
        ModelUsage(provider, model, count, images[provider, model])
        for (provider, model), count in jobs.items()
    ]
    models.sort(key=lambda m: (-m.images, -m.jobs, m.provider, m.model))
    top = sorted(per_user.items(), key=lambda item: (-item[1], item[0]))[:5]
    return Stats(
        since=start.timestamp(),
        until=now,
        images_per_day=list(per_day.items()),
        models=models,
        succeeded=statuses["succeeded"],
        failed=statuses["failed"],
        cancelled=statuses["cancelled"],
        failure_rate=statuses["failed"] / ended if ended else None,
        median_seconds=statistics.median(durations) if durations else None,
        p95_seconds=durations[math.ceil(0.95 * len(durations)) - 1] if durations else None,
        top_users=[(user, count) for user, count in top if count > 0],
        daily=_daily(rows, list(per_day)),
    )


def _daily(rows: Sequence[Row], days: list[str]) -> list[DayUsage]:
    """Per UTC day of ``finished_at``: the same counts and timings as Stats gives in total."""
    images: dict[str, Counter[str]] = {day: Counter() for day in days}
    ended: dict[str, Counter[str]] = {day: Counter() for day in days}
    durations: dict[str, list[float]] = {day: [] for day in days}
    for row in rows:
        day = datetime.fromtimestamp(row["finished_at"], UTC).strftime("%Y-%m-%d")
        ended.setdefault(day, Counter())[row["status"]] += 1
        if row["status"] != "succeeded":
            continue
        images.setdefault(day, Counter())[row["provider"]] += row["images"]
        if row["started_at"] is not None:
            durations.setdefault(day, []).append(row["finished_at"] - row["started_at"])
    usage = []
    for day in sorted(ended):
        spans = sorted(durations.get(day, []))
        usage.append(
            DayUsage(
                day=day,
                images=dict(images.get(day, {})),
                succeeded=ended[day]["succeeded"],
                failed=ended[day]["failed"],
                median_seconds=statistics.median(spans) if spans else None,
                p95_seconds=spans[math.ceil(0.95 * len(spans)) - 1] if spans else None,
            )
        )
    return usage


def _from_row(cls: type[R], row: Row, **values: Any) -> R:
    """A record from a row whose columns share the record's field names; ``values`` for
    the fields stored differently."""
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: values[name] if name in values else row[name] for name in names})


def _ban(row: Row) -> Ban:
    return _from_row(Ban, row)


def _term(row: Row) -> Term:
    return _from_row(Term, row, regex=bool(row["is_regex"]))


def _entry(row: Row) -> AuditEntry:
    return _from_row(AuditEntry, row, details=json.loads(row["details"]))


def _report(row: Row) -> Report:
    return _from_row(Report, row)
