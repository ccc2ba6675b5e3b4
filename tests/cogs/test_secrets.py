"""The bot token and provider keys appear nowhere a person or a file could see them: logs,
tracebacks, messages to members, the database (the audit log included)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.settings import Secrets
from tests.cogs.conftest import ALICE, GENERAL, open_world
from tests.fakes.discord import TOKEN
from tests.fakes.http_api import FakeApi, Fault, json_answer, png

KEY = "sk-live-9f8e7d6c5b4a3210-secret"


@pytest.fixture
async def leaky_api() -> FakeApi:
    """An API that echoes the key it was sent in every error, as careless servers do."""
    api = FakeApi()

    async def generations(request: web.Request, body: object) -> web.Response:
        sent = request.headers.get("Authorization", "")
        return json_answer({"error": {"message": f"Incorrect API key provided: {sent}"}}, 401)

    api.route("POST", "/v1/images/generations", generations)
    await api.start()
    yield api
    await api.stop()


async def test_no_secret_leaks_on_any_error_path(
    tmp_path: Path, redirect: None, leaky_api: FakeApi, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    remote = {"kind": "openai", "base_url": leaky_api.base, "models": ["m"], "max_retries": 0}
    secrets = Secrets(SecretStr(TOKEN), {"remote": SecretStr(KEY)})
    async with open_world(tmp_path, secrets=secrets, providers={"remote": remote}) as world:
        leaky_api.fail(Fault("/v1/images/generations", status=500, body=f"boom {KEY}".encode()))
        leaky_api.fail(
            Fault("/v1/images/generations", status=200, body=f'{{"data": "{KEY}'.encode())
        )
        for prompt in ("server error", "malformed", "bad key", "refused"):
            interaction = await world.fake.invoke(
                "imagine",
                {"prompt": prompt, "model": "remote:m"},
                user=ALICE,
                channel=GENERAL,
            )
            await interaction.wait(
                lambda i: "failed" in (i.original.content if i.original else ""), 20
            )
        await world.fake.invoke(
            "imagine", {"prompt": "x", "sampler": "nope"}, user=ALICE, channel=GENERAL
        )
        await asyncio.sleep(0.3)
        dump = "\n".join(await asyncio.to_thread(lambda: list(_dump(world.runtime.db.path))))

    seen = {**_seen(world, caplog), "database": dump}
    assert any(KEY in r.headers.get("Authorization", "") for r in leaky_api.requests)
    assert "failed" in seen["messages"]  # the members were told
    for where, text in seen.items():
        assert KEY not in text, f"the provider key leaked into the {where}"
        assert TOKEN not in text, f"the bot token leaked into the {where}"


@pytest.fixture
async def leaky_describer() -> FakeApi:
    """An sdapi server that echoes the key in the ``detail`` of a failed describe."""
    api = FakeApi()

    async def interrogate(request: web.Request, body: object) -> web.Response:
        sent = request.headers.get("Authorization", "")
        return json_answer({"detail": f"no captioner for {sent}"}, 422)

    api.route("POST", "/interrogate", interrogate)
    await api.start()
    yield api
    await api.stop()


async def test_no_secret_leaks_from_a_describe(
    tmp_path: Path, redirect: None, leaky_describer: FakeApi, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    remote = {
        "kind": "sdapi",
        "base_url": leaky_describer.base,
        "models": ["dreamshaper"],
        "max_retries": 0,
    }
    secrets = Secrets(SecretStr(TOKEN), {"captioner": SecretStr(KEY)})
    async with open_world(
        tmp_path, secrets=secrets, fake={"describe": False}, providers={"captioner": remote}
    ) as world:
        attachment = world.fake.add_attachment(png(), "photo.png")
        interaction = await world.fake.invoke(
            "describe", {"image": attachment}, user=ALICE, channel=GENERAL
        )
        await interaction.wait(
            lambda i: "no captioner" in (i.original.content if i.original else ""), 20
        )
        seen = _seen(world, caplog)
        seen["database"] = "\n".join(
            await asyncio.to_thread(lambda: list(_dump(world.runtime.db.path)))
        )
    assert any(KEY in r.headers.get("Authorization", "") for r in leaky_describer.requests)
    assert "[redacted]" in seen["messages"]  # the member was told, without the key
    for where, text in seen.items():
        assert KEY not in text, f"the provider key leaked into the {where}"


def _seen(world: Any, caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    return {
        "logs": "\n".join(
            f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
            for record in caplog.records
        ),
        "messages": "\n".join(
            f"{m.content} {m.embeds} {m.components} {m.edits}"
            for m in world.fake._messages.values()
        ),
        "requests to Discord": "\n".join(f"{r.json}" for r in world.fake.requests),
    }


def _dump(path: Path) -> Iterator[str]:
    connection = sqlite3.connect(path)
    try:
        yield from connection.iterdump()
    finally:
        connection.close()
