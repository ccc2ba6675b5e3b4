"""The leader's reader of worker results, on its own: the bounds a blob and an image must keep."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.control_maps import MAP_SIDE, map_path
from bot.jobs import Job, JobStatus
from bot.scale.results import MAX_MAP_BYTES, BadResult, ResultReader, blob_name
from bot.scale.transport import b64
from engine import GenerationRequest

pytestmark = pytest.mark.scale


def job(job_id: int = 7) -> Job:
    request = GenerationRequest(prompt="a cat", model="m", width=64, height=64, steps=2, seed=1)
    return Job(
        job_id=job_id,
        user_id=1,
        guild_id=None,
        channel_id=None,
        origin="discord",
        provider="fake",
        model="m",
        batch_key="",
        request=request,
        target={},
        status=JobStatus.RUNNING,
        attempt=1,
        max_attempts=3,
        timeout_seconds=60,
        cost=1,
        cancel_requested=False,
        error=None,
        created_at=0.0,
        started_at=0.0,
        finished_at=None,
        delivered=False,
    )


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, format="PNG")
    return buffer.getvalue()


def reader(tmp_path: Path, max_pixels: int) -> ResultReader:
    return ResultReader(tmp_path / "results", tmp_path / "blobs", max_pixels)


def put_blob(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "blobs" / blob_name("7.1", 7, 0)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)


def test_a_blob_past_the_size_bound_is_refused(tmp_path: Path) -> None:
    put_blob(tmp_path, png((64, 64)) + b"\0" * 2**21)
    with pytest.raises(BadResult, match="larger than"):
        reader(tmp_path, 64 * 64).store(job(), "7.1", {"images": [{"blob": True}]})


def test_an_image_past_the_pixel_bound_is_refused(tmp_path: Path) -> None:
    put_blob(tmp_path, png((128, 128)))
    with pytest.raises(BadResult, match="too large"):
        reader(tmp_path, 64 * 64).store(job(), "7.1", {"images": [{"blob": True}]})


def test_a_task_key_the_bot_does_not_make_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadResult, match="not one the bot makes"):
        reader(tmp_path, 64 * 64).store(job(), "../7.1", {"images": [{"blob": True}]})


def test_a_good_blob_is_stored_and_removed(tmp_path: Path) -> None:
    put_blob(tmp_path, png((64, 64)))
    read = reader(tmp_path, 64 * 64)
    (stored,) = read.store(job(), "7.1", {"images": [{"blob": True, "seed": 3}]})
    assert (stored.width, stored.height, stored.seed) == (64, 64, 3)
    read.discard("7.1", 7)
    assert not list((tmp_path / "blobs").iterdir())


def test_a_control_map_is_kept_small_beside_the_images(tmp_path: Path) -> None:
    entry = {"images": [{"png": b64(png((64, 64)))}], "control_map": b64(png((512, 256)))}
    [image] = reader(tmp_path, 64 * 64).store(job(), "7.1", entry)
    kept = map_path(Path(image.path).parent, 7)
    with Image.open(kept) as preview:
        assert preview.size == (MAP_SIDE, MAP_SIDE // 2)


@pytest.mark.parametrize(
    "bad", [b64(b"not a png"), "%%% not base64", 12, "A" * (2 * MAX_MAP_BYTES)]
)
def test_a_control_map_that_cant_be_read_is_dropped_never_the_job(
    tmp_path: Path, bad: object
) -> None:
    entry = {"images": [{"png": b64(png((64, 64)))}], "control_map": bad}
    [image] = reader(tmp_path, 64 * 64).store(job(), "7.1", entry)
    assert Path(image.path).is_file()
    assert not map_path(Path(image.path).parent, 7).exists()
