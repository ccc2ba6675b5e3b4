"""Layout components (Components V2) in the fake Discord: what it accepts from a real
discord.py bot, what it refuses as Discord does, and how tests read such a message back."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord.ext import commands
from PIL import Image

from tests.fakes.discord import FakeDiscord, Refused, connected
from tests.fakes.discord.layout import check_layout, resolve
from tests.fakes.discord.model import StoredFile
from tests.fakes.discord.payloads import COMPONENTS_V2
from tests.fakes.discord.rules import check_message

GUILD = 10
GENERAL = 11
ALICE = 100


def png(colour: tuple[int, int, int] = (200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, "PNG")
    return buffer.getvalue()


class Pick(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"pick:(?P<n>[0-9]+)"
):
    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label=f"Pick {n}", custom_id=f"pick:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Pick:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message(f"picked {self.n}", ephemeral=True)


def card(names: list[str], *, mention: str = "") -> discord.ui.LayoutView:
    view = discord.ui.LayoutView(timeout=None)
    if mention:
        view.add_item(discord.ui.TextDisplay(mention))
    container: discord.ui.Container[discord.ui.LayoutView] = discord.ui.Container(
        accent_colour=discord.Colour.blurple()
    )
    container.add_item(discord.ui.TextDisplay("**a harbour**"))
    gallery: discord.ui.MediaGallery[discord.ui.LayoutView] = discord.ui.MediaGallery()
    for name in names:
        gallery.add_item(media=f"attachment://{name}", description=name)
    container.add_item(gallery)
    container.add_item(discord.ui.ActionRow(Pick(1), Pick(2)))
    view.add_item(container)
    view.stop()
    return view


class Bot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.none(),
            help_command=None,
        )
        self.seen: dict[str, Any] = {}
        self.add_dynamic_items(Pick)
        tree = self.tree

        @tree.command(description="Posts a card")
        async def show(interaction: discord.Interaction[Any], count: int = 2) -> None:
            files = [discord.File(io.BytesIO(png()), f"{i}.png") for i in range(count)]
            await interaction.response.defer(thinking=True)
            await interaction.followup.send(
                view=card([file.filename for file in files], mention=f"<@{ALICE}>"),
                files=files,
                allowed_mentions=discord.AllowedMentions(users=True),
                wait=True,
            )

        @tree.command(description="Posts a card naming a file it does not upload")
        async def broken(interaction: discord.Interaction[Any]) -> None:
            file = discord.File(io.BytesIO(png()), "0.png")
            await self.attempt(
                "broken",
                interaction.response.send_message(view=card(["0.png", "1.png"]), file=file),
            )

        @tree.command(description="Puts content beside a card")
        async def mixed(interaction: discord.Interaction[Any]) -> None:
            channel = self.get_partial_messageable(GENERAL)
            await self.attempt("mixed", channel.send("hello", view=card([])))
            await interaction.response.send_message("tried", ephemeral=True)

        @tree.command(description="Edits a status message into a card")
        async def status(interaction: discord.Interaction[Any], clear: bool) -> None:
            await interaction.response.send_message("Job #1 is running")
            file = discord.File(io.BytesIO(png()), "0.png")
            extra: dict[str, Any] = {"content": None} if clear else {}
            await self.attempt(
                "status",
                interaction.edit_original_response(
                    view=card(["0.png"]), attachments=[file], **extra
                ),
            )

        @tree.command(description="Turns a card back into text")
        async def revert(interaction: discord.Interaction[Any]) -> None:
            file = discord.File(io.BytesIO(png()), "0.png")
            await interaction.response.send_message(view=card(["0.png"]), file=file)
            await self.attempt(
                "revert", interaction.edit_original_response(content="plain", view=None)
            )

        @tree.command(description="Defers with the layout flag")
        async def eager(interaction: discord.Interaction[Any]) -> None:
            route = discord.http.Route(
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                interaction_id=interaction.id,
                interaction_token=interaction.token,
            )
            body = {"type": 5, "data": {"flags": COMPONENTS_V2}}
            await self.attempt("eager", self.http.request(route, json=body))

    async def attempt(self, name: str, call: Any) -> None:
        try:
            await call
        except discord.HTTPException as error:
            self.seen[name] = (error.status, error.code, error.text)
        else:
            self.seen[name] = "sent"


@pytest.fixture
async def world() -> AsyncIterator[tuple[FakeDiscord, Bot]]:
    fake = FakeDiscord()
    fake.add_guild(GUILD, name="art club")
    fake.add_channel(GENERAL, guild_id=GUILD)
    fake.add_user(ALICE, "alice")
    fake.add_member(GUILD, ALICE)
    async with fake:
        bot = Bot()
        async with connected(bot, fake):
            yield fake, bot


async def test_a_card_is_read_back_with_its_texts_gallery_and_working_buttons(
    world: tuple[FakeDiscord, Bot],
):
    fake, _ = world
    interaction = await fake.invoke("show", user=ALICE, channel=GENERAL)
    await interaction.wait(lambda i: bool(i.original and i.original.layout))
    assert interaction.responses[0]["type"] == 5  # the flag goes on the followup, not the ack
    message = interaction.original
    assert message is not None and message.flags & COMPONENTS_V2 and message.content == ""
    assert message.texts == [f"<@{ALICE}>", "**a harbour**"]
    assert [stored.filename for stored in message.gallery] == ["0.png", "1.png"]
    assert message.gallery[0].data == png() and message.hidden_files == []
    media = message.components[1]["components"][1]["items"][0]["media"]
    assert media["url"].startswith(fake.base) and (media["width"], media["height"]) == (8, 6)
    assert message.pinged == {f"user:{ALICE}"}  # a text display's mention pings

    click = await fake.click(message.id, "pick:2", user=ALICE)
    assert (await click.response())["data"]["content"] == "picked 2"
    assert not fake.violations


async def test_a_card_naming_a_file_it_did_not_upload_is_refused(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    await fake.invoke("broken", user=ALICE, channel=GENERAL)
    await fake.wait_for(lambda: "broken" in bot.seen)
    status, code, text = bot.seen["broken"]
    assert (status, code) == (400, 50035) and "attachment://1.png" in text


async def test_content_beside_layout_components_is_refused(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    await fake.invoke("mixed", user=ALICE, channel=GENERAL)
    await fake.wait_for(lambda: "mixed" in bot.seen)
    assert bot.seen["mixed"][:2] == (400, 50035)
    assert fake.channel_messages(GENERAL) == [] or all(
        not message.layout for message in fake.channel_messages(GENERAL)
    )


async def test_a_message_becomes_a_card_only_when_the_edit_clears_its_content(
    world: tuple[FakeDiscord, Bot],
):
    fake, bot = world
    kept = await fake.invoke("status", {"clear": False}, user=ALICE, channel=GENERAL)
    await fake.wait_for(lambda: "status" in bot.seen)
    assert bot.seen.pop("status")[:2] == (400, 50035)
    assert kept.original is not None and not kept.original.layout

    cleared = await fake.invoke("status", {"clear": True}, user=ALICE, channel=GENERAL)
    await fake.wait_for(lambda: "status" in bot.seen)
    assert bot.seen["status"] == "sent"
    message = cleared.original
    assert message is not None and message.layout and message.content == ""
    assert [stored.filename for stored in message.gallery] == ["0.png"]


async def test_a_card_cannot_turn_back_into_text(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    interaction = await fake.invoke("revert", user=ALICE, channel=GENERAL)
    await fake.wait_for(lambda: "revert" in bot.seen)
    assert bot.seen["revert"][:2] == (400, 50035)
    message = interaction.original
    assert message is not None and message.layout and message.content == ""


async def test_a_deferral_cannot_carry_the_layout_flag(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    await fake.invoke("eager", user=ALICE, channel=GENERAL)
    await fake.wait_for(lambda: "eager" in bot.seen)
    status, code, text = bot.seen["eager"]
    assert (status, code) == (400, 50035) and "followup" in text


# The rules themselves, on payloads no discord.py view would build.


def text(content: str) -> dict[str, Any]:
    return {"type": 10, "content": content}


def gallery(count: int, name: str = "0.png") -> dict[str, Any]:
    return {"type": 12, "items": [{"media": {"url": f"attachment://{name}"}}] * count}


def button(custom_id: str) -> dict[str, Any]:
    return {"type": 2, "style": 2, "label": "x", "custom_id": custom_id}


def refusal(components: list[dict[str, Any]], files: list[str] | None = None) -> str:
    with pytest.raises(Refused) as caught:
        check_layout(components, files or ["0.png"])
    assert (caught.value.status, caught.value.code) == (400, 50035)
    return caught.value.detail


def test_a_gallery_holds_one_to_ten_items():
    check_layout([gallery(1)], ["0.png"])
    check_layout([gallery(10)], ["0.png"])
    assert "1 to 10" in refusal([gallery(0)])
    assert "1 to 10" in refusal([gallery(11)])


def test_at_most_40_components_and_4000_characters_of_text():
    rows = [{"type": 1, "components": [button(f"b{r}{i}") for i in range(5)]} for r in range(6)]
    check_layout([{"type": 17, "components": [*rows[:5], text("x" * 3999)]}], [])
    assert "40 or fewer" in refusal(rows + [text("x")] * 5)  # 6 rows + 30 buttons + 5 texts
    assert "4000" in refusal([text("x" * 2000), text("x" * 2001)])


def test_component_kinds_go_only_where_discord_takes_them():
    assert "must be one of" in refusal([{"type": 2, "style": 2, "custom_id": "a"}])
    assert "must be one of" in refusal([{"type": 17, "components": [{"type": 17}]}])
    assert "must be one of" in refusal([{"type": 11, "media": {"url": "attachment://0.png"}}])
    section = {"type": 9, "components": [text("a")] * 4, "accessory": button("s")}
    assert "1 to 3" in refusal([section])
    assert "beside it" in refusal([{"type": 9, "components": [text("a")]}])
    assert "buttons or one select" in refusal(
        [{"type": 1, "components": [button("a"), {"type": 3, "custom_id": "s", "options": []}]}]
    )
    assert "needs its content" in refusal([text("")])


def test_media_must_be_a_url_or_a_file_of_the_message():
    check_layout([gallery(1, "0.png")], ["0.png"])
    assert "names no file" in refusal([gallery(1, "9.png")])
    thumbnail = {"type": 11, "media": {"url": "file:///etc/passwd"}}
    assert "http(s)" in refusal([{"type": 9, "components": [text("a")], "accessory": thumbnail}])
    external = {"type": 13, "file": {"url": "https://example.com/a.zip"}}
    assert "only attachment://" in refusal([external])


def test_custom_ids_stay_unique_and_short_across_the_whole_layout():
    body = {
        "flags": COMPONENTS_V2,
        "components": [
            {"type": 1, "components": [button("same")]},
            {"type": 17, "components": [{"type": 1, "components": [button("same")]}]},
        ],
    }
    with pytest.raises(Refused, match="duplicated"):
        check_message(body, [], upload_limit=10, flags=COMPONENTS_V2)
    body["components"] = [{"type": 1, "components": [button("x" * 101)]}]
    with pytest.raises(Refused, match="100 or fewer"):
        check_message(body, [], upload_limit=10, flags=COMPONENTS_V2)


def test_without_the_flag_only_action_rows_are_taken():
    body = {"components": [text("hello")]}
    with pytest.raises(Refused, match="action rows"):
        check_message(body, [], upload_limit=10, flags=0)


def test_references_resolve_to_the_stored_file():
    stored = StoredFile(7, "0.png", png(), "http://fake/attachments/7/0.png", "image/png", (8, 6))
    [resolved] = resolve([gallery(1)], [stored])
    media = resolved["items"][0]["media"]
    assert media["attachment_id"] == "7" and media["url"] == stored.url
    assert (media["width"], media["height"], media["content_type"]) == (8, 6, "image/png")
