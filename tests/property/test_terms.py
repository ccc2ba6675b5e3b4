"""Properties of blocked terms: adding any text is safe and bounded, and so is screening.

Each property is a synchronous ``@given`` function inside a test that opens one database on
an ``asyncio.Runner``; every example runs its coroutine with ``runner.run`` and works in a
guild of its own, so examples never see each other's terms. "Bounded" is asserted on what the
code asks of the regex module (tests/fakes/watched_regex.py), not on the clock of a machine
that may be loaded: a timed figure lives in bench/.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.errors import InvalidTerm
from bot.moderation import Moderation
from bot.moderation.terms import MATCH_TIMEOUT, PROBE_TIMEOUT
from bot.storage import Database
from tests.fakes.watched_regex import watch_regex

MOD = 1
# Adding a term must answer within a second even if every search it makes runs to its time-out.
ADD_SECONDS = 1.0
# The regex compiler unrolls counted repeats: a product in the millions takes it over a second
# and gigabytes, so no pattern with more than this many may reach it.
MOST_UNROLLED = 100_000
COUNT = re.compile(r"\{(\d+)\}")

REGEX_ALPHABET = list("()[]{}*+?|^$\\.-,:<>=!#&~ 0123456789abcdwWsSpPN_")
# The regex compiler spends time and memory on every repeat, nested repeats multiplied: three
# million in all take it over a second and most of a gigabyte; far more would take gigabytes
# before any check could run. Nothing in between, where a time limit would be a coin toss.
COUNTS = st.sampled_from([0, 1, 2, 100, 1000, 65535, 3_000_000])
INNER, OUTER = st.sampled_from([1, 100, 1000]), st.sampled_from([1, 100, 3000])
CRAFTED = st.one_of(
    st.sampled_from(
        [
            "(a+)+$",
            "(a|aa)*b",
            "(\\w|_)*!",
            "(.*a){12}",
            "(?<=a+)b",
            "(?e)(?:cat){e<=1}",
            "(?r)x",
            "(?V1)[[a-z]--[aeiou]]",
            "\\p{Greek}+",
            "(?P<x>a)(?P=x)",
            "(a(?1)?b)",
            "(*SKIP)(*FAIL)|a",
            "\\N{BOGUS}",
            "[[:alpha:]]+",
            "a{,5}",
            "%_'); DROP TABLE blocked_terms;--",
        ]
    ),
    st.builds("x{{{}}}".format, COUNTS),
    st.builds("(?:ab{{{}}}){{{}}}".format, INNER, OUTER),
)
PATTERNS = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(REGEX_ALPHABET), max_size=40),
    st.builds(lambda unit, n: unit * n, st.text(min_size=1, max_size=4), st.integers(40, 80)),
    CRAFTED,
)
TERMS = st.tuples(PATTERNS, st.booleans())


@pytest.fixture
def moderation(tmp_path: Path) -> Iterator[tuple[asyncio.Runner, Moderation]]:
    with asyncio.Runner() as runner:
        db = runner.run(Database.open(tmp_path / "bot.sqlite3"))
        try:
            yield runner, Moderation(db)
        finally:
            runner.run(db.close())


def _stored_form(pattern: str, is_regex: bool) -> str:
    return pattern.strip() if is_regex else " ".join(pattern.split())


async def _add(mod: Moderation, guild: int, pattern: str, is_regex: bool) -> bool:
    try:
        term_id = await mod.add_term(guild, pattern, regex=is_regex, actor_id=MOD)
    except InvalidTerm:
        return False
    stored = {term.term_id: term for term in await mod.terms(guild)}[term_id]
    assert (stored.pattern, stored.regex) == (_stored_form(pattern, is_regex), is_regex)
    return True


def test_adding_any_term_stores_it_or_refuses_it_with_invalid_term(
    moderation: tuple[asyncio.Runner, Moderation],
):
    runner, mod = moderation
    guilds = itertools.count(1)

    @given(st.lists(TERMS, min_size=1, max_size=3))
    @example([("0", False), ("0", True)])
    @settings(max_examples=150, deadline=None)
    def check(terms: list[tuple[str, bool]]) -> None:
        guild = next(guilds)
        for pattern, is_regex in terms:
            runner.run(_add(mod, guild, pattern, is_regex))

    check()


def unrolled(pattern: str) -> int:
    """A lower bound on the repeats the compiler would unroll: the exact counts multiplied."""
    return math.prod(int(n) for n in COUNT.findall(pattern))


def test_adding_a_term_does_bounded_work_off_the_event_loop(
    moderation: tuple[asyncio.Runner, Moderation], monkeypatch: pytest.MonkeyPatch
):
    runner, mod = moderation
    guilds = itertools.count(1)
    watch = watch_regex(monkeypatch)

    @given(TERMS)
    @example(("x{3000000}", True))
    @example(("(?:ab{1000}){3000}", True))
    @example(("(a|aa)*b", True))
    @settings(max_examples=150, deadline=None)
    def check(term: tuple[str, bool]) -> None:
        pattern, is_regex = term
        watch.clear()
        with contextlib.suppress(InvalidTerm):
            runner.run(mod.add_term(next(guilds), pattern, regex=is_regex, actor_id=MOD))
        assert all(unrolled(compiled) <= MOST_UNROLLED for compiled in watch.compiled)
        timeouts = [search.timeout for search in watch.searches]
        assert all(t is not None and t <= PROBE_TIMEOUT for t in timeouts), timeouts
        assert sum(t for t in timeouts if t is not None) <= ADD_SECONDS
        assert threading.get_ident() not in {
            *watch.compiled_on,
            *(s.thread for s in watch.searches),
        }

    check()


PROMPTS = st.one_of(
    st.text(max_size=200),
    st.builds(lambda unit, n: unit * n, st.text(min_size=1, max_size=3), st.integers(1, 3000)),
    st.builds(lambda n: "a" * n + "\x00", st.integers(20, 3000)),
)


def test_checking_a_prompt_never_raises_and_bounds_every_search(
    moderation: tuple[asyncio.Runner, Moderation], monkeypatch: pytest.MonkeyPatch
):
    runner, mod = moderation
    guilds = itertools.count(1)
    watch = watch_regex(monkeypatch)

    @given(TERMS, st.lists(st.tuples(PROMPTS, st.booleans()), min_size=1, max_size=3))
    @example(("(\\w|_)*!", True), [("_" * 40, False)])
    @example(("x{3000000}", True), [("x", False)])
    @settings(max_examples=100, deadline=None)
    def check(term: tuple[str, bool], prompts: list[tuple[str, bool]]) -> None:
        guild = next(guilds)
        pattern, is_regex = term
        with contextlib.suppress(InvalidTerm):
            runner.run(mod.add_term(guild, pattern, regex=is_regex, actor_id=MOD))
        for prompt, sfw in prompts:
            watch.clear()
            found = runner.run(mod.check_prompt(prompt, guild_id=guild, sfw=sfw))
            assert found is None or isinstance(found, str)
            assert all(s.timeout is not None and s.timeout <= MATCH_TIMEOUT for s in watch.searches)
            if is_regex:  # a moderator's regex may backtrack: never on the event loop
                mine = [s for s in watch.searches if s.pattern == pattern.strip()]
                assert threading.get_ident() not in {s.thread for s in mine}

    check()
