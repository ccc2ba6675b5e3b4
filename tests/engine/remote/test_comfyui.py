"""The ComfyUI provider against the fake server: runs, progress, auth, cancel, faults and
restart recovery."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from pathlib import Path

import pytest
from PIL import Image

from engine import (
    CancelToken,
    GenerationCancelled,
    Progress,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
)
from engine.types import RunId
from tests.engine.remote.comfyui_setup import KEY, comfy, provider, request, txt2img, workflow
from tests.engine.remote.fake_comfyui import FakeComfyUI

__all__ = ["comfy"]  # the fixture


async def test_a_workflow_runs_with_its_bound_inputs_filled(comfy: FakeComfyUI, tmp_path: Path):
    comfy.steps_seconds = 0.6
    # the end is learnt from the websocket, after every progress message before it
    p = await provider(comfy, tmp_path, poll_seconds=30)
    reports: list[Progress] = []
    job = request(
        p, negative_prompt="fog", steps=6, guidance=5.5, sampler="dpmpp_2m", run=RunId(12, 1)
    )
    result = await p.generate(job, reports.append, CancelToken())
    await p.close()
    body = comfy.prompts[0]
    graph = body["prompt"]
    assert graph["6"]["inputs"]["text"] == "a lighthouse"
    assert graph["7"]["inputs"]["text"] == "fog"
    assert {k: graph["3"]["inputs"][k] for k in ("seed", "steps", "cfg", "sampler_name")} == {
        "seed": 40,
        "steps": 6,
        "cfg": 5.5,
        "sampler_name": "dpmpp_2m",
    }
    assert (graph["5"]["inputs"]["width"], graph["5"]["inputs"]["height"]) == (64, 64)
    assert body["prompt_id"] == p._prompt_id(RunId(12, 1), 0)
    assert uuid.UUID(body["prompt_id"]).version == 5
    assert result.model == "sd15"
    assert [i.seed for i in result.images] == [40]
    assert result.images[0].image.getpixel((0, 0)) == (40, 0, 0)
    steps = [r for r in reports if r.total]
    assert [r.step for r in steps if r.preview is None] == [1, 2, 3, 4, 5, 6]
    assert any(r.preview is not None for r in reports)


async def test_each_image_is_its_own_prompt_with_seed_plus_k(comfy: FakeComfyUI, tmp_path: Path):
    p = await provider(comfy, tmp_path)
    result = await p.generate(request(p, count=3, seed=7), lambda _: None, CancelToken())
    await p.close()
    assert [body["prompt"]["3"]["inputs"]["seed"] for body in comfy.prompts] == [7, 8, 9]
    assert [i.seed for i in result.images] == [7, 8, 9]
    assert [i.image.getpixel((0, 0)) for i in result.images] == [(7, 0, 0), (8, 0, 0), (9, 0, 0)]


async def test_a_bound_batch_size_makes_one_prompt_and_keeps_only_the_first_seed(
    comfy: FakeComfyUI, tmp_path: Path
):
    workflows = {"sd15": workflow(tmp_path, "sd15", txt2img(), count="5.batch_size")}
    p = await provider(comfy, tmp_path, workflows)
    result = await p.generate(request(p, count=2, seed=7), lambda _: None, CancelToken())
    await p.close()
    assert len(comfy.prompts) == 1
    assert comfy.prompts[0]["prompt"]["5"]["inputs"]["batch_size"] == 2
    # ComfyUI draws one noise for a batch: image 1 is not what seed 8 alone makes
    assert [i.seed for i in result.images] == [7, None]


async def test_the_key_goes_to_http_and_the_websocket_and_never_into_errors(
    comfy: FakeComfyUI, tmp_path: Path
):
    p = await provider(comfy, tmp_path)
    await p.generate(request(p), lambda _: None, CancelToken())
    assert comfy.calls("GET", "/ws")[0]["Authorization"] == f"Bearer {KEY}"
    assert comfy.calls("POST", "/prompt")[0]["Authorization"] == f"Bearer {KEY}"
    comfy.fail_with = f"CUDA out of memory; the proxy said {KEY}"
    with pytest.raises(ProviderError) as caught:
        await p.generate(request(p), lambda _: None, CancelToken())
    await p.close()
    assert KEY not in caught.value.user_message
    assert "failed at node 3 (KSampler): CUDA out of memory" in caught.value.user_message


async def test_basic_auth_for_a_proxy(tmp_path: Path):
    password = "proxy-pass-99"
    token = base64.b64encode(f"owner:{password}".encode()).decode()
    fake = FakeComfyUI(auth=f"Basic {token}")
    await fake.start()
    try:
        p = await provider(fake, tmp_path, key=password, username="owner")
        assert p.unavailable is None
        await p.generate(request(p), lambda _: None, CancelToken())
        await p.close()
        wrong = await provider(fake, tmp_path, key="wrong", username="owner")
        assert wrong.unavailable is not None and "401" in wrong.unavailable
        await wrong.close()
    finally:
        await fake.stop()


async def test_node_errors_on_submit_name_the_node_and_input(comfy: FakeComfyUI, tmp_path: Path):
    p = await provider(comfy, tmp_path)
    # past prepare, which would refuse it: what the server answers
    job = request(p).replace(sampler="not_a_sampler")
    with pytest.raises(ProviderRejected) as caught:
        await p.generate(job, lambda _: None, CancelToken())
    await p.close()
    assert "node 3 (KSampler) input sampler_name: Value not in list" in caught.value.user_message


async def test_a_429_on_submit_is_retried_after_its_retry_after(
    comfy: FakeComfyUI, tmp_path: Path, waits: list[float]
):
    comfy.rate_limited = 1
    p = await provider(comfy, tmp_path)
    result = await p.generate(request(p), lambda _: None, CancelToken())
    await p.close()
    assert waits == [1.0] and len(result.images) == 1


async def test_a_websocket_that_drops_mid_run_does_not_lose_the_job(
    comfy: FakeComfyUI, tmp_path: Path
):
    comfy.disconnect_at_step = 2
    comfy.steps_seconds = 0.8
    p = await provider(comfy, tmp_path, poll_seconds=30)  # only the websocket says it ended
    result = await p.generate(request(p, steps=8), lambda _: None, CancelToken())
    await p.close()
    assert result.images[0].image.getpixel((0, 0)) == (40, 0, 0)
    assert len(comfy.calls("GET", "/ws")) >= 2  # opened again


async def test_without_a_websocket_it_follows_by_polling(comfy: FakeComfyUI, tmp_path: Path):
    comfy.drop_ws = True
    p = await provider(comfy, tmp_path)
    result = await p.generate(request(p), lambda _: None, CancelToken())
    await p.close()
    assert len(result.images) == 1 and comfy.calls(
        "GET", "/history/" + comfy.prompts[0]["prompt_id"]
    )


async def test_cancel_while_queued_deletes_only_our_prompt(comfy: FakeComfyUI, tmp_path: Path):
    comfy.paused = True
    p = await provider(comfy, tmp_path)
    token = CancelToken()
    task = asyncio.create_task(p.generate(request(p), lambda _: None, token))
    while not comfy.pending:  # noqa: ASYNC110 (submitted)
        await asyncio.sleep(0.01)
    token.cancel()
    with pytest.raises(GenerationCancelled):
        await asyncio.wait_for(task, 30)  # a guard against a hang, not a measure
    await p.close()
    assert comfy.pending == [] and comfy.interrupts == []


async def test_cancel_while_running_interrupts_our_prompt(comfy: FakeComfyUI, tmp_path: Path):
    comfy.hold.clear()
    p = await provider(comfy, tmp_path)
    token = CancelToken()
    task = asyncio.create_task(p.generate(request(p), lambda _: None, token))
    while comfy.running is None:  # noqa: ASYNC110 (it runs)
        await asyncio.sleep(0.01)
    token.cancel()
    with pytest.raises(GenerationCancelled):
        await asyncio.wait_for(task, 30)  # a guard against a hang, not a measure
    await p.close()
    assert comfy.interrupts == [{"prompt_id": comfy.prompts[0]["prompt_id"]}]


async def test_cancel_never_interrupts_another_clients_prompt(comfy: FakeComfyUI, tmp_path: Path):
    comfy.hold.clear()
    comfy.pending.append([0, "someone-else", txt2img(), {"client_id": "x"}, []])
    comfy.wake()
    while comfy.running is None:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    p = await provider(comfy, tmp_path)
    token = CancelToken()
    task = asyncio.create_task(p.generate(request(p), lambda _: None, token))
    while not comfy.pending:  # noqa: ASYNC110 (ours waits behind it)
        await asyncio.sleep(0.01)
    token.cancel()
    with pytest.raises(GenerationCancelled):
        await asyncio.wait_for(task, 30)  # a guard against a hang, not a measure
    await p.close()
    assert comfy.interrupts == [] and comfy.running[1] == "someone-else"
    comfy.hold.set()


async def test_a_later_attempt_takes_the_images_an_earlier_one_finished(
    comfy: FakeComfyUI, tmp_path: Path
):
    p = await provider(comfy, tmp_path)
    await p.generate(request(p, run=RunId(5, 1)), lambda _: None, CancelToken())
    await p.close()
    again = await provider(comfy, tmp_path)  # a restarted bot: same data folder
    result = await again.generate(request(again, run=RunId(5, 2)), lambda _: None, CancelToken())
    await again.close()
    assert len(comfy.prompts) == 1  # nothing submitted again
    assert result.images[0].image.getpixel((0, 0)) == (40, 0, 0)


@pytest.mark.parametrize("attempt", [1, 2])  # put back at shutdown; after a crash
async def test_a_rerun_follows_its_prompt_still_queued(
    comfy: FakeComfyUI, tmp_path: Path, attempt: int
):
    comfy.paused = True
    p = await provider(comfy, tmp_path)
    first = asyncio.create_task(
        p.generate(request(p, run=RunId(6, 1)), lambda _: None, CancelToken())
    )
    while not comfy.pending:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    first.cancel()  # the bot went away without cancelling on the server
    with pytest.raises(asyncio.CancelledError):
        await first
    await p.close()
    again = await provider(comfy, tmp_path)
    comfy.paused = False
    comfy.wake()
    result = await again.generate(
        request(again, run=RunId(6, attempt)), lambda _: None, CancelToken()
    )
    await again.close()
    assert len(comfy.prompts) == 1
    assert result.images[0].seed == 40


async def test_a_failed_earlier_attempt_is_submitted_again(comfy: FakeComfyUI, tmp_path: Path):
    comfy.fail_with = "boom"
    p = await provider(comfy, tmp_path)
    with pytest.raises(ProviderError):
        await p.generate(request(p, run=RunId(8, 1)), lambda _: None, CancelToken())
    comfy.fail_with = None
    result = await p.generate(request(p, run=RunId(8, 2)), lambda _: None, CancelToken())
    await p.close()
    assert len(comfy.prompts) == 2 and len(result.images) == 1


async def test_a_rerun_of_a_failed_attempt_never_reuses_its_prompt_id(
    comfy: FakeComfyUI, tmp_path: Path
):
    comfy.fail_with = "boom"
    p = await provider(comfy, tmp_path)
    with pytest.raises(ProviderError):
        await p.generate(request(p, run=RunId(9, 1)), lambda _: None, CancelToken())
    comfy.fail_with = None
    result = await p.generate(request(p, run=RunId(9, 1)), lambda _: None, CancelToken())
    await p.close()
    first, second = (body["prompt_id"] for body in comfy.prompts)
    assert first != second and len(result.images) == 1


@pytest.mark.parametrize("side", [5000, 20000])
async def test_an_oversized_or_bomb_output_is_refused(
    comfy: FakeComfyUI, tmp_path: Path, side: int
):
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, "PNG")
    comfy.view_body = buffer.getvalue()
    p = await provider(comfy, tmp_path)
    with pytest.raises(ProviderError, match="too large"):
        await p.generate(request(p), lambda _: None, CancelToken())
    await p.close()


async def test_a_body_over_the_limit_is_refused(comfy: FakeComfyUI, tmp_path: Path):
    comfy.view_body = b"\x89PNG" + b"0" * (2 * 2**20)
    p = await provider(comfy, tmp_path, max_download_mb=1)
    with pytest.raises(ProviderError, match=r"more data than allowed|bytes, more than"):
        await p.generate(request(p), lambda _: None, CancelToken())
    await p.close()


async def test_the_instance_id_is_kept_in_the_data_folder(comfy: FakeComfyUI, tmp_path: Path):
    p = await provider(comfy, tmp_path)
    q = await provider(comfy, tmp_path)
    (tmp_path / "elsewhere").mkdir()
    other = await provider(comfy, tmp_path / "elsewhere")
    for each in (p, q, other):
        await each.close()
    assert p._prompt_id(RunId(1, 1), 0) == q._prompt_id(RunId(1, 1), 0)
    assert p._prompt_id(RunId(1, 1), 0) != other._prompt_id(RunId(1, 1), 0)
    assert p._prompt_id(RunId(1, 1), 0) != p._prompt_id(RunId(1, 2), 0)


async def test_the_key_never_reaches_the_log(comfy: FakeComfyUI, tmp_path: Path, caplog):
    caplog.set_level("DEBUG")
    comfy.fail_with = f"bad header {KEY}"
    p = await provider(comfy, tmp_path, workflows=None)
    with pytest.raises(ProviderError):
        await p.generate(request(p), lambda _: None, CancelToken())
    await p.close()
    assert KEY not in caplog.text


async def test_an_older_server_that_picks_its_own_id_is_followed(
    comfy: FakeComfyUI, tmp_path: Path
):
    comfy.picks_own_ids = True
    p = await provider(comfy, tmp_path)
    result = await p.generate(request(p, run=RunId(3, 1)), lambda _: None, CancelToken())
    await p.close()
    assert comfy.prompts[0]["prompt_id"] not in comfy.history  # it ran under its own id
    assert result.images[0].seed == 40


async def test_an_interrupt_from_comfyuis_own_interface_cancels_the_job(
    comfy: FakeComfyUI, tmp_path: Path
):
    comfy.hold.clear()
    p = await provider(comfy, tmp_path)
    task = asyncio.create_task(p.generate(request(p), lambda _: None, CancelToken()))
    while comfy.running is None:  # noqa: ASYNC110 (it runs)
        await asyncio.sleep(0.01)
    comfy.interrupted = comfy.running[1]  # the owner pressed Cancel in ComfyUI
    comfy.hold.set()
    with pytest.raises(GenerationCancelled):
        await asyncio.wait_for(task, 30)  # a guard against a hang, not a measure
    await p.close()


async def test_without_a_job_the_prompt_id_is_random(comfy: FakeComfyUI, tmp_path: Path):
    p = await provider(comfy, tmp_path)
    await p.generate(request(p), lambda _: None, CancelToken())
    await p.generate(request(p), lambda _: None, CancelToken())
    await p.close()
    first, second = (uuid.UUID(body["prompt_id"]) for body in comfy.prompts)
    assert first.version == second.version == 4 and first != second


async def test_a_run_past_its_deadline_is_stopped_on_the_server(comfy: FakeComfyUI, tmp_path: Path):
    comfy.hold.clear()
    p = await provider(comfy, tmp_path, deadline_seconds=0.5)
    with pytest.raises(ProviderTimeout):  # worth a retry: that attempt submits afresh
        await p.generate(request(p, run=RunId(4, 1)), lambda _: None, CancelToken())
    await p.close()
    assert comfy.interrupts == [{"prompt_id": comfy.prompts[0]["prompt_id"]}]
    comfy.hold.set()
