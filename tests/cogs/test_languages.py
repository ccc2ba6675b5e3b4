"""The bot in the member's language: replies follow the interaction's locale (then the
server's, then English), and results posted later follow the locale stored with the job."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from cogs.common import in_language
from cogs.member.help import help_text
from cogs.reference_modals import PoseModal, ReferenceModal
from cogs.results.modals import InstructionModal, ZoomModal
from cogs.results.region.modals import NameRegionModal, RepaintPromptModal, UploadMaskModal
from tests.cogs.conftest import ALICE, GENERAL, GUILD, World
from tests.cogs.test_results import held
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
    assert f"<@{ALICE}> deine Bilder für Auftrag #1 sind fertig: **a fox**" in posted
    assert "Modell" in posted and "Dauer" in posted
    assert "Model\n" not in posted
    assert not world.fake.violations


async def test_the_status_message_is_in_the_members_language(world: World):
    release = held(world)
    await imagine(world, "de", prompt="first")
    await asyncio.wait_for(world.provider.started.wait(), 10)
    second = await imagine(world, "de", prompt="second")
    await second.wait(lambda i: bool(i.original and "Warteschlange" in i.original.content))
    assert second.original is not None
    assert second.original.content.startswith("Auftrag #2 (1 Bild, fake-v1)")
    assert "als Nächstes dran" in second.original.content
    assert "Abbrechen" in _component_words(second.original.components)
    release.set()
    await delivered(world, 2)
    assert not world.fake.violations


async def test_a_spanish_member_is_served_in_spanish(world: World):
    await imagine(world, "es-ES")
    await delivered(world)
    job = await world.runtime.store.get(1)
    assert job is not None and job.locale == "es"
    posted = words(world)
    assert f"<@{ALICE}> tus imágenes del trabajo #1 están listas: **a fox**" in posted
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


async def test_a_malformed_parameter_is_refused_in_spanish(world: World):
    interaction = await imagine(world, "es-419", prompt="a fox --seed many")
    await interaction.wait(lambda i: bool(i.original and i.original.content))
    assert interaction.original is not None
    assert interaction.original.content.startswith("`--seed`: usa un número entero de")
    assert not await world.jobs()


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


def modals() -> list[discord.ui.Modal]:
    async def never(*_: object) -> None:
        raise AssertionError("not submitted here")

    return [
        ReferenceModal(never),
        PoseModal(never),
        InstructionModal(never),
        ZoomModal("form:z:1:0"),
        UploadMaskModal(1, 0),
        NameRegionModal(1, 0),
        RepaintPromptModal(1, 0, "left", "a fox"),
    ]


@pytest.mark.parametrize("locale", ["de", "es-ES", "en-US"])
async def test_modals_in_each_language_fit_discords_limits(locale: str):
    """A title or label over 45 characters (a placeholder over 100) is refused by Discord."""
    for modal in modals():
        shown = in_language(modal, locale)
        assert 0 < len(shown.title) <= 45, shown.title
        for item in shown.walk_children():
            if isinstance(item, discord.ui.TextInput):
                assert 0 < len(item.label) <= 45, item.label
                assert len(item.placeholder or "") <= 100, item.placeholder
            if isinstance(item, discord.ui.Label):
                assert 0 < len(item.text) <= 45, item.text
                assert len(item.description or "") <= 100, item.description
            if isinstance(item, discord.ui.Select):
                assert all(len(option.label) <= 100 for option in item.options)
        modal.stop()


async def test_a_modal_is_shown_in_german():
    modal = in_language(InstructionModal(), "de")
    assert modal.title == "Bild bearbeiten"
    assert modal.instruction.label == "Was soll sich ändern?"
    modal.stop()


@pytest.mark.parametrize("locale", ["en-US", "de", "es-ES"])
def test_help_fits_an_embed_in_every_language(locale: str):
    assert len(help_text(locale)) <= 4096


async def test_a_member_refused_a_moderator_command_reads_why_in_german(world: World):
    interaction = await world.fake.invoke(
        "admin queue list", user=ALICE, channel=GENERAL, locale="de"
    )
    assert await said(interaction) == (
        "Das dürfen nur Moderatorinnen und Moderatoren (Server verwalten oder die "
        "Moderationsrolle des Servers)."
    )
