"""Blocked terms: whole words or moderators' regexes, their safety checks and their matching."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import regex

from bot.errors import BlockedPrompt, InvalidTerm
from bot.moderation.audit import record_in
from bot.moderation.common import CACHE_SECONDS, from_row, insert
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
PROBE_TIMEOUT = 0.05
PROBE_LENGTH = 2000
FLAGS = regex.IGNORECASE


@dataclass(frozen=True, slots=True)
class Term:
    term_id: int
    guild_id: int | None
    pattern: str
    regex: bool
    actor_id: int
    created_at: float


@dataclass(frozen=True, slots=True)
class _Compiled:
    term: str
    pattern: regex.Pattern[str]
    slow: bool = False  # a moderator's regex, which may backtrack; plain words never do


class TermStore:
    """Blocked terms in the database, compiled once per guild and kept in this process until
    this store adds or removes one there."""

    def __init__(self, db: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        # Kept CACHE_SECONDS, like bans and tiers: another process (a bot cluster of the
        # scaled mode) may add or remove terms; a change made here is seen at once.
        self._compiled: dict[int | None, tuple[float, tuple[_Compiled, ...]]] = {}
        self._generation = 0
        self._slow: set[tuple[int | None, str]] = set()

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
            term_id = await insert(
                conn,
                "INSERT INTO blocked_terms (guild_id, pattern, is_regex, actor_id, created_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING term_id",
                (guild_id, pattern, regex, actor_id, now),
            )
            await record_in(
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
            await record_in(
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


def _term(row: Row) -> Term:
    return from_row(Term, row, regex=bool(row["is_regex"]))
