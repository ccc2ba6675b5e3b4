"""Classic SQL injection payloads stored wherever members and moderators write text: each
reads back byte for byte, and every table is still there with the rows it should have."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs import Requester
from bot.members import Preferences
from bot.moderation import MAX_PATTERN
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets
from bot.storage import Database
from engine import GenerationRequest
from tests.conftest import make_settings

GUILD, CHANNEL, MOD = 1, 2, 3
PAYLOADS = (
    "'); DROP TABLE jobs;--",
    "Robert'); DROP TABLE users; --",
    '" OR 1=1 --',
    "' OR '1'='1",
    "1; DELETE FROM quota_ledger WHERE 1=1",
    "' UNION SELECT * FROM bans --",
    "\\'; SELECT sqlite_version(); --",
    "*/ /* -- #",
    "?, ?, ?",
    ":name @p $x ?1",
    "\x00",
    "a\x00b'\x00--",
    "%",
    "_",
    "%_%\\",
    "🙂 مرحبا \u202e",
    ("'); DROP TABLE jobs;--" * 273)[:6000],
)
SHORT_PAYLOADS = tuple(payload for payload in PAYLOADS if len(payload) <= MAX_PATTERN)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """Room for the longest payload as a prompt, and for every payload as a job."""
    settings = make_settings(
        tmp_path,
        quota={"daily_units": 10**6},
        queue={"max_queued_per_user": 1000},
        limits={"max_prompt_length": 6000},
    )
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as opened:
        yield opened


async def row_counts(db: Database) -> dict[str, int]:
    tables = await db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    counts = {}
    for table in tables:
        row = await db.fetchone(f'SELECT COUNT(*) FROM "{table["name"]}"')
        assert row is not None
        counts[table["name"]] = int(row[0])
    return counts


async def test_prompts_and_negative_prompts_read_back_byte_for_byte(runtime: Runtime):
    before = await row_counts(runtime.db)
    for user, payload in enumerate(PAYLOADS, start=100):
        request = GenerationRequest(payload, negative_prompt=payload)
        job = await runtime.service.submit(request, Requester(user, GUILD, CHANNEL))
        stored = await runtime.store.get(job.job_id)
        assert stored is not None
        assert (stored.request.prompt, stored.request.negative_prompt) == (payload, payload)
    count = len(PAYLOADS)
    assert await row_counts(runtime.db) == {
        **before,
        "users": count,
        "jobs": count,
        "quota_ledger": count,
    }


async def test_ban_reasons_read_back_byte_for_byte(runtime: Runtime):
    before = await row_counts(runtime.db)
    for user, payload in enumerate(PAYLOADS, start=100):
        await runtime.moderation.ban(
            user, guild_id=GUILD, actor_id=MOD, reason=payload, expires_at=None
        )
    bans = await runtime.moderation.bans(GUILD)
    assert sorted((ban.user_id, ban.reason) for ban in bans) == list(enumerate(PAYLOADS, 100))
    count = len(PAYLOADS)
    assert await row_counts(runtime.db) == {**before, "bans": count, "audit_log": count}


async def test_blocked_terms_read_back_byte_for_byte(runtime: Runtime):
    before = await row_counts(runtime.db)
    for payload in SHORT_PAYLOADS:
        await runtime.moderation.add_term(GUILD, payload, regex=False, actor_id=MOD)
    terms = await runtime.moderation.terms(GUILD)
    assert [term.pattern for term in terms] == list(SHORT_PAYLOADS)
    count = len(SHORT_PAYLOADS)
    assert await row_counts(runtime.db) == {**before, "blocked_terms": count, "audit_log": count}


async def test_report_reasons_read_back_byte_for_byte(runtime: Runtime):
    job = await runtime.service.submit(GenerationRequest("a lighthouse"), Requester(100, GUILD))
    before = await row_counts(runtime.db)
    for reporter, payload in enumerate(PAYLOADS, start=200):
        report_id, _ = await runtime.members.file_report(
            job.job_id, reporter_id=reporter, guild_id=GUILD, reason=payload
        )
        report = await runtime.moderation.report(report_id)
        assert report is not None
        assert report.reason == payload
    assert await row_counts(runtime.db) == {**before, "reports": len(PAYLOADS)}


async def test_audit_reasons_and_details_read_back_byte_for_byte(runtime: Runtime):
    before = await row_counts(runtime.db)
    for payload in PAYLOADS:
        await runtime.moderation.record(
            guild_id=GUILD,
            actor_id=MOD,
            action="note",
            reason=payload,
            details={"text": payload, payload: [payload]},
        )
    page = await runtime.moderation.audit(GUILD, per_page=len(PAYLOADS))
    assert [(entry.reason, entry.details) for entry in reversed(page.entries)] == [
        (payload, {"text": payload, payload: [payload]}) for payload in PAYLOADS
    ]
    assert await row_counts(runtime.db) == {**before, "audit_log": len(PAYLOADS)}


async def test_preferred_negative_prompts_read_back_byte_for_byte(runtime: Runtime):
    before = await row_counts(runtime.db)
    for user, payload in enumerate(PAYLOADS, start=100):
        await runtime.members.save_preferences(user, Preferences(negative_prompt=payload))
    for user, payload in enumerate(PAYLOADS, start=100):
        assert (await runtime.members.preferences(user)).negative_prompt == payload
    count = len(PAYLOADS)
    assert await row_counts(runtime.db) == {**before, "users": count, "user_preferences": count}


async def test_guild_setting_values_read_back_byte_for_byte(runtime: Runtime):
    before = await row_counts(runtime.db)
    for guild, payload in enumerate(PAYLOADS, start=100):
        await runtime.policies.set_guild_setting(guild, "note", payload)
    for guild, payload in enumerate(PAYLOADS, start=100):
        assert await runtime.policies.guild_setting(guild, "note", None) == payload
    assert await row_counts(runtime.db) == {**before, "guild_settings": len(PAYLOADS)}
