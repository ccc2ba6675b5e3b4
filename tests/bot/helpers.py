"""Small helpers for queue tests."""

from __future__ import annotations

from bot.jobs import Job, Requester
from bot.runtime import Runtime
from engine import GenerationRequest


async def submit(
    rt: Runtime,
    user: int,
    prompt: str = "a lighthouse at dusk",
    *,
    guild: int | None = None,
    roles: frozenset[int] = frozenset(),
    origin: str = "discord",
    **options: object,
) -> Job:
    request = GenerationRequest(prompt=prompt, width=64, height=64, **options)  # type: ignore[arg-type]
    return await rt.service.submit(
        request, Requester(user, guild, 1000, roles), origin=origin, target={"channel_id": 1000}
    )


async def claim_all(rt: Runtime, origin: str = "discord") -> list[Job]:
    """Claim and immediately finish jobs one at a time; returns them in the order picked."""
    picked = []
    while True:
        per_provider, per_user = await rt.store.running_counts()
        capacity = rt.providers.capacity(per_provider, per_user, 1)
        batch = await rt.store.claim(origin, capacity)
        if not batch:
            return picked
        for job in batch:
            await rt.store.succeed(job, [])
        picked += batch
