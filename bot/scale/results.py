"""A GPU worker's results, read by the leader as hostile input: each job's outcome checked for
shape, its images read inline (base64) or from the blob folder by names the bot chooses,
without following links, bounded in size, decoded with a bomb guard and encoded again with
parameters the bot writes, before anything is stored or posted."""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import os
import re
import stat
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from bot.control_maps import CONTROL_MAP, map_path, map_preview
from bot.images import encode_png, parameters_text, write_atomically
from bot.jobs import Job, StoredImage
from engine import EngineError

log = logging.getLogger(__name__)

BAD_RESULT = "The GPU worker returned a result that could not be used; your quota was refunded."
TASK_KEY = re.compile(r"[0-9]{1,19}\.[0-9]{1,9}")  # transport.Task.key: {job id}.{attempt}
BYTES_PER_PIXEL = 4  # a PNG's pixels stored raw as RGBA bound any sane encoding of them
MAX_IMAGES = 64
MAX_MAP_BYTES = 2**20  # a control map preview is a 256-pixel PNG: far below this


class BadResult(EngineError):
    """A worker's result for one job that cannot be read, verified or stored: the job fails
    (refunded, its member told); ``reason`` is for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(BAD_RESULT)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def blob_name(key: str, job_id: int, index: int) -> str:
    """Where a worker writes a large image, relative to ``scale.blob_dir``; the leader reads
    the same name, never one a worker sends."""
    return f"{key}/{job_id}-{index}.png"


def outcome_of(result: Mapping[str, Any] | None, job: Job) -> Mapping[str, Any]:
    """The entry of a task's result for ``job``: ``images`` or ``error``."""
    entries = result.get("jobs") if isinstance(result, Mapping) else None
    if not isinstance(entries, list):
        raise BadResult("the task's result has no list of jobs")
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("job_id") == job.job_id:
            images, error = entry.get("images"), entry.get("error")
            if isinstance(images, list) and 0 < len(images) <= MAX_IMAGES:
                return entry
            if images is None and isinstance(error, Mapping):
                return entry
            raise BadResult("its entry holds neither images nor an error")
    raise BadResult("the task returned nothing for it")


@dataclass(frozen=True)
class ResultReader:
    """Stores a job's images from a worker's result into the results folder."""

    results_dir: Path
    blob_dir: Path | None
    max_pixels: int

    @property
    def max_bytes(self) -> int:
        return self.max_pixels * BYTES_PER_PIXEL + 2**20

    def store(self, job: Job, key: str, entry: Mapping[str, Any]) -> list[StoredImage]:
        """Read, verify and write every image of ``job``; BadResult for anything amiss (an
        OSError of the results folder included: the job cannot be stored)."""
        model = entry.get("model")
        model = model[:200] if isinstance(model, str) and model else (job.request.model or "")
        folder = self.results_dir / str(job.job_id)
        stored = []
        try:
            for index, image in enumerate(entry["images"]):
                if not isinstance(image, Mapping):
                    raise BadResult(f"image {index} is not described")
                seed = image.get("seed")
                if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                    raise BadResult(f"image {index} has a seed that is not a number")
                decoded = self._decode(self._read(job, key, index, image))
                path = folder / f"{job.job_id}-{index}.png"
                write_atomically(
                    path, encode_png(decoded, parameters_text(job.request, seed, model))
                )
                width, height = decoded.size
                flagged = image.get("flagged") is True
                stored.append(StoredImage(index, seed, str(path), width, height, flagged))
            self._store_map(job, folder, entry.get("control_map"))
        except OSError as err:
            raise BadResult(f"storing its images failed: {err}") from err
        return stored

    def _store_map(self, job: Job, folder: Path, text: object) -> None:
        """The control map the job followed, as ``bot.worker`` keeps it: decoded again with the
        pixel bound and re-encoded small; one that can't be read is dropped, never the job."""
        if text is None:
            return
        if not isinstance(text, str) or len(text) > MAX_MAP_BYTES * 4 // 3 + 4:
            log.warning("Job %d: dropped a control map that is not a small base64 text", job.job_id)
            return
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            log.warning("Job %d: dropped a control map that is not valid base64", job.job_id)
            return
        preview = map_preview({CONTROL_MAP: data})
        if preview is not None:
            write_atomically(map_path(folder, job.job_id), preview)

    def discard(self, key: str, job_id: int) -> None:
        """Remove a job's blobs, and its task's folder once empty (links are removed, never
        followed); what is left behind, ``prune_blobs`` removes later."""
        if self.blob_dir is None or not TASK_KEY.fullmatch(key):
            return
        with contextlib.suppress(OSError), _directory(self.blob_dir) as top:
            task = os.open(key, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
            try:
                for name in os.listdir(task):
                    if name.startswith(f"{job_id}-"):
                        with contextlib.suppress(OSError):
                            os.unlink(name, dir_fd=task)
            finally:
                os.close(task)
            os.rmdir(key, dir_fd=top)

    def _read(self, job: Job, key: str, index: int, image: Mapping[str, Any]) -> bytes:
        if image.get("blob"):
            return self._read_blob(key, job.job_id, index)
        text = image.get("png")
        if not isinstance(text, str):
            raise BadResult(f"image {index} has neither data nor a blob")
        if len(text) > self.max_bytes * 4 // 3 + 4:
            raise BadResult(f"image {index} is larger than {self.max_bytes} bytes")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise BadResult(f"image {index} is not valid base64") from None

    def _read_blob(self, key: str, job_id: int, index: int) -> bytes:
        """The blob by the bot's own name: each step opened relative to the folder above it,
        refusing links (O_NOFOLLOW) and anything but a regular file, read up to the bound."""
        if self.blob_dir is None:
            raise BadResult("it names a blob, but scale.blob_dir is not set here")
        if not TASK_KEY.fullmatch(key):
            raise BadResult(f"task key {key!r} is not one the bot makes")
        folder, name = blob_name(key, job_id, index).split("/")
        nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            with _directory(self.blob_dir) as top:
                task = os.open(folder, nofollow | os.O_DIRECTORY, dir_fd=top)
                try:
                    # O_NONBLOCK: a FIFO put there opens at once (and is refused below).
                    fd = os.open(name, nofollow | os.O_NONBLOCK, dir_fd=task)
                finally:
                    os.close(task)
        except OSError as err:
            raise BadResult(f"blob {index} cannot be opened safely: {err}") from err
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise BadResult(f"blob {index} is not a regular file")
            if info.st_size > self.max_bytes:
                raise BadResult(f"blob {index} is larger than {self.max_bytes} bytes")
            data = file.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise BadResult(f"blob {index} grew past {self.max_bytes} bytes while read")
        return data

    def _decode(self, data: bytes) -> Image.Image:
        """Decoded fully, with Pillow's bomb guard and our pixel bound."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as image:
                    if image.format != "PNG":
                        raise BadResult(f"an image is {image.format}, not PNG")
                    if image.width * image.height > self.max_pixels:
                        raise BadResult(f"an image of {image.width}x{image.height} is too large")
                    image.load()
                    return image.convert("RGBA" if "A" in image.getbands() else "RGB")
        except BadResult:
            raise
        except Exception as err:  # Pillow raises many kinds for a broken file
            raise BadResult(f"an image does not decode: {type(err).__name__}") from None


@contextlib.contextmanager
def _directory(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)
