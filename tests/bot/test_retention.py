"""Result retention: old results' images and inputs go, in bounded passes, with everything
else kept. Collected again on PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot import settings
from bot.errors import SettingsError
from bot.jobs import Job, StoredImage
from bot.retention import DAY, Retention
from bot.runtime import Runtime
from bot.scheduler import Capacity
from bot.store import SqlJobStore
from engine import Mode
from tests.bot.helpers import submit
from tests.bot.test_store import usage
from tests.bot.test_watchdog import Clock


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def finished(
    rt: Runtime, store: SqlJobStore, user: int, *, delivered: bool = True, **options: object
) -> tuple[Job, Path]:
    """A job that ran and succeeded at the store's clock, with one image file on disk."""
    await submit(rt, user, **options)
    capacity = Capacity({"fake": 5}, {}, max_running_per_user=5, max_batch={})
    (job,) = await store.claim("discord", capacity)
    folder = rt.settings.storage.results_path / str(job.job_id)
    folder.mkdir(parents=True)
    path = folder / f"{job.job_id}-0.png"
    path.write_bytes(png())
    await store.succeed(job, [StoredImage(0, 1, str(path), 64, 64)])
    if delivered:
        await store.mark_delivered(job.job_id, "message")
    return job, folder


async def count(rt: Runtime, table: str) -> int:
    row = await rt.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def test_results_past_retention_go_and_everything_else_stays(runtime: Runtime):
    clock = Clock()
    store = SqlJobStore(runtime.db, clock)
    old, old_folder = await finished(runtime, store, 7)
    variation, variation_folder = await finished(
        runtime, store, 8, mode=Mode.IMG2IMG, init_image=png(), strength=0.5
    )
    undelivered, undelivered_folder = await finished(runtime, store, 9, delivered=False)
    reported, reported_folder = await finished(runtime, store, 10)
    await runtime.members.file_report(reported.job_id, reporter_id=11, guild_id=None)
    clock.now += 29 * DAY
    young, young_folder = await finished(runtime, store, 12)
    clock.now += 1 * DAY + 1
    ledger = await count(runtime, "quota_ledger")

    assert (
        await Retention(runtime.db, runtime.settings.storage.results_path, 30, clock=clock).prune()
        == 2
    )

    for job, folder in ((old, old_folder), (variation, variation_folder)):
        assert await runtime.store.images(job.job_id) == []
        assert not folder.exists()
        kept = await runtime.store.get(job.job_id)
        assert kept is not None and kept.request.prompt == job.request.prompt
        assert kept.request.init_image is None
    for job, folder in (
        (undelivered, undelivered_folder),
        (reported, reported_folder),
        (young, young_folder),
    ):
        assert len(await runtime.store.images(job.job_id)) == 1
        assert folder.is_dir()
    assert await count(runtime, "quota_ledger") == ledger
    assert await count(runtime, "reports") == 1
    assert await usage(runtime, 7) == 1 and await usage(runtime, 8) == 1


async def test_each_pass_prunes_a_bounded_batch(runtime: Runtime):
    clock = Clock()
    store = SqlJobStore(runtime.db, clock)
    for user in range(5):
        await finished(runtime, store, user)
    clock.now += 31 * DAY
    retention = Retention(
        runtime.db, runtime.settings.storage.results_path, 30, batch=2, clock=clock
    )
    assert [await retention.prune() for _ in range(4)] == [2, 2, 1, 0]
    assert await count(runtime, "job_images") == 0


async def test_keeping_results_forever_prunes_nothing(runtime: Runtime):
    store = SqlJobStore(runtime.db, Clock(0))
    job, folder = await finished(runtime, store, 7)
    retention = Retention(runtime.db, runtime.settings.storage.results_path, 0)
    retention.start()
    assert await retention.prune() == 0
    await retention.stop()
    assert len(await runtime.store.images(job.job_id)) == 1 and folder.is_dir()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("KEEP_RESULTS_DAYS", "-1"), ("KEEP_RESULTS_DAYS", "'a month'"), ("MIN_FREE_MB", "-5")],
)
def test_storage_limits_refuse_nonsense(variable: str, value: str):
    with pytest.raises(SettingsError, match=f"storage.{variable.lower()} = "):
        settings.load(environ={f"IMAGEBOT__STORAGE__{variable}": value})


def test_storage_limits_have_defaults():
    storage = settings.load(environ={}).settings.storage
    assert storage.keep_results_days == 30 and storage.min_free_mb == 512
