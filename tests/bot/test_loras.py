"""LoRAs at admission, against the AUTOMATIC1111 adapter and a fake web UI on loopback: one
checked list whether a LoRA comes as an option or written in the prompt, names that stay names,
and LoRAs the owner flags NSFW held to age-restricted channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.errors import SettingsError
from bot.jobs import Requester
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets
from engine import CancelToken, GenerationRequest, InvalidRequest, LoraRef
from tests.conftest import make_settings
from tests.engine.remote.test_a1111 import PASSWORD, Forge
from tests.fakes.http_api import FakeApi

GUILD, CHANNEL, MEMBER = 100, 1000, 7


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    await fake.start()
    Forge(fake)  # offers one LoRA, "ink"
    yield fake
    await fake.stop()


async def open_bot(tmp_path: Path, api: FakeApi, **options: Any) -> Any:
    forge = {
        "kind": "a1111",
        "base_url": api.base,
        "username": "owner",
        "progress_seconds": 0.05,
        **options,
    }
    sdapi = {"kind": "sdapi", "base_url": api.base, "models": ["dreamshaper"]}  # no LoRA list
    settings = make_settings(tmp_path, providers={"forge": forge, "sdapi": sdapi})
    secrets = Secrets(provider_keys={"forge": SecretStr(PASSWORD)})
    return open_runtime(LoadedSettings(settings, secrets, None))


@pytest.fixture
async def rt(tmp_path: Path, api: FakeApi) -> AsyncIterator[Runtime]:
    async with await open_bot(tmp_path, api) as runtime:
        yield runtime


async def submit(
    rt: Runtime, prompt: str, provider: str = "forge", *, nsfw: bool = False, **options: Any
) -> GenerationRequest:
    request = GenerationRequest(prompt, width=64, height=64, nsfw_allowed=nsfw, **options)
    job = await rt.service.submit(
        request, Requester(MEMBER, GUILD, CHANNEL), provider=provider, target={}
    )
    return job.request


async def queued(rt: Runtime) -> int:
    return len(await rt.db.fetchall("SELECT job_id FROM jobs"))


@pytest.mark.parametrize(
    ("prompt", "options", "refused"),
    [
        ("a harbour <lora:ink:5>", {}, "weight"),  # past the -2 to 2 bound
        ("a harbour <lora:ink>, <lora:ink:1.5>", {}, "each LoRA once"),
        ("a harbour <lora:ink:2>", {"loras": (LoraRef("ink", 2.0),)}, "each LoRA once"),
        ("a harbour <lora:evil:0.5>", {}, "one of ink"),  # not installed
        ("a harbour <lyco:evil:0.5>", {}, "one of ink"),  # A1111's other name for a LoRA
        ("a harbour <lora:../evil:0.5>", {}, "plain name"),
        ("a harbour <lora:ink:0.5:0.5>", {}, "<lora:name:weight>"),
        ("a harbour <hypernet:evil:1>", {}, "no <type:...> tags"),  # another extra network
        ("a harbour", {"negative_prompt": "<lora:ink:-2>"}, "no LoRAs"),
    ],
)
async def test_a_lora_written_in_the_prompt_is_checked_like_the_option(
    rt: Runtime, prompt: str, options: dict[str, Any], refused: str
):
    with pytest.raises(InvalidRequest, match=refused):
        await submit(rt, prompt, **options)
    assert await queued(rt) == 0


async def test_a_lora_in_the_prompt_reaches_the_web_ui_once_as_checked(rt: Runtime, api: FakeApi):
    request = await submit(rt, "a harbour <lora:ink:0.5> at dusk", seed=3)
    assert request.prompt == "a harbour at dusk"
    assert request.loras == (LoraRef("ink", 0.5),)
    await rt.providers.get("forge").provider.generate(request, lambda _: None, CancelToken())
    assert api.calls("/sdapi/v1/txt2img")[0].body["prompt"] == "a harbour at dusk <lora:ink:0.5>"


async def test_an_nsfw_flagged_lora_runs_only_where_nsfw_is_allowed(tmp_path: Path, api: FakeApi):
    async with await open_bot(tmp_path, api, nsfw_loras=["ink"]) as rt:
        for prompt, options in (
            ("a harbour", {"loras": (LoraRef("ink", 0.5),)}),
            ("a harbour <lora:ink:0.5>", {}),
        ):
            with pytest.raises(InvalidRequest, match="an NSFW LoRA"):
                await submit(rt, prompt, **options)
        assert await queued(rt) == 0
        allowed = await submit(rt, "a harbour <lora:ink:0.5>", nsfw=True)
        assert allowed.loras == (LoraRef("ink", 0.5),) and await queued(rt) == 1


async def test_a_server_that_turns_nsfw_off_also_refuses_nsfw_loras(tmp_path: Path, api: FakeApi):
    async with await open_bot(tmp_path, api, nsfw_loras=["ink"]) as rt:
        await rt.policies.set_content(GUILD, {"nsfw": False})
        with pytest.raises(InvalidRequest, match="an NSFW LoRA"):
            await submit(rt, "a harbour <lora:ink:0.5>", nsfw=True)


@pytest.mark.parametrize("name", ["..", "../../x", "a/b", "a\\b", "x:2> <lora:y", "x\x00", " "])
async def test_a_lora_name_cannot_be_a_path_on_a_provider_without_a_list(rt: Runtime, name: str):
    with pytest.raises(InvalidRequest, match="plain name"):
        await submit(rt, "a harbour", "sdapi", loras=(LoraRef(name, 0.5),))
    assert await queued(rt) == 0


@pytest.mark.parametrize("model", ["../../models/x", "other"])
async def test_a_model_cannot_be_named_freely_on_a_provider_without_a_list(rt: Runtime, model: str):
    with pytest.raises(InvalidRequest, match="model"):
        await submit(rt, "a harbour", "sdapi", model=model)
    assert await queued(rt) == 0


async def test_the_nsfw_list_holds_plain_names_only(tmp_path: Path, api: FakeApi):
    with pytest.raises(SettingsError, match=r"nsfw_loras.*is not a LoRA's plain name"):
        async with await open_bot(tmp_path, api, nsfw_loras=["../ink"]):
            pass
