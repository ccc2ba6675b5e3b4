"""The AI Horde provider's faults against the fake Horde: refusals read by their return code,
faulted and impossible requests, 429s and dropped connections, cancel and withdrawal while
queued and running, censored images, bombs, oversized bodies, links to foreign hosts."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from engine import (
    CancelToken,
    ContentRefused,
    GenerationCancelled,
    GenerationRequest,
    OutcomeUnknown,
    Progress,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
)
from engine.remote.download import RefusedUrl
from tests.engine.remote.fake_horde import FakeHorde, bomb
from tests.engine.remote.test_horde import run, started
from tests.fakes.http_api import FakeApi, Fault


async def test_a_refused_key_is_named_and_never_shown(horde: FakeHorde):
    p = await started(horde, key="wrong-horde-key-777")
    with pytest.raises(ProviderAuthError) as caught:
        await run(p, GenerationRequest("a cat"))
    assert "No user matching sent API Key" in caught.value.user_message
    assert "wrong-horde-key-777" not in caught.value.user_message


async def test_kudos_upfront_is_a_refusal_saying_what_to_change(horde: FakeHorde):
    p = await started(horde, key=None, max_size=2048)
    with pytest.raises(ProviderRejected) as caught:
        await run(p, GenerationRequest("a cat", width=1536, height=1536))
    assert "1024×1024 and 50 steps" in caught.value.user_message
    assert not isinstance(caught.value, ProviderAuthError)


async def test_a_faulted_request_fails_and_is_withdrawn(horde: FakeHorde):
    horde.script.faulted = True
    p = await started(horde)
    with pytest.raises(ProviderError, match="faulted") as caught:
        await run(p, GenerationRequest("a cat"))
    assert not caught.value.retryable
    assert horde.deleted == [horde.submitted[0].id]


async def test_an_impossible_request_names_what_to_change(horde: FakeHorde):
    horde.script.impossible = True
    p = await started(horde, trusted_workers=True)
    with pytest.raises(ProviderRejected) as caught:
        await run(p, GenerationRequest("a cat"))
    assert "no worker that can serve this request" in caught.value.user_message
    assert "trusted_workers = false" in caught.value.user_message
    assert horde.deleted == [horde.submitted[0].id]


async def test_a_429_on_a_check_waits_as_long_as_it_asks(horde: FakeHorde, waits: list[float]):
    horde.script.limited_checks = 1
    horde.script.retry_after = "3"
    p = await started(horde)
    result, _ = await run(p, GenerationRequest("a cat"))
    assert len(result.images) == 1
    assert waits == [3.0] and len(horde.submitted) == 1


async def test_a_429_on_the_submit_is_sent_again_after_its_retry_after(
    horde: FakeHorde, waits: list[float]
):
    horde.api.fail(
        Fault(
            "/api/v2/generate/async",
            status=429,
            headers={"Retry-After": "2", "Content-Type": "application/json"},
            body=b'{"message": "Parallel requests exceeded user limit", "rc": "TooManyPrompts"}',
        )
    )
    p = await started(horde)
    result, _ = await run(p, GenerationRequest("a cat"))
    assert len(result.images) == 1
    assert waits == [2.0] and len(horde.submitted) == 1  # the 429 made nothing


async def test_a_dropped_check_is_asked_again_not_resubmitted(horde: FakeHorde):
    horde.script.dropped_checks = 2
    p = await started(horde, max_retries=0)
    result, _ = await run(p, GenerationRequest("a cat"))
    assert len(result.images) == 1 and len(horde.submitted) == 1


async def cancel_when(horde: FakeHorde, words: str) -> None:
    p = await started(horde)
    token = CancelToken()

    def report(progress: Progress) -> None:
        if words in progress.message:
            token.cancel()

    with pytest.raises(GenerationCancelled):
        await p.generate(p.prepare(GenerationRequest("a cat")), report, token)
    await p.close()
    assert horde.deleted == [horde.submitted[0].id]


async def test_cancel_while_queued_withdraws_the_request(horde: FakeHorde):
    horde.script.waiting_polls = 10**6
    await cancel_when(horde, "queue at position")


async def test_cancel_while_running_withdraws_the_request(horde: FakeHorde):
    horde.script.waiting_polls, horde.script.processing_polls = 0, 10**6
    await cancel_when(horde, "being made")


async def test_a_run_stopped_from_outside_still_withdraws_its_request(horde: FakeHorde):
    horde.script.waiting_polls = 10**6
    p = await started(horde)
    queued = asyncio.Event()
    task = asyncio.ensure_future(
        p.generate(p.prepare(GenerationRequest("a cat")), lambda _: queued.set(), CancelToken())
    )
    await asyncio.wait_for(queued.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await p.close()
    assert horde.deleted == [horde.submitted[0].id]


async def test_a_request_past_max_wait_is_withdrawn_and_not_sent_again(horde: FakeHorde):
    horde.script.waiting_polls = 10**6
    p = await started(horde, max_wait_seconds=0.1)
    with pytest.raises(OutcomeUnknown, match=r"did not finish within 0\.1 s") as caught:
        await run(p, GenerationRequest("a cat"))
    assert not caught.value.retryable
    assert horde.deleted == [horde.submitted[0].id] and len(horde.submitted) == 1


async def test_censored_images_are_not_delivered(horde: FakeHorde):
    horde.script.censored = 1
    p = await started(horde)
    result, _ = await run(p, GenerationRequest("a cat", seed=5, count=2))
    assert [image.seed for image in result.images] == [6]
    horde.script.censored = 2
    p = await started(horde)
    with pytest.raises(ContentRefused, match="censored"):
        await run(p, GenerationRequest("a cat", count=2))


async def test_an_image_bomb_is_refused(horde: FakeHorde):
    horde.script.image = bomb()
    p = await started(horde)
    with pytest.raises(ProviderError, match="too large to open"):
        await run(p, GenerationRequest("a cat"))


async def test_an_image_larger_than_allowed_is_cut_off(horde: FakeHorde):
    noise = Image.effect_noise((256, 256), 80).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    horde.script.image = buffer.getvalue()
    p = await started(horde, max_download_mb=0.01)
    with pytest.raises(ProviderError, match=r"more data than allowed|bytes, more than"):
        await run(p, GenerationRequest("a cat"))


async def test_a_link_to_another_host_is_never_fetched(horde: FakeHorde):
    elsewhere = FakeApi("127.0.0.3")
    await elsewhere.start()
    try:
        horde.script.image_base = elsewhere.base
        p = await started(horde)
        with pytest.raises(RefusedUrl):
            await run(p, GenerationRequest("a cat"))
        assert elsewhere.requests == []
    finally:
        await elsewhere.stop()
