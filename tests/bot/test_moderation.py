from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import Banned, BlockedPrompt, InvalidTerm
from bot.members import MemberStore
from bot.moderation import DayUsage, ModelUsage, Moderation, Tier
from bot.moderation.terms import PROBE_TIMEOUT
from bot.runtime import Runtime
from bot.storage import Database
from tests.bot.helpers import submit
from tests.fakes.watched_regex import watch_regex

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC).timestamp()
DAY = 86400.0
GUILD, OTHER = 100, 200
MOD, OWNER = 1, 2


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    yield database
    await database.close()


@pytest.fixture
def mod(db: Database, clock: Clock) -> Moderation:
    return Moderation(db, clock)


async def insert_job(
    db: Database,
    user: int,
    *,
    guild: int | None = GUILD,
    status: str = "succeeded",
    images: int = 1,
    provider: str = "fake",
    model: str = "fake-v1",
    prompt: str = "a lighthouse",
    created: float = NOW - 60,
    seconds: float = 10.0,
    finished: float | None = NOW - 30,
) -> int:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO users (user_id, created_at) VALUES (?, 0) ON CONFLICT DO NOTHING",
            (user,),
        )
        async with conn.execute(
            "INSERT INTO jobs (user_id, guild_id, origin, provider, model, request, status, "
            "max_attempts, timeout_seconds, fair_tag, cost, quota_scope, quota_period, "
            "created_at, started_at, finished_at) "
            "VALUES (?, ?, 'discord', ?, ?, ?, ?, 1, 60, 0, 1, 0, '', ?, ?, ?) RETURNING job_id",
            (
                user,
                guild,
                provider,
                model,
                json.dumps({"prompt": prompt}),
                status,
                created,
                None if finished is None else finished - seconds,
                finished,
            ),
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        job_id = int(row[0])
        for index in range(images):
            await conn.execute(
                "INSERT INTO job_images (job_id, idx, path, width, height) "
                "VALUES (?, ?, 'x.png', 64, 64)",
                (job_id, index),
            )
        return job_id


async def actions(mod: Moderation, guild: int | None = None) -> list[str]:
    return [entry.action for entry in (await mod.audit(guild, per_page=100)).entries]


# Bans


async def test_a_guild_ban_applies_only_in_its_guild(mod: Moderation):
    ban_id = await mod.ban(7, guild_id=GUILD, actor_id=MOD, reason="spam", expires_at=None)
    ban = await mod.active_ban(7, GUILD)
    assert ban is not None and (ban.ban_id, ban.reason, ban.is_global) == (ban_id, "spam", False)
    assert await mod.active_ban(7, OTHER) is None
    assert await mod.active_ban(7, None) is None
    assert await mod.active_ban(8, GUILD) is None


async def test_a_global_ban_applies_in_every_guild_and_in_dms(mod: Moderation):
    await mod.ban(7, guild_id=None, actor_id=OWNER, reason="abuse", expires_at=None)
    for guild in (GUILD, OTHER, None):
        ban = await mod.active_ban(7, guild)
        assert ban is not None and ban.is_global


async def test_a_ban_ends_at_its_expiry(mod: Moderation, clock: Clock):
    await mod.ban(7, guild_id=GUILD, actor_id=MOD, reason="", expires_at=NOW + DAY)
    clock.now = NOW + DAY - 1
    assert await mod.active_ban(7, GUILD) is not None
    clock.now = NOW + DAY
    assert await mod.active_ban(7, GUILD) is None
    assert await mod.bans(GUILD) == []


async def test_the_longest_ban_is_the_one_shown(mod: Moderation):
    await mod.ban(7, guild_id=None, actor_id=OWNER, reason="short", expires_at=NOW + 60)
    await mod.ban(7, guild_id=GUILD, actor_id=MOD, reason="forever", expires_at=None)
    ban = await mod.active_ban(7, GUILD)
    assert ban is not None and ban.reason == "forever"


async def test_a_new_ban_replaces_the_active_one(mod: Moderation):
    await mod.ban(7, guild_id=GUILD, actor_id=MOD, reason="first", expires_at=NOW + 60)
    await mod.ban(7, guild_id=GUILD, actor_id=MOD, reason="second", expires_at=None)
    await mod.ban(8, guild_id=GUILD, actor_id=MOD, reason="other", expires_at=None)
    await mod.ban(7, guild_id=OTHER, actor_id=MOD, reason="elsewhere", expires_at=None)
    assert [(b.user_id, b.reason) for b in await mod.bans(GUILD)] == [(8, "other"), (7, "second")]
    assert [b.reason for b in await mod.bans(OTHER)] == ["elsewhere"]
    assert await mod.bans(None) == []


async def test_unban_lifts_the_ban_and_reports_when_there_was_none(mod: Moderation):
    await mod.ban(7, guild_id=GUILD, actor_id=MOD, reason="spam", expires_at=None)
    await mod.ban(7, guild_id=None, actor_id=OWNER, reason="abuse", expires_at=None)
    assert await mod.unban(7, guild_id=GUILD, actor_id=MOD) is True
    assert await mod.unban(7, guild_id=GUILD, actor_id=MOD) is False
    ban = await mod.active_ban(7, GUILD)
    assert ban is not None and ban.is_global


async def test_a_ban_that_ends_in_the_past_is_refused(mod: Moderation):
    with pytest.raises(ValueError):
        await mod.ban(7, guild_id=GUILD, actor_id=MOD, reason="", expires_at=NOW)


async def test_a_banned_member_is_refused_with_the_reason_and_the_end(mod: Moderation):
    await mod.ban(7, guild_id=GUILD, actor_id=MOD, reason="spam.", expires_at=NOW + DAY)
    with pytest.raises(Banned) as refused:
        await mod.ensure_not_banned(7, GUILD)
    assert refused.value.user_message == (
        "You can't use the image bot here: spam. (until 2025-03-11 12:00 UTC)"
    )
    await mod.ensure_not_banned(7, OTHER)


def test_the_ban_message_leaves_out_what_is_empty():
    assert Banned().user_message == "You can't use the image bot here."
    assert Banned(reason="spam").user_message == "You can't use the image bot here: spam."


# Blocked terms


async def test_a_plain_term_matches_whole_words_in_any_case(mod: Moderation):
    await mod.add_term(GUILD, "Cat", regex=False, actor_id=MOD)
    await mod.add_term(GUILD, "c++", regex=False, actor_id=MOD)
    for text in ("a CAT on a mat", "cat.", "(cat)", "ｃａｔ in fullwidth", "I like c++ code"):
        assert await mod.check_prompt(text, guild_id=GUILD, sfw=False) is not None, text
    for text in ("concatenate", "cats", "bobcat", "c+ code", ""):
        assert await mod.check_prompt(text, guild_id=GUILD, sfw=False) is None, text
    assert await mod.check_prompt("a cat", guild_id=GUILD, sfw=False) == "Cat"


async def test_a_plain_term_of_several_words_allows_any_spacing(mod: Moderation):
    await mod.add_term(GUILD, "  big   cat ", regex=False, actor_id=MOD)
    assert [t.pattern for t in await mod.terms(GUILD)] == ["big cat"]
    assert await mod.check_prompt("a BIG\n cat", guild_id=GUILD, sfw=False) == "big cat"
    assert await mod.check_prompt("a big black cat", guild_id=GUILD, sfw=False) is None


async def test_guild_terms_stay_in_their_guild_and_global_terms_apply_everywhere(
    mod: Moderation,
):
    await mod.add_term(GUILD, "dog", regex=False, actor_id=MOD)
    await mod.add_term(None, "wolf", regex=False, actor_id=OWNER)
    assert await mod.check_prompt("a dog", guild_id=GUILD, sfw=False) == "dog"
    assert await mod.check_prompt("a dog", guild_id=OTHER, sfw=False) is None
    for guild in (GUILD, OTHER, None):
        assert await mod.check_prompt("a wolf", guild_id=guild, sfw=False) == "wolf"
    assert [t.pattern for t in await mod.terms(None)] == ["wolf"]


async def test_the_built_in_list_applies_only_where_the_venue_is_sfw(mod: Moderation):
    assert await mod.check_prompt("a NUDE statue", guild_id=GUILD, sfw=True) == "nude"
    assert await mod.check_prompt("a nude statue", guild_id=GUILD, sfw=False) is None
    assert await mod.check_prompt("Essex at dusk", guild_id=None, sfw=True) is None
    assert await mod.terms(GUILD) == []


async def test_screening_names_the_field_and_spares_sfw_words_in_the_negative_prompt(
    mod: Moderation,
):
    await mod.add_term(GUILD, "gore", regex=False, actor_id=MOD)
    await mod.screen("a castle", "nsfw, nude", guild_id=GUILD, sfw=True)
    with pytest.raises(BlockedPrompt) as refused:
        await mod.screen("a castle", "blur, gore", guild_id=GUILD, sfw=True)
    assert refused.value.user_message == (
        "Your negative prompt contains a blocked term (gore); nothing was queued or charged."
    )
    with pytest.raises(BlockedPrompt) as refused:
        await mod.screen("a naked castle", guild_id=GUILD, sfw=True)
    assert (refused.value.term, refused.value.field) == ("naked", "prompt")


async def test_a_regex_term_blocks_what_it_matches(mod: Moderation):
    await mod.add_term(GUILD, r"n[\W_]*[u\*][\W_]*d[\W_]*[e3]", regex=True, actor_id=MOD)
    assert await mod.check_prompt("n.u.d.3 art", guild_id=GUILD, sfw=False) is not None
    assert await mod.check_prompt("a nice dune", guild_id=GUILD, sfw=False) is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(unclosed", "not a valid regular expression"),
        ("a" * 201, "longer than 200 characters"),
        ("x*", "matches an empty prompt"),
        ("   ", "empty"),
    ],
)
async def test_a_bad_regex_is_refused_with_the_reason(mod: Moderation, pattern: str, why: str):
    with pytest.raises(InvalidTerm) as refused:
        await mod.add_term(GUILD, pattern, regex=True, actor_id=MOD)
    assert why in refused.value.user_message
    assert await mod.terms(GUILD) == []


@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"^(\w+\s?)*!", r"(?:x+y?){2,}z", r"((ab)*)+c", r"(a|aa)+$"]
)
async def test_a_regex_that_could_stall_the_bot_is_refused_by_bounded_checks(
    mod: Moderation, pattern: str, monkeypatch: pytest.MonkeyPatch
):
    watch = watch_regex(monkeypatch)
    with pytest.raises(InvalidTerm) as refused:
        await mod.add_term(GUILD, pattern, regex=True, actor_id=MOD)
    why = refused.value.user_message
    assert "stall" in why or "forever" in why
    if "forever" in why:  # a nested repeat is refused on sight, before any search
        assert watch.searches == []
    # otherwise by probes that give up at their time-out, in a thread beside the event loop
    assert all(
        s.timeout is not None and s.timeout <= PROBE_TIMEOUT and s.thread != threading.get_ident()
        for s in watch.searches
    )
    assert await mod.terms(GUILD) == []


@pytest.mark.parametrize(
    "pattern", [r"(cat|dog)s?", r"\bfo{2,3}\b", r"[(+]+x", r"(ab)+c", r"\p{Lu}{3,}"]
)
async def test_an_ordinary_regex_is_accepted(mod: Moderation, pattern: str):
    assert await mod.add_term(GUILD, pattern, regex=True, actor_id=MOD) > 0


async def test_a_duplicate_term_is_refused_but_other_guilds_may_have_it(mod: Moderation):
    await mod.add_term(GUILD, "cat", regex=False, actor_id=MOD)
    await mod.add_term(GUILD, "c.t", regex=True, actor_id=MOD)
    await mod.add_term(None, "cat", regex=False, actor_id=OWNER)
    for pattern, is_regex in (("CAT", False), ("c.t", True)):
        with pytest.raises(InvalidTerm, match="already blocked"):
            await mod.add_term(GUILD, pattern, regex=is_regex, actor_id=MOD)
    with pytest.raises(InvalidTerm):
        await mod.add_term(None, "Cat", regex=False, actor_id=OWNER)
    await mod.add_term(OTHER, "cat", regex=False, actor_id=MOD)
    assert len(await mod.terms(GUILD)) == 2


async def test_a_term_is_removed_by_pattern_or_by_id(mod: Moderation):
    await mod.add_term(GUILD, "cat", regex=False, actor_id=MOD)
    dog = await mod.add_term(GUILD, "dog", regex=False, actor_id=MOD)
    assert await mod.remove_term(GUILD, "CAT", actor_id=MOD) is True
    assert await mod.remove_term(OTHER, str(dog), actor_id=MOD) is False
    assert await mod.remove_term(GUILD, str(dog), actor_id=MOD) is True
    assert await mod.remove_term(GUILD, "cat", actor_id=MOD) is False
    assert await mod.terms(GUILD) == []


async def test_compiled_terms_are_cached_until_this_store_changes_them(
    mod: Moderation, db: Database, clock: Clock
):
    assert await mod.check_prompt("a cat and a dog", guild_id=GUILD, sfw=False) is None
    await Moderation(db, clock).add_term(GUILD, "dog", regex=False, actor_id=MOD)
    assert await mod.check_prompt("a cat and a dog", guild_id=GUILD, sfw=False) is None

    await mod.add_term(GUILD, "cat", regex=False, actor_id=MOD)
    assert await mod.check_prompt("a dog", guild_id=GUILD, sfw=False) == "dog"
    await mod.remove_term(GUILD, "dog", actor_id=MOD)
    assert await mod.check_prompt("a dog", guild_id=GUILD, sfw=False) is None
    assert await mod.check_prompt("a cat", guild_id=GUILD, sfw=False) == "cat"


# Passes every check when added (no nested repeat, quick on the probe strings), yet backtracks
# for seconds on a long run of dashes: a prompt built to stall it.
STALLING_TERM = "-.*-.*-.*-.*="
STALLING_PROMPT = "-" * 1400 + "!"


async def test_a_term_that_times_out_blocks_the_prompt_and_is_logged_once(
    mod: Moderation, caplog: pytest.LogCaptureFixture
):
    await mod.add_term(GUILD, STALLING_TERM, regex=True, actor_id=MOD)
    with caplog.at_level(logging.WARNING, logger="bot.moderation"):
        for _ in range(2):
            with pytest.raises(BlockedPrompt) as refused:
                await mod.screen(STALLING_PROMPT, guild_id=GUILD, sfw=False)
            assert refused.value.term == STALLING_TERM and refused.value.timed_out
            assert STALLING_TERM not in str(refused.value)  # the member is not shown the pattern
    assert [r.getMessage() for r in caplog.records if "timed out" in r.getMessage()] == [
        f"Blocked term {STALLING_TERM!r} timed out on a prompt in guild 100 and blocked it; "
        "a simpler pattern would stop these refusals"
    ]
    assert await mod.check_prompt("a quiet harbour - at dusk", guild_id=GUILD, sfw=False) is None


async def test_a_timed_out_term_is_named_in_the_audit_log(runtime: Runtime):
    await runtime.moderation.add_term(GUILD, STALLING_TERM, regex=True, actor_id=MOD)
    with pytest.raises(BlockedPrompt):
        await submit(runtime, 7, STALLING_PROMPT, guild=GUILD)
    rows = await runtime.db.fetchall("SELECT action, reason FROM audit_log ORDER BY entry_id")
    assert [(row["action"], row["reason"]) for row in rows][-1] == (
        "prompt.blocked",
        f"prompt: {STALLING_TERM} (timed out, counted as a match)",
    )
    assert await runtime.db.fetchall("SELECT job_id FROM jobs") == []


# Audit log


async def test_every_change_is_audited_with_its_details(mod: Moderation, db: Database):
    report, _ = await MemberStore(db, Path()).file_report(
        await insert_job(db, 7), reporter_id=9, guild_id=GUILD
    )
    await mod.ban(7, guild_id=GUILD, actor_id=MOD, reason="spam", expires_at=NOW + 60)
    await mod.unban(7, guild_id=GUILD, actor_id=MOD)
    term = await mod.add_term(GUILD, "cat", regex=False, actor_id=MOD)
    await mod.remove_term(GUILD, "cat", actor_id=MOD)
    await mod.set_tier(Tier(GUILD, 55, "patron", daily_units=200), actor_id=MOD)
    await mod.remove_tier(GUILD, 55, actor_id=MOD)
    await mod.resolve_report(report, actor_id=MOD, status="dismissed")

    entries = (await mod.audit(GUILD, per_page=100)).entries
    assert [e.action for e in entries] == [
        "report.dismissed",
        "tier.remove",
        "tier.set",
        "term.remove",
        "term.add",
        "unban",
        "ban",
    ]
    ban = entries[-1]
    assert (ban.actor_id, ban.target_id, ban.reason) == (MOD, 7, "spam")
    assert ban.details["expires_at"] == NOW + 60
    assert entries[3].target_id == term and entries[3].details == {"pattern": "cat", "regex": False}
    assert entries[2].details["daily_units"] == 200


async def test_changes_that_change_nothing_are_not_audited(mod: Moderation):
    assert await mod.unban(7, guild_id=GUILD, actor_id=MOD) is False
    assert await mod.remove_term(GUILD, "cat", actor_id=MOD) is False
    assert await mod.remove_tier(GUILD, 55, actor_id=MOD) is False
    assert await mod.resolve_report(404, actor_id=MOD, status="resolved") is False
    assert await actions(mod) == []


async def test_the_audit_log_pages_newest_first_per_guild_or_for_all(mod: Moderation, clock: Clock):
    for n in range(12):
        clock.now = NOW + n
        entry = await mod.record(
            guild_id=GUILD if n % 4 else OTHER,
            actor_id=MOD,
            action="note",
            target_id=n,
            reason=f"n{n}",
            details={"n": n},
        )
        assert (entry.target_id, entry.reason, entry.details, entry.created_at) == (
            n,
            f"n{n}",
            {"n": n},
            NOW + n,
        )

    first = await mod.audit(GUILD, per_page=5)
    last = await mod.audit(GUILD, page=7, per_page=5)
    assert (first.page, first.pages, first.total) == (0, 2, 9)
    assert [e.target_id for e in first.entries] == [11, 10, 9, 7, 6]
    assert (last.page, [e.target_id for e in last.entries]) == (1, [5, 3, 2, 1])
    everything = await mod.audit(None, per_page=5)
    assert (everything.total, everything.entries[0].target_id) == (12, 11)
    assert (await mod.audit(OTHER, page=-1)).page == 0


# Tiers


async def test_tiers_round_trip_and_a_role_has_one_tier(mod: Moderation):
    patron = Tier(
        GUILD,
        55,
        "patron",
        daily_units=200,
        max_queued=5,
        max_width=1024,
        max_height=1024,
        max_steps=50,
        max_count=4,
        cooldown_seconds=2.5,
        priority=3.0,
    )
    await mod.set_tier(patron, actor_id=MOD)
    await mod.set_tier(Tier(GUILD, 66, "booster"), actor_id=MOD)
    await mod.set_tier(Tier(OTHER, 55, "elsewhere"), actor_id=MOD)
    assert await mod.tiers(GUILD) == [patron, Tier(GUILD, 66, "booster")]

    cheaper = Tier(GUILD, 55, "patron", daily_units=100)
    await mod.set_tier(cheaper, actor_id=MOD)
    assert await mod.tiers(GUILD) == [Tier(GUILD, 66, "booster"), cheaper]
    assert await mod.remove_tier(GUILD, 66, actor_id=MOD) is True
    assert await mod.tiers(GUILD) == [cheaper]


@pytest.mark.parametrize(
    "tier",
    [
        Tier(GUILD, 55, " "),
        Tier(GUILD, 55, "x", daily_units=-1),
        Tier(GUILD, 55, "x", max_count=0),
        Tier(GUILD, 55, "x", priority=0),
    ],
)
async def test_a_tier_out_of_range_is_refused(mod: Moderation, tier: Tier):
    with pytest.raises(ValueError):
        await mod.set_tier(tier, actor_id=MOD)
    assert await mod.tiers(GUILD) == []


# Reports


async def test_a_report_is_resolved_once_and_keeps_its_moderator_post(
    mod: Moderation, db: Database, clock: Clock
):
    members = MemberStore(db, Path())
    job = await insert_job(db, 7)
    report_id, _ = await members.file_report(job, reporter_id=9, guild_id=GUILD, reason="gore")
    other, _ = await members.file_report(job, reporter_id=10, guild_id=OTHER)
    in_dm, _ = await members.file_report(job, reporter_id=11, guild_id=None)
    await mod.set_report_message(report_id, 500, 600)

    assert [r.report_id for r in await mod.open_reports(GUILD)] == [report_id]
    assert [r.report_id for r in await mod.open_reports(None)] == [report_id, other, in_dm]
    clock.now = NOW + 5
    assert await mod.resolve_report(report_id, actor_id=MOD, status="resolved") is True
    assert await mod.resolve_report(report_id, actor_id=MOD, status="dismissed") is False

    report = await mod.report(report_id)
    assert report is not None
    assert (report.status, report.resolver_id, report.resolved_at) == ("resolved", MOD, NOW + 5)
    assert (report.reason, report.job_id, report.channel_id, report.message_id) == (
        "gore",
        job,
        500,
        600,
    )
    assert await mod.open_reports(GUILD) == []
    assert await mod.report(404) is None


# Stats and prompts


async def test_stats_count_images_models_failures_and_run_times(mod: Moderation, db: Database):
    yesterday = NOW - DAY
    await insert_job(db, 7, images=4, seconds=10, finished=yesterday)
    await insert_job(db, 7, images=2, seconds=20)
    await insert_job(db, 8, images=1, seconds=30, provider="remote", model="sdxl")
    await insert_job(db, 9, status="failed", images=0)
    await insert_job(db, 9, status="cancelled", images=0)
    await insert_job(db, 9, status="running", images=0, finished=None)
    await insert_job(db, 10, images=8, guild=OTHER)
    await insert_job(db, 11, images=8, finished=NOW - 8 * DAY)

    stats = await mod.stats(GUILD, days=3)

    assert stats.images_per_day == [("2025-03-08", 0), ("2025-03-09", 4), ("2025-03-10", 3)]
    assert stats.models == [
        ModelUsage("fake", "fake-v1", jobs=4, images=6),
        ModelUsage("remote", "sdxl", jobs=1, images=1),
    ]
    assert (stats.succeeded, stats.failed, stats.cancelled) == (3, 1, 1)
    assert stats.failure_rate == 0.25
    assert (stats.median_seconds, stats.p95_seconds) == (20, 30)
    assert stats.top_users == [(7, 6), (8, 1)]
    everywhere = await mod.stats(None, days=10, now=NOW)
    assert everywhere.top_users[:2] == [(10, 8), (11, 8)]


async def test_stats_of_a_quiet_window_are_empty(mod: Moderation):
    stats = await mod.stats(GUILD, days=1)
    assert stats.images_per_day == [("2025-03-10", 0)]
    assert (stats.models, stats.top_users, stats.failure_rate, stats.median_seconds) == (
        [],
        [],
        None,
        None,
    )


async def test_stats_per_day_give_images_by_provider_failures_and_run_times(
    mod: Moderation, db: Database
):
    await insert_job(db, 7, images=4, seconds=10, finished=NOW - DAY)
    await insert_job(db, 7, images=2, seconds=20)
    await insert_job(db, 8, images=1, seconds=30, provider="remote", model="sdxl")
    await insert_job(db, 9, status="failed", images=0, seconds=99)
    await insert_job(db, 9, status="cancelled", images=0)
    await insert_job(db, 10, images=8, guild=OTHER)

    stats = await mod.stats(GUILD, days=3)

    assert stats.daily == [
        DayUsage("2025-03-08", {}, succeeded=0, failed=0, median_seconds=None, p95_seconds=None),
        DayUsage("2025-03-09", {"fake": 4}, 1, 0, median_seconds=10, p95_seconds=10),
        DayUsage("2025-03-10", {"fake": 2, "remote": 1}, 2, 1, median_seconds=25, p95_seconds=30),
    ]
    assert [(d.day, sum(d.images.values())) for d in stats.daily] == stats.images_per_day


async def test_recent_prompts_are_the_members_newest_first(mod: Moderation, db: Database):
    first = await insert_job(db, 7, prompt="one", created=NOW - 30)
    second = await insert_job(db, 7, prompt="two", created=NOW - 20, status="queued")
    await insert_job(db, 7, prompt="elsewhere", created=NOW - 10, guild=OTHER)
    await insert_job(db, 8, prompt="theirs", created=NOW)
    assert await mod.recent_prompts(7, GUILD) == [
        (second, "two", NOW - 20),
        (first, "one", NOW - 30),
    ]
    assert [p for _, p, _ in await mod.recent_prompts(7, None, limit=2)] == ["elsewhere", "two"]


async def test_delivered_messages_are_the_members_posts_in_that_guild(
    mod: Moderation, db: Database
):
    posted = await insert_job(db, 7)
    private = await insert_job(db, 7)
    await insert_job(db, 7)
    elsewhere = await insert_job(db, 7, guild=OTHER)
    theirs = await insert_job(db, 8)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO deliveries (job_id, delivered_at, reference) VALUES (?, 0, ?)",
            [(posted, "900"), (private, None), (elsewhere, "901"), (theirs, "902")],
        )
    assert await mod.delivered_messages(7, GUILD) == [(posted, "900")]
