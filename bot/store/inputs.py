"""A job's input images, stored apart from its JSON request: ``init_image`` in ``job_inputs``;
the mask, an edit's further images, the reference images and the control image in
``job_input_extras``, told apart by ``kind``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

from bot.jobs import InputImages
from bot.storage import Row, SqlConnection, Statement
from engine import GenerationRequest

MASK = "mask"
IMAGE = "image"
REFERENCE = "reference"
CONTROL = "control"

Fetch = Callable[[str, Sequence[object]], Awaitable[Iterable[Row]]]

SELECT = (
    "SELECT 'init' AS kind, 0 AS idx, image FROM job_inputs WHERE job_id = ? "
    "UNION ALL SELECT kind, idx, image FROM job_input_extras WHERE job_id = ? "
    "ORDER BY kind, idx"
)


def insert_inputs(job_id: int, request: GenerationRequest) -> Iterator[Statement]:
    """The statements that store ``request``'s input images for ``job_id``."""
    if request.init_image is not None:
        yield Statement(
            "INSERT INTO job_inputs (job_id, image) VALUES (?, ?)", (job_id, request.init_image)
        )
    extras: list[tuple[str, int, bytes]] = []
    if request.mask_image is not None:
        extras.append((MASK, 0, request.mask_image))
    extras += [(IMAGE, idx, image) for idx, image in enumerate(request.extra_images)]
    extras += [(REFERENCE, idx, image) for idx, image in enumerate(request.reference_images)]
    if request.control_image is not None:
        extras.append((CONTROL, 0, request.control_image))
    for kind, idx, image in extras:
        yield Statement(
            "INSERT INTO job_input_extras (job_id, kind, idx, image) VALUES (?, ?, ?, ?)",
            (job_id, kind, idx, image),
        )


async def read_inputs(fetch: Fetch, job_id: int) -> InputImages:
    """The job's stored input images (none once retention removed them)."""
    init: bytes | None = None
    mask: bytes | None = None
    control: bytes | None = None
    extras: list[bytes] = []
    references: list[bytes] = []
    for row in await fetch(SELECT, (job_id, job_id)):  # each kind in idx order
        image = bytes(row["image"])
        kind = row["kind"]
        if kind == "init":
            init = image
        elif kind == MASK:
            mask = image
        elif kind == CONTROL:
            control = image
        elif kind == REFERENCE:
            references.append(image)
        else:
            extras.append(image)
    return InputImages(init, mask, tuple(extras), tuple(references), control)


def fetch_in(conn: SqlConnection) -> Fetch:
    """``read_inputs``'s fetch inside a transaction."""

    async def fetch(sql: str, params: Sequence[object]) -> list[Any]:
        async with conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    return fetch
