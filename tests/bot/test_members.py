from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.errors import BlockedPrompt, JobGone, JobsStillActive
from bot.jobs import Job, JobStatus, Requester, StoredImage
from bot.members import HistoryPage, MemberStore, Preferences
from bot.runtime import Runtime
from bot.scheduler import Capacity
from engine import Mode
from tests.bot.helpers import submit


@pytest.fixture
def members(runtime: Runtime) -> MemberStore:
    return MemberStore(runtime.db, runtime.settings.storage.results_path)


async def finish(rt: Runtime, user: int, prompt: str = "a lighthouse at dusk") -> Job:
    """Submit a job and run it to success, with a stored image and a delivery."""
    job = await submit(rt, user, prompt)
    _, per_user = await rt.store.running_counts()
    capacity = Capacity({"fake": 5}, per_user, max_running_per_user=5, max_batch={})
    [running] = await rt.store.claim("discord", capacity, [job.job_id])
    path = rt.settings.storage.results_path / str(job.job_id) / f"{job.job_id}-0.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"png")
    await rt.store.succeed(running, [StoredImage(0, 1, str(path), 64, 64)])
    await rt.store.mark_delivered(job.job_id, "message")
    return job


async def used_today(rt: Runtime, user: int) -> int:
    limits = rt.service.policy.limits_for(Requester(user))
    return (await rt.ledger.usage(user, limits)).used


async def count(rt: Runtime, table: str, job_id: int) -> int:
    row = await rt.db.fetchone(f"SELECT COUNT(*) FROM {table} WHERE job_id = ?", (job_id,))
    assert row is not None
    return int(row[0])


async def test_preferences_default_when_none_are_stored(members: MemberStore):
    assert await members.preferences(7) == Preferences()


async def test_preferences_round_trip_and_update(members: MemberStore):
    first = Preferences(model="fake:fake-v2", width=512, height=768, negative_prompt="blur")
    await members.save_preferences(7, first)
    assert await members.preferences(7) == first
    second = Preferences(private_delivery=True)
    await members.save_preferences(7, second)
    assert await members.preferences(7) == second


async def test_clearing_preferences_restores_the_defaults(members: MemberStore):
    await members.save_preferences(7, Preferences(width=512))
    await members.clear_preferences(7)
    assert await members.preferences(7) == Preferences()


async def test_history_lists_finished_jobs_newest_first_in_pages(
    runtime: Runtime, members: MemberStore
):
    finished = [await finish(runtime, 7, f"prompt {i}") for i in range(6)]
    cancelled = await submit(runtime, 7)
    await runtime.store.cancel(cancelled.job_id, 7)
    await submit(runtime, 7)
    newest_first = [cancelled.job_id] + [job.job_id for job in reversed(finished)]

    first = await members.history(7, per_page=5)
    second = await members.history(7, page=1, per_page=5)

    assert (first.page, first.pages, first.total) == (0, 2, 7)
    assert [job.job_id for job in first.jobs + second.jobs] == newest_first
    assert first.jobs[0].status is JobStatus.CANCELLED
    assert first.jobs[1].request.prompt == "prompt 5"


async def test_history_clamps_the_page_into_range(runtime: Runtime, members: MemberStore):
    for _ in range(3):
        await finish(runtime, 7)
    assert (await members.history(7, page=9, per_page=2)).page == 1
    assert (await members.history(7, page=-3, per_page=2)).page == 0


async def test_history_of_a_newcomer_is_one_empty_page(members: MemberStore):
    assert await members.history(7, page=4) == HistoryPage(jobs=[], page=0, pages=1, total=0)


async def test_active_lists_queued_and_running_jobs_oldest_first(
    runtime: Runtime, members: MemberStore
):
    await finish(runtime, 7)
    first = await submit(runtime, 7)
    second = await submit(runtime, 7)
    _, per_user = await runtime.store.running_counts()
    await runtime.store.claim("discord", Capacity({"fake": 1}, per_user, 1, {}), [second.job_id])
    active = await members.active(7)
    assert [(job.job_id, job.status) for job in active] == [
        (first.job_id, JobStatus.QUEUED),
        (second.job_id, JobStatus.RUNNING),
    ]


async def test_forget_deletes_jobs_their_rows_files_and_preferences(
    runtime: Runtime, members: MemberStore
):
    jobs = [await finish(runtime, 7), await finish(runtime, 7)]
    await members.save_preferences(7, Preferences(width=512))
    report, _ = await members.file_report(jobs[0].job_id, reporter_id=9, guild_id=1)
    used = await used_today(runtime, 7)

    assert await members.forget(7) == 2

    for job in jobs:
        assert await runtime.store.get(job.job_id) is None
        for table in ("job_images", "deliveries"):
            assert await count(runtime, table, job.job_id) == 0
        assert not (runtime.settings.storage.results_path / str(job.job_id)).exists()
    assert await members.preferences(7) == Preferences()
    assert (await members.history(7)).total == 0
    row = await runtime.db.fetchone("SELECT job_id FROM reports WHERE report_id = ?", (report,))
    assert row is not None and row["job_id"] is None
    assert await used_today(runtime, 7) == used == 2


async def test_forget_deletes_the_input_image_of_an_img2img_job(
    runtime: Runtime, members: MemberStore
):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, format="PNG")
    job = await submit(runtime, 7, mode=Mode.IMG2IMG, init_image=buffer.getvalue(), strength=0.5)
    await runtime.store.cancel(job.job_id, 7)
    assert await count(runtime, "job_inputs", job.job_id) == 1
    assert await members.forget(7) == 1
    assert await count(runtime, "job_inputs", job.job_id) == 0


async def test_forget_tolerates_missing_result_folders(runtime: Runtime, members: MemberStore):
    job = await submit(runtime, 7)
    await runtime.store.cancel(job.job_id, 7)
    assert await members.forget(7) == 1


async def test_forget_refuses_while_a_job_is_queued_and_deletes_nothing(
    runtime: Runtime, members: MemberStore
):
    done = await finish(runtime, 7)
    await members.save_preferences(7, Preferences(width=512))
    await submit(runtime, 7)

    with pytest.raises(JobsStillActive) as refused:
        await members.forget(7)

    assert refused.value.count == 1
    assert refused.value.user_message.startswith("You have 1 job still queued or running;")
    assert await runtime.store.get(done.job_id) is not None
    assert (runtime.settings.storage.results_path / str(done.job_id)).exists()
    assert await members.preferences(7) == Preferences(width=512)


async def test_forget_leaves_other_members_untouched(runtime: Runtime, members: MemberStore):
    await finish(runtime, 7)
    theirs = await finish(runtime, 8)
    await members.save_preferences(8, Preferences(model="fake-v2"))
    await members.forget(7)
    assert await runtime.store.get(theirs.job_id) is not None
    assert await count(runtime, "job_images", theirs.job_id) == 1
    assert (runtime.settings.storage.results_path / str(theirs.job_id)).exists()
    assert await members.preferences(8) == Preferences(model="fake-v2")


async def test_a_repeated_report_is_not_duplicated(runtime: Runtime, members: MemberStore):
    job = await finish(runtime, 7)
    first = await members.file_report(job.job_id, reporter_id=9, guild_id=1, reason="gore")
    again = await members.file_report(job.job_id, reporter_id=9, guild_id=1)
    other = await members.file_report(job.job_id, reporter_id=10, guild_id=1)
    assert first[1] is True and again == (first[0], False)
    assert other[1] is True and other[0] != first[0]
    row = await runtime.db.fetchone(
        "SELECT reason, status FROM reports WHERE report_id = ?", (first[0],)
    )
    assert row is not None and tuple(row) == ("gore", "open")
    assert await count(runtime, "reports", job.job_id) == 2


async def test_reporting_a_forgotten_job_is_refused(members: MemberStore):
    with pytest.raises(JobGone):
        await members.file_report(404, reporter_id=9, guild_id=1)


async def test_forget_removes_the_members_prompts_from_the_audit_log_and_keeps_the_entries(
    runtime: Runtime, members: MemberStore
):
    await runtime.moderation.add_term(1, "dragon", regex=False, actor_id=9)
    for user in (7, 8):
        with pytest.raises(BlockedPrompt):
            await submit(runtime, user, f"a secret dragon of member {user}", guild=1)
    await runtime.moderation.record(
        guild_id=1, actor_id=9, action="quota.grant", target_id=7, details={"units": 3}
    )

    await members.forget(7)

    page = await runtime.moderation.audit(1, per_page=50)
    entries = {(entry.action, entry.target_id): entry for entry in page.entries}
    assert page.total == 4  # the term, two blocked prompts, the grant: every entry stays
    blocked = entries[("prompt.blocked", 7)]
    assert blocked.actor_id == 7 and blocked.reason == "prompt: dragon"
    assert "prompt" not in blocked.details and blocked.details["forgotten"] is True
    assert blocked.details["channel_id"] == 1000
    assert entries[("prompt.blocked", 8)].details["prompt"] == "a secret dragon of member 8"
    assert entries[("quota.grant", 7)].details == {"units": 3}
    rows = await runtime.db.fetchall("SELECT * FROM audit_log")
    assert "member 7" not in repr([tuple(row) for row in rows])
