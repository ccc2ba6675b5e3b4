"""Properties of blocked terms: adding any text is safe and quick, and so is screening.

Each property is a synchronous ``@given`` function inside a test that opens one database on
an ``asyncio.Runner``; every example runs its coroutine with ``runner.run`` and works in a
guild of its own, so examples never see each other's terms. The regex module keeps compiled
patterns in a cache; a timed call purges it first and pays for a cold compile, as after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import regex
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.errors import InvalidTerm
from bot.moderation import Moderation
from bot.storage import Database

MOD = 1
ADD_SECONDS = 1.0
CHECK_SECONDS = 0.5

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


def test_adding_a_term_answers_within_a_second(moderation: tuple[asyncio.Runner, Moderation]):
    runner, mod = moderation
    guilds = itertools.count(1)

    @given(TERMS)
    @example(("x{3000000}", True))
    @settings(max_examples=150, deadline=None)
    def check(term: tuple[str, bool]) -> None:
        pattern, is_regex = term
        regex.purge()
        started = time.perf_counter()
        with contextlib.suppress(InvalidTerm):
            runner.run(mod.add_term(next(guilds), pattern, regex=is_regex, actor_id=MOD))
        assert time.perf_counter() - started < ADD_SECONDS

    check()


PROMPTS = st.one_of(
    st.text(max_size=200),
    st.builds(lambda unit, n: unit * n, st.text(min_size=1, max_size=3), st.integers(1, 3000)),
    st.builds(lambda n: "a" * n + "\x00", st.integers(20, 3000)),
)


def test_checking_a_prompt_never_raises_and_answers_within_half_a_second(
    moderation: tuple[asyncio.Runner, Moderation],
):
    runner, mod = moderation
    guilds = itertools.count(1)

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
            regex.purge()
            started = time.perf_counter()
            found = runner.run(mod.check_prompt(prompt, guild_id=guild, sfw=sfw))
            assert time.perf_counter() - started < CHECK_SECONDS
            assert found is None or isinstance(found, str)

    check()
