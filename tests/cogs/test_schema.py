"""The /imagine schema Discord shows members: ranges from the configured limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cogs.conftest import open_world


def imagine_options(synced: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    command = next(c for c in synced if c["name"] == "imagine")
    return {option["name"]: option for option in command["options"]}


async def test_the_schema_offers_the_configured_limits(tmp_path: Path, redirect: None):
    limits = {
        "max_steps": 40,
        "max_width": 1024,
        "max_height": 768,
        "max_count": 2,
        "max_prompt_length": 500,
    }
    async with open_world(tmp_path, limits=limits) as world:
        options = imagine_options(world.fake.synced)
    assert (options["steps"]["min_value"], options["steps"]["max_value"]) == (1, 40)
    assert (options["width"]["min_value"], options["width"]["max_value"]) == (64, 1024)
    assert (options["height"]["min_value"], options["height"]["max_value"]) == (64, 768)
    assert (options["count"]["min_value"], options["count"]["max_value"]) == (1, 2)
    assert options["prompt"]["max_length"] == 500
    assert options["negative"]["max_length"] == 500


async def test_the_schema_offers_no_size_beyond_every_provider(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake={"max_size": 1536}) as world:
        options = imagine_options(world.fake.synced)
    assert options["width"]["max_value"] == options["height"]["max_value"] == 1536
    assert options["steps"]["max_value"] == 100  # the default limit, under the provider's 150
