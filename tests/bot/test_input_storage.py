"""A job's input images (init image, mask, an edit's further images, reference images and the
control image) survive the store, a restart and the scaled mode's task payload, and go with
retention. Collected again on
PostgreSQL (tests/scale/test_postgres_input_storage.py)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from PIL import Image

from bot.jobs import Job, NewJob, Requester
from bot.quota import QuotaLimits
from bot.retention import DAY, Retention, input_expired
from bot.runtime import Runtime, open_runtime
from bot.scale.transport import Task, request_of
from bot.scheduler import Capacity
from bot.settings import LoadedSettings, Secrets
from bot.store import SqlJobStore
from engine import Control, ControlKind, GenerationRequest, Mode, Reference, ReferenceKind
from tests.bot.test_watchdog import Clock
from tests.conftest import make_settings


def png(colour: str | int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (64, 64), colour).save(buffer, "PNG")
    return buffer.getvalue()


INIT, MASK = png("teal"), png(255, "L")
EXTRAS = (png("red"), png("blue"), png("yellow"))


def edit_job(user: int = 7) -> NewJob:
    request = GenerationRequest(
        "make it night",
        model="fake-v1",
        mode=Mode.INPAINT,
        width=64,
        height=64,
        seed=1,
        init_image=INIT,
        mask_image=MASK,
        extra_images=EXTRAS,
    )
    return NewJob(Requester(user), "discord", "fake", "fake-v1", "", request, 1, 3, 60.0)


REFERENCES = (png("orange"), png("purple"), png("green"))
CONTROL = png("white")


def guided_job(user: int = 7) -> NewJob:
    """A txt2img job with three references (in an order their colours tell apart) and a
    control image."""
    request = GenerationRequest(
        "a knight",
        model="fake-v1",
        width=64,
        height=64,
        seed=1,
        references=(
            Reference(ReferenceKind.STYLE, 0.5),
            Reference(ReferenceKind.SUBJECT, 1.5),
            Reference(ReferenceKind.STYLE, 2.0),
        ),
        reference_images=REFERENCES,
        control=Control(ControlKind.POSE, 0.8, 0.1, 0.9),
        control_image=CONTROL,
    )
    return NewJob(Requester(user), "discord", "fake", "fake-v1", "", request, 1, 3, 60.0)


def limits() -> QuotaLimits:
    return QuotaLimits(0, "default", 1000, 0.0, 1000)


def assert_inputs(job: Job | None) -> None:
    assert job is not None
    assert job.request.init_image == INIT
    assert job.request.mask_image == MASK
    assert job.request.extra_images == EXTRAS


def assert_guided(job: Job | None) -> None:
    assert job is not None
    assert job.request == guided_job().request  # references and control, kinds and weights
    assert job.request.reference_images == REFERENCES
    assert job.request.control_image == CONTROL
    assert job.request.init_image is None and job.request.mask_image is None


async def claim(store: SqlJobStore) -> Job:
    (job,) = await store.claim("discord", Capacity({"fake": 5}, {}, 5, {}))
    return job


async def test_the_mask_and_extra_images_are_stored_with_the_job(runtime: Runtime):
    job = await runtime.store.submit(edit_job(), limits())
    assert_inputs(await runtime.store.get(job.job_id))
    assert_inputs(await claim(runtime.store))


async def test_a_job_without_them_reads_back_none(runtime: Runtime):
    plain = edit_job()
    request = plain.request.replace(mask_image=None, extra_images=(), mode=Mode.IMG2IMG)
    job = await runtime.store.submit(
        NewJob(plain.requester, "discord", "fake", "fake-v1", "", request, 1, 3, 60.0), limits()
    )
    stored = await runtime.store.get(job.job_id)
    assert stored is not None and stored.request.init_image == INIT
    assert stored.request.mask_image is None and stored.request.extra_images == ()


async def test_the_input_images_survive_a_restart(tmp_path: Path):
    loaded = LoadedSettings(make_settings(tmp_path), Secrets(), None)
    async with open_runtime(loaded) as rt:
        job = await rt.store.submit(edit_job(), limits())
    async with open_runtime(loaded) as rt:
        assert_inputs(await rt.store.get(job.job_id))
        assert_inputs(await claim(rt.store))


async def test_retention_removes_the_mask_and_extra_images(runtime: Runtime):
    clock = Clock()
    store = SqlJobStore(runtime.db, clock)
    job = await store.submit(edit_job(), limits())
    await store.succeed(await claim(store), [])
    await store.mark_delivered(job.job_id, "message")
    clock.now += 31 * DAY
    retention = Retention(runtime.db, runtime.settings.storage.results_path, 30, clock=clock)
    assert await retention.prune() == 1
    kept = await runtime.store.get(job.job_id)
    assert kept is not None and kept.request.prompt == "make it night"
    assert kept.request.init_image is None
    assert kept.request.mask_image is None and kept.request.extra_images == ()
    row = await runtime.db.fetchone("SELECT COUNT(*) FROM job_input_extras")
    assert row is not None and row[0] == 0


async def test_forgetting_a_member_deletes_their_input_images(runtime: Runtime):
    job = await runtime.store.submit(edit_job(), limits())
    await runtime.store.cancel(job.job_id)
    await runtime.members.forget(7)
    row = await runtime.db.fetchone("SELECT COUNT(*) FROM job_input_extras")
    assert row is not None and row[0] == 0


async def test_a_task_carries_the_input_images_to_the_worker(runtime: Runtime):
    job = await runtime.store.submit(edit_job(), limits())
    running = await claim(runtime.store)
    [item] = Task("fake", (running,), 60.0).payload()["jobs"]
    assert item["job_id"] == job.job_id
    request = request_of(item)
    assert request == running.request
    assert request.init_image == INIT
    assert request.mask_image == MASK and request.extra_images == EXTRAS


def test_a_task_of_an_older_bot_reads_without_mask_or_extras():
    request = GenerationRequest("a lighthouse", width=64, height=64)
    item = {"request": request.to_dict(), "init_image": None}
    assert request_of(item) == request and request_of(item).mask_image is None


async def test_the_reference_and_control_images_are_stored_with_the_job(runtime: Runtime):
    job = await runtime.store.submit(guided_job(), limits())
    assert_guided(await runtime.store.get(job.job_id))
    assert_guided(await claim(runtime.store))


async def test_a_finished_job_with_its_references_has_not_expired(runtime: Runtime):
    job = await runtime.store.submit(guided_job(), limits())
    await runtime.store.cancel(job.job_id)
    stored = await runtime.store.get(job.job_id)
    assert stored is not None and not input_expired(stored)
    for lost in ({"control_image": None}, {"reference_images": REFERENCES[:2]}):
        assert input_expired(dataclasses.replace(stored, request=stored.request.replace(**lost)))


async def test_reference_and_control_images_survive_a_restart(tmp_path: Path):
    loaded = LoadedSettings(make_settings(tmp_path), Secrets(), None)
    async with open_runtime(loaded) as rt:
        job = await rt.store.submit(guided_job(), limits())
    async with open_runtime(loaded) as rt:
        assert_guided(await rt.store.get(job.job_id))


async def test_every_kind_of_input_image_is_kept_apart(runtime: Runtime):
    """An edit's further images, references, a mask and a control image on one job each come
    back in their own field, in order."""
    request = edit_job().request.replace(
        references=guided_job().request.references,
        reference_images=REFERENCES,
        control=guided_job().request.control,
        control_image=CONTROL,
    )
    new = NewJob(Requester(7), "discord", "fake", "fake-v1", "", request, 1, 3, 60.0)
    job = await runtime.store.submit(new, limits())
    stored = await runtime.store.get(job.job_id)
    assert_inputs(stored)
    assert stored is not None
    assert stored.request.reference_images == REFERENCES
    assert stored.request.control_image == CONTROL


async def test_retention_removes_the_reference_and_control_images(runtime: Runtime):
    clock = Clock()
    store = SqlJobStore(runtime.db, clock)
    job = await store.submit(guided_job(), limits())
    await store.succeed(await claim(store), [])
    await store.mark_delivered(job.job_id, "message")
    clock.now += 31 * DAY
    retention = Retention(runtime.db, runtime.settings.storage.results_path, 30, clock=clock)
    assert await retention.prune() == 1
    kept = await runtime.store.get(job.job_id)
    assert kept is not None and kept.request.references == guided_job().request.references
    assert kept.request.reference_images == () and kept.request.control_image is None
    assert input_expired(kept)  # buttons that would reuse them say the job expired
    row = await runtime.db.fetchone("SELECT COUNT(*) FROM job_input_extras")
    assert row is not None and row[0] == 0


async def test_forgetting_a_member_deletes_their_reference_images(runtime: Runtime):
    job = await runtime.store.submit(guided_job(), limits())
    await runtime.store.cancel(job.job_id)
    await runtime.members.forget(7)
    row = await runtime.db.fetchone("SELECT COUNT(*) FROM job_input_extras")
    assert row is not None and row[0] == 0


async def test_a_task_carries_the_reference_and_control_images(runtime: Runtime):
    await runtime.store.submit(guided_job(), limits())
    running = await claim(runtime.store)
    [item] = Task("fake", (running,), 60.0).payload()["jobs"]
    request = request_of(item)
    assert request == running.request
    assert request.reference_images == REFERENCES and request.control_image == CONTROL


def test_a_task_of_an_older_bot_reads_without_references_or_control():
    request = GenerationRequest("a lighthouse", width=64, height=64)
    item = {"request": request.to_dict(), "init_image": None, "mask_image": None}
    assert request_of(item).reference_images == () and request_of(item).control_image is None
