"""Shared fixtures: settings on a temporary folder, an open runtime with the fake provider."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
import pytest

from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets, Settings

if TYPE_CHECKING:
    from tests.engine.local.family_models import FamilyModels

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FAKE_KIND = "tests.fakes.providers:fake_provider"


def make_settings(tmp_path: Path, **sections: Any) -> Settings:
    raw: dict[str, Any] = {
        "storage": {"data_dir": str(tmp_path / "data")},
        "queue": {"poll_seconds": 0.05, "retry_backoff_seconds": 0.01, "max_queued_per_user": 20},
        "providers": {"fake": {"kind": FAKE_KIND}},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return Settings.model_validate(raw)


@pytest.fixture
def redirect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Puts back the URLs ``point_at`` sets (discord.py keeps them on classes) after a test
    that ran a bot against the fake Discord."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    return lambda **sections: make_settings(tmp_path, **sections)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    loaded = LoadedSettings(make_settings(tmp_path), Secrets(), None)
    async with open_runtime(loaded) as rt:
        yield rt


@pytest.fixture(scope="session")
def family_models(tmp_path_factory: pytest.TempPathFactory) -> FamilyModels:
    """Each family's tiny pipeline, built the first time a test asks for it and shared by
    every test of the session (the engine's and the cogs' alike)."""
    from tests.engine.local.family_models import FamilyModels

    return FamilyModels(tmp_path_factory.mktemp("family-models"))


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Models this small run fastest on one thread (see engine/local/families/conftest.py)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
