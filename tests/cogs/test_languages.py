"""The bot in the member's language: replies follow the interaction's locale (then the
server's, then English), and results posted later follow the locale stored with the job."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.cogs.conftest import ALICE, GENERAL, GUILD, World
from tests.fakes.discord import FakeInteraction


async def imagine(world: World, locale: str, prompt: str = "a fox") -> FakeInteraction:
    return await world.fake.invoke(
        "imagine", {"prompt": prompt}, user=ALICE, channel=GENERAL, locale=locale
    )


async def delivered(world: World, job_id: int = 1) -> None:
    for _ in range(600):
        job = await world.runtime.store.get(job_id)
        if job is not None and job.delivered:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} was not delivered")


async def said(interaction: FakeInteraction) -> str:
    return str((await interaction.response())["data"]["content"])


def words(world: World) -> str:
    """Every word the bot posted: contents, embeds and layout texts of all messages."""
    found: list[str] = []
    for message in world.fake._messages.values():
        found.append(message.content or "")
        for embed in message.embeds:
            found.append(_embed_words(embed))
        found.extend(_component_words(message.components))
    return "\n".join(found)


def _embed_words(embed: dict[str, Any]) -> str:
    parts = [embed.get("description", ""), embed.get("author", {}).get("name", "")]
    for field in embed.get("fields", []):
        parts += [field["name"], field["value"]]
    return "\n".join(parts)


def _component_words(components: list[dict[str, Any]]) -> list[str]:
    found = []
    for component in components:
        if isinstance(component.get("content"), str):
            found.append(component["content"])
        if isinstance(component.get("label"), str):
            found.append(component["label"])
        found.extend(_component_words(component.get("components", [])))
        accessory = component.get("accessory")
        if isinstance(accessory, dict):
            found.extend(_component_words([accessory]))
    return found


async def test_a_german_member_is_answered_and_served_in_german(world: World):
    interaction = await imagine(world, "de")
    await delivered(world)
    job = await world.runtime.store.get(1)
    assert job is not None and job.locale == "de"
    assert interaction.original is not None
    assert "Auftrag #1" in interaction.original.content
    posted = words(world)
    assert "Modell" in posted and "Dauer" in posted
    assert "Model\n" not in posted
    assert not world.fake.violations


async def test_a_spanish_member_is_served_in_spanish(world: World):
    await imagine(world, "es-ES")
    await delivered(world)
    job = await world.runtime.store.get(1)
    assert job is not None and job.locale == "es"
    posted = words(world)
    assert "Trabajo #1" in posted and "Modelo" in posted and "Tamaño" in posted
    assert not world.fake.violations


async def test_a_failure_is_told_in_the_members_language(world: World):
    interaction = await imagine(world, "de", prompt="refuse me")
    await delivered(world)
    assert interaction.original is not None
    assert "Auftrag #1 ist fehlgeschlagen:" in interaction.original.content
    assert "Dein Kontingent wurde erstattet." in interaction.original.content


async def test_a_refusal_is_in_spanish(world: World):
    interaction = await world.fake.invoke(
        "cancel", {"job": 99}, user=ALICE, channel=GENERAL, locale="es-ES"
    )
    assert await said(interaction) == "No tienes ningún trabajo 99."


async def test_a_member_in_an_unshipped_language_reads_the_servers(world: World):
    world.fake.set_guild_locale(GUILD, "es-ES")
    interaction = await world.fake.invoke("queue", user=ALICE, channel=GENERAL, locale="fr")
    assert await said(interaction) == "No tienes trabajos en espera ni en curso."
    await imagine(world, "fr")
    await delivered(world)
    job = await world.runtime.store.get(1)
    assert job is not None and job.locale == "es"


async def test_english_is_the_default(world: World):
    interaction = await world.fake.invoke("queue", user=ALICE, channel=GENERAL, locale="ja")
    assert await said(interaction) == "You have no jobs waiting or running."
    await imagine(world, "en-US")
    await delivered(world)
    job = await world.runtime.store.get(1)
    assert job is not None and job.locale == "en"
    posted = words(world)
    assert "Job #1" in posted and "Model" in posted


async def test_help_is_in_the_members_language(world: World):
    interaction = await world.fake.invoke("help", user=ALICE, channel=GENERAL, locale="de")
    [embed] = (await interaction.response())["data"]["embeds"]
    assert embed["title"] == "Bild-Bot"
    assert "**/imagine** `prompt` erzeugt Bilder." in embed["description"]
