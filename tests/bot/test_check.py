"""``python -m bot check`` against the fake Discord, a fake provider and local model folders."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest
from aiohttp import web

from bot.check import Line, check, render, report
from bot.cli import main
from tests.conftest import FAKE_KIND
from tests.fakes.chat_api import PATH, FakeChat
from tests.fakes.discord import APPLICATION_ID, TOKEN, FakeDiscord
from tests.fakes.http_api import FakeApi, json_answer


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IMAGEBOT_CONFIG", "IMAGEBOT_SECRETS_FILE", "DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def write_config(tmp_path: Path, api_base: str, extra: str = "") -> Path:
    config = tmp_path / "bot.toml"
    config.write_text(
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\nmin_free_mb = 0\n"
        f"[discord]\napi_base = '{api_base}'\n"
        f"[providers.fake]\nkind = '{FAKE_KIND}'\n{extra}"
    )
    return config


def by_item(lines: list[Line]) -> dict[str, Line]:
    return {line.item: line for line in lines}


async def test_all_green_reports_the_application_and_invite_and_exits_0(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    lines = await check(write_config(tmp_path, fake_discord.api_base))

    items = by_item(lines)
    assert all(line.ok for line in lines), lines
    assert items["discord token"].ok
    assert f"client_id={APPLICATION_ID}" in items["discord invite"].text
    assert items["provider fake"].ok
    assert any(item.startswith("disk ") for item in items)
    assert "device" not in items  # no local engine: torch is not imported
    out = io.StringIO()
    assert report(lines, out) == 0
    assert "✗" not in out.getvalue()


async def test_a_refused_token_is_red_with_the_fix_and_exits_1(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "not-the-token")
    lines = await check(write_config(tmp_path, fake_discord.api_base))

    token = by_item(lines)["discord token"]
    assert not token.ok
    assert "refused by Discord (401)" in token.text
    assert token.fix is not None and "DISCORD_TOKEN" in token.fix
    out = io.StringIO()
    assert report(lines, out) == 1
    assert "✗ discord token: refused by Discord (401) — fix: reset the token" in out.getvalue()


async def test_an_install_link_without_the_permissions_the_bot_needs_is_red(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    view_and_send = discord.Permissions(view_channel=True, send_messages=True)
    fake_discord.install_params = {"scopes": ["bot"], "permissions": str(view_and_send.value)}

    invite = by_item(await check(write_config(tmp_path, fake_discord.api_base)))["discord invite"]

    assert not invite.ok
    assert "attach_files" in invite.text and "applications.commands" in invite.text
    assert "send_messages," not in invite.text
    assert invite.fix is not None and f"client_id={APPLICATION_ID}" in invite.fix


async def test_a_token_of_another_application_than_the_configured_one_is_red(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    config = write_config(tmp_path, fake_discord.api_base)
    config.write_text(config.read_text().replace("[discord]\n", "[discord]\napplication_id = 5\n"))

    line = by_item(await check(config))["discord application"]

    assert not line.ok
    assert (
        line.fix == f"set discord.application_id = {APPLICATION_ID} or use that application's token"
    )


async def test_a_missing_token_is_red_with_where_to_get_one(
    tmp_path: Path, fake_discord: FakeDiscord
) -> None:
    token = by_item(await check(write_config(tmp_path, fake_discord.api_base)))["discord token"]
    assert not token.ok and token.fix is not None and "DISCORD_TOKEN" in token.fix


async def test_an_unreachable_discord_is_one_red_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    lines = await check(write_config(tmp_path, "http://127.0.0.1:9"))
    discord = by_item(lines)["discord"]
    assert not discord.ok and "could not be reached" in discord.text
    assert discord.fix is not None and "discord.api_base" in discord.fix


async def test_a_provider_whose_health_check_fails_is_red_with_its_reason(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    extra = "down_at_start = 'The fake provider refused the key (401).'\n"
    lines = await check(write_config(tmp_path, fake_discord.api_base, extra))

    provider = by_item(lines)["provider fake"]
    assert not provider.ok
    assert provider.text == "The fake provider refused the key (401)."
    assert provider.fix is not None and "providers.fake" in provider.fix


async def test_a_remote_provider_that_refuses_its_key_is_red_with_the_providers_words(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def models(request: web.Request, body: object) -> web.Response:
        if request.headers.get("Authorization") != "Bearer right-key":
            return json_answer({"error": {"message": "Incorrect API key", "type": "auth"}}, 401)
        return json_answer({"data": [{"id": "dall-e-3"}]})

    api = FakeApi()
    api.route("GET", "/v1/models", models)
    await api.start()
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("REMOTE_API_KEY", "wrong-key")
    extra = f"[providers.remote]\nkind = 'openai'\nbase_url = '{api.base}'\nmodels = ['dall-e-3']\n"
    try:
        lines = await check(write_config(tmp_path, fake_discord.api_base, extra))
        monkeypatch.setenv("REMOTE_API_KEY", "right-key")
        accepted = await check(write_config(tmp_path, fake_discord.api_base, extra))
    finally:
        await api.stop()

    remote = by_item(lines)["provider remote"]
    assert not remote.ok
    assert "refused the bot's API key" in remote.text and "Incorrect API key" in remote.text
    assert remote.fix is not None and "$REMOTE_API_KEY" in remote.fix
    assert by_item(accepted)["provider remote"].ok


async def test_a_missing_local_model_folder_is_red_with_the_fix_and_a_present_one_green(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    present = tmp_path / "present"
    present.mkdir()
    index = {"_class_name": "StableDiffusionPipeline"}
    (present / "model_index.json").write_text(json.dumps(index))
    extra = (
        "[providers.local]\nkind = 'local'\ndevice = 'cpu'\n"
        f"[providers.local.models.here]\nsource = '{present}'\n"
        f"[providers.local.models.gone]\nsource = '{tmp_path / 'gone'}'\n"
    )
    lines = await check(write_config(tmp_path, fake_discord.api_base, extra))

    items = by_item(lines)
    assert items["model local/here"].ok
    gone = items["model local/gone"]
    assert not gone.ok
    assert gone.text == f"{tmp_path / 'gone'} is not a folder"
    assert gone.fix is not None and "fix source in the config" in gone.fix
    assert items["device"].ok and "CPU" in items["device"].text
    assert report(lines, io.StringIO()) == 1


def test_a_settings_error_is_the_one_red_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bot.toml"
    config.write_text("[queue]\nmax_attempts = 'many'\n")

    assert main(["check", "--config", str(config)]) == 1

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("✗ settings: ") and "max_attempts" in lines[0]


def test_colour_only_on_a_terminal() -> None:
    line = Line("disk data", False, "only 3 MB free", "free some space")
    assert render(line, colour=False) == "✗ disk data: only 3 MB free — fix: free some space"
    assert render(line, colour=True).startswith("\033[31m✗\033[0m disk data")


async def test_a_local_model_no_family_describes_is_red_naming_what_runs(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    folder = tmp_path / "audio"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "AudioLDMPipeline"}))
    extra = (
        "[providers.local]\nkind = 'local'\ndevice = 'cpu'\n"
        f"[providers.local.models.audio]\nsource = '{folder}'\n"
    )
    lines = await check(write_config(tmp_path, fake_discord.api_base, extra))

    line = by_item(lines)["model local/audio"]
    assert not line.ok
    assert "AudioLDMPipeline" in line.text and "FLUX.1 [schnell]" in line.text


async def test_the_prompt_helper_is_checked_with_one_small_answer_when_on(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = FakeChat("OK")

    async def keyed(request: web.Request, body: object) -> web.Response:
        if request.headers.get("Authorization") != "Bearer right-key":
            return json_answer({"error": {"message": "Incorrect API key"}}, 401)
        return json_answer({"choices": [{"message": {"content": "OK"}}]})

    chat.route("POST", PATH, keyed)
    await chat.start()
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("PROMPT_HELPER_API_KEY", "wrong-key")
    extra = f"[prompt_helper]\nenabled = true\nbase_url = '{chat.url}'\nmodel = 'small'\n"
    try:
        off = await check(write_config(tmp_path, fake_discord.api_base))
        refused = await check(write_config(tmp_path, fake_discord.api_base, extra))
        monkeypatch.setenv("PROMPT_HELPER_API_KEY", "right-key")
        accepted = await check(write_config(tmp_path, fake_discord.api_base, extra))
    finally:
        await chat.stop()

    assert "prompt helper" not in by_item(off)
    line = by_item(refused)["prompt helper"]
    assert not line.ok and "Incorrect API key" in line.text and "wrong-key" not in line.text
    assert line.fix is not None and "$PROMPT_HELPER_API_KEY" in line.fix
    assert by_item(accepted)["prompt helper"].ok
    assert chat.asked[-1]["max_tokens"] == 8


async def test_a_comfyui_workflow_that_does_not_fit_the_server_is_a_red_line_by_name(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.engine.remote.comfyui_setup import BINDING, txt2img
    from tests.engine.remote.fake_comfyui import FakeComfyUI

    good, broken = tmp_path / "good.json", tmp_path / "broken.json"
    good.write_text(json.dumps(txt2img()))
    graph = txt2img()
    graph["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    broken.write_text(json.dumps(graph))
    binding = "".join(f"{field} = '{target}'\n" for field, target in BINDING.items())
    comfy = FakeComfyUI()
    await comfy.start()
    extra = f"[providers.comfy]\nkind = 'comfyui'\nbase_url = '{comfy.base}'\n"
    for name, path in (("good", good), ("broken", broken)):
        extra += f"[providers.comfy.workflows.{name}]\npath = '{path}'\n"
        extra += f"[providers.comfy.workflows.{name}.binding]\n{binding}"
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    try:
        lines = await check(write_config(tmp_path, fake_discord.api_base, extra))
    finally:
        await comfy.stop()
    items = by_item(lines)
    assert items["provider comfy"].ok
    assert not items["provider comfy/broken"].ok
    assert (
        "'missing.safetensors', which the server does not have"
        in items["provider comfy/broken"].text
    )
    assert "provider comfy/good" not in items
