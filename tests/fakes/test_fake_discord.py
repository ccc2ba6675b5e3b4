"""The fake Discord driven end to end by a tiny real discord.py bot: slash commands with
options, autocomplete, a DynamicItem button, a modal, a message command, a DM and a
user-installed app, and each rule the fake enforces."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.fakes.discord import APPLICATION_ID, TOKEN, FakeDiscord, Refused, connected
from tests.fakes.discord.rules import check_message

GUILD = 10
GENERAL = 11
NO_FILES = 12
THREAD = 13
ELSEWHERE = 20  # a guild the bot is not in
ELSEWHERE_CHANNEL = 21
GROUP = 30
ALICE = 100
MOD = 101


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


class Vote(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"vote:(?P<job>[0-9]+)"
):
    def __init__(self, job: int) -> None:
        super().__init__(discord.ui.Button(label="Vote", custom_id=f"vote:{job}"))
        self.job = job

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Vote:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.edit_message(content=f"voted for {self.job}", view=None)


class Describe(discord.ui.Modal, title="Describe it"):
    prompt: discord.ui.TextInput[Describe] = discord.ui.TextInput(
        label="Prompt", custom_id="prompt", max_length=200
    )
    mood: discord.ui.Label[Describe] = discord.ui.Label(
        text="Mood", component=discord.ui.TextInput(custom_id="mood", required=False)
    )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        mood = self.mood.component
        assert isinstance(mood, discord.ui.TextInput)
        await interaction.response.send_message(
            f"{self.prompt.value} ({mood.value})", ephemeral=True
        )


class Attach(discord.ui.Modal, title="Attach it"):
    files: discord.ui.Label[Attach] = discord.ui.Label(
        text="Files",
        component=discord.ui.FileUpload(custom_id="files", min_values=1, max_values=2),
    )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        upload = self.files.component
        assert isinstance(upload, discord.ui.FileUpload)
        data = [await attachment.read() for attachment in upload.values]
        names = [
            f"{attachment.filename}:{len(read)}"
            for attachment, read in zip(upload.values, data, strict=True)
        ]
        await interaction.response.send_message(" ".join(names), ephemeral=True)


class Bot(commands.Bot):
    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None)
        self.seen: dict[str, Any] = {}
        self.go = asyncio.Event()
        self.add_dynamic_items(Vote)
        add_commands(self)


def add_commands(bot: Bot) -> None:
    tree = bot.tree

    @tree.command(description="Make a picture")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def imagine(
        interaction: discord.Interaction[Any],
        prompt: str,
        steps: app_commands.Range[int, 1, 50] = 20,
        style: str = "plain",
        image: discord.Attachment | None = None,
    ) -> None:
        size = len(await image.read()) if image is not None else 0
        bot.seen["imagine"] = {
            "guild": interaction.guild_id,
            "permissions": interaction.app_permissions,
            "user_install": interaction.is_user_integration(),
        }
        view = discord.ui.View(timeout=None)
        view.add_item(Vote(7))
        await interaction.response.send_message(f"{prompt}|{steps}|{style}|{size}", view=view)

    @imagine.autocomplete("style")
    async def styles(
        interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        names = ("plain", "photo", "pastel")
        return [
            app_commands.Choice(name=name.title(), value=name) for name in names if current in name
        ]

    @tree.command(description="Answers too late")
    async def slow(interaction: discord.Interaction[Any]) -> None:
        await asyncio.sleep(0.4)
        try:
            await interaction.response.send_message("finally")
        except discord.NotFound as error:
            bot.seen["slow"] = error.code

    @tree.command(description="Answers twice")
    async def twice(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("one")
        try:
            # A fresh InteractionResponse does not know the first answer went out.
            await discord.InteractionResponse(interaction).send_message("two")
        except discord.HTTPException as error:
            bot.seen["twice"] = error.code

    @tree.command(description="Follows up before answering")
    async def eager(interaction: discord.Interaction[Any]) -> None:
        try:
            await interaction.followup.send("too soon")
        except discord.HTTPException as error:
            bot.seen["eager"] = error.code
        await interaction.response.send_message("now")

    @tree.command(description="Defers, then waits for the test")
    async def later(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(thinking=True)
        await bot.go.wait()
        for name, act in (
            ("followup", interaction.followup.send("late")),
            ("edit", interaction.edit_original_response(content="late")),
        ):
            try:
                await act
            except discord.HTTPException as error:
                bot.seen[name] = error.code

    @tree.command(description="Defers privately, then follows up twice")
    async def think(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("done")
        await interaction.followup.send("more", ephemeral=False)

    @tree.command(description="Sends files")
    async def files(interaction: discord.Interaction[Any], count: int, size: int) -> None:
        sent = [discord.File(io.BytesIO(b"x" * size), f"{i}.bin") for i in range(count)]
        try:
            await interaction.response.send_message(files=sent)
        except discord.HTTPException as error:
            bot.seen.setdefault("files", []).append((error.status, error.code))
        else:
            bot.seen.setdefault("files", []).append("sent")

    @tree.command(description="Says too much")
    async def long(interaction: discord.Interaction[Any]) -> None:
        try:
            await interaction.response.send_message("x" * 2001)
        except discord.HTTPException as error:
            bot.seen["long"] = (error.status, error.code, error.text)

    @tree.command(description="Posts a file to a channel")
    async def post(interaction: discord.Interaction[Any], channel: discord.TextChannel) -> None:
        allowed = channel.permissions_for(channel.guild.me).attach_files
        try:
            await channel.send("here", file=discord.File(io.BytesIO(png()), "here.png"))
        except discord.Forbidden as error:
            bot.seen["post"] = (allowed, error.code)
        else:
            bot.seen["post"] = (allowed, "sent")
        await interaction.response.send_message("done", ephemeral=True)

    @tree.command(description="Opens a modal")
    async def describe(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_modal(Describe())

    @tree.command(description="Opens a modal with a file upload")
    async def attach(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_modal(Attach())

    @tree.command(description="Server settings")
    @app_commands.guild_only()
    async def settings(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("settings", ephemeral=True)

    @tree.command(description="Only here", guild=discord.Object(GUILD))
    async def local(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("local")

    admin = app_commands.Group(name="admin", description="Admin")
    quota = app_commands.Group(name="quota", description="Quotas", parent=admin)

    @quota.command(name="set", description="Set a quota")
    async def set_quota(interaction: discord.Interaction[Any], amount: int) -> None:
        member = interaction.user
        assert isinstance(member, discord.Member)
        bot.seen["mod"] = (
            interaction.permissions.manage_messages,
            member.guild_permissions.manage_messages,
        )
        await interaction.response.send_message(f"quota {amount}")

    tree.add_command(admin)

    @tree.command(description="Offers sizes")
    async def pick(interaction: discord.Interaction[Any]) -> None:
        select: discord.ui.Select[discord.ui.View] = discord.ui.Select(
            custom_id="size", options=[discord.SelectOption(label=s) for s in ("S", "M", "L")]
        )

        async def chosen(choice: discord.Interaction[Any]) -> None:
            await choice.response.edit_message(content=f"size {select.values[0]}", view=None)

        select.callback = chosen  # type: ignore[method-assign]
        view = discord.ui.View()
        view.add_item(select)
        await interaction.response.send_message("pick a size", view=view)

    @tree.context_menu(name="Profile")
    async def profile(interaction: discord.Interaction[Any], user: discord.User) -> None:
        await interaction.response.send_message(f"profile of {user.name}")

    @tree.context_menu(name="Upscale")
    async def upscale(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        count = len(message.attachments)
        await interaction.response.send_message(f"upscaling {message.id} with {count} file")


@asynccontextmanager
async def running(**options: Any) -> AsyncIterator[tuple[FakeDiscord, Bot]]:
    fake = FakeDiscord(**options)
    fake.add_guild(GUILD, name="art club")
    fake.add_channel(GENERAL, guild_id=GUILD)
    fake.add_channel(NO_FILES, guild_id=GUILD, name="no-files", bot_denied={"attach_files"})
    fake.add_channel(THREAD, guild_id=GUILD, name="a thread", kind="thread", parent_id=GENERAL)
    fake.add_channel(ELSEWHERE_CHANNEL, guild_id=ELSEWHERE, name="not ours")
    fake.add_channel(GROUP, kind="group", name="friends")
    fake.add_user(ALICE, "alice")
    fake.add_member(GUILD, ALICE)
    fake.add_member(GUILD, MOD, permissions=discord.Permissions(manage_messages=True))
    async with fake:
        bot = Bot()
        async with connected(bot, fake):
            yield fake, bot


@pytest.fixture
async def world() -> AsyncIterator[tuple[FakeDiscord, Bot]]:
    async with running() as pair:
        yield pair


async def test_a_slash_command_answer_carries_a_button_that_a_click_updates(
    world: tuple[FakeDiscord, Bot],
):
    fake, bot = world
    image = fake.add_attachment(png(), "start.png")
    assert (image["width"], image["height"]) == (8, 6)
    interaction = await fake.invoke(
        "imagine", {"prompt": "a harbour", "steps": 30, "image": image}, user=ALICE, channel=GENERAL
    )
    assert (await interaction.response())["type"] == 4
    message = interaction.original
    assert message is not None and message.via == "interaction" and not interaction.ephemeral
    assert message.content == f"a harbour|30|plain|{len(png())}"
    assert message.components[0]["components"][0]["custom_id"] == "vote:7"
    assert message.payload()["interaction_metadata"]["user"]["id"] == str(ALICE)
    assert bot.seen["imagine"]["guild"] == GUILD and not bot.seen["imagine"]["user_install"]
    assert interaction.payload["authorizing_integration_owners"] == {"0": str(GUILD)}

    click = await fake.click(message.id, "vote:7", user=ALICE)
    assert (await click.response())["type"] == 7
    assert message.content == "voted for 7" and message.components == []
    assert click.original is message and message.edits[-1]["content"] == "voted for 7"
    assert not fake.violations


async def test_app_permissions_and_discord_py_s_guild_cache_agree(
    world: tuple[FakeDiscord, Bot],
):
    fake, bot = world
    guild = bot.get_guild(GUILD)
    assert guild is not None and guild.me is not None
    for channel_id in (GENERAL, NO_FILES, THREAD):
        channel = guild.get_channel_or_thread(channel_id)
        assert isinstance(channel, discord.TextChannel | discord.Thread)
        assert channel.permissions_for(guild.me) == fake.bot_permissions(channel_id)
    assert not fake.bot_permissions(NO_FILES).attach_files
    interaction = await fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=NO_FILES)
    await interaction.response()
    assert bot.seen["imagine"]["permissions"] == fake.bot_permissions(NO_FILES)
    in_thread = await fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=THREAD)
    await in_thread.response()
    assert in_thread.payload["channel"]["parent_id"] == str(GENERAL)
    assert fake.channel_messages(THREAD)[0].content.startswith("x|")

    command = await fake.invoke("admin quota set", {"amount": 5}, user=MOD, channel=GENERAL)
    assert (await command.response())["data"]["content"] == "quota 5"
    assert command.payload["data"]["options"][0]["options"][0]["name"] == "set"
    assert bot.seen["mod"] == (True, True)
    assert not fake.violations


async def test_what_no_client_would_send_fails_the_test(world: tuple[FakeDiscord, Bot]):
    fake, _ = world
    dm = fake.dm_channel_of(ALICE)
    with pytest.raises(AssertionError, match="at most 50"):
        await fake.invoke("imagine", {"prompt": "x", "steps": 51}, user=ALICE, channel=GENERAL)
    with pytest.raises(AssertionError, match="no option"):
        await fake.invoke("imagine", {"prompt": "x", "colour": "red"}, user=ALICE, channel=GENERAL)
    with pytest.raises(AssertionError, match="required option 'prompt'"):
        await fake.invoke("imagine", {}, user=ALICE, channel=GENERAL)
    with pytest.raises(AssertionError, match="contexts"):
        await fake.invoke("settings", user=ALICE, channel=dm)
    with pytest.raises(AssertionError, match="not in guild"):
        await fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=ELSEWHERE_CHANNEL)
    with pytest.raises(AssertionError, match="is a group"):
        await fake.invoke("admin quota", user=MOD, channel=GENERAL)
    assert not fake.violations


async def test_a_guild_command_is_synced_and_invoked_there(world: tuple[FakeDiscord, Bot]):
    fake, _ = world
    assert [command["name"] for command in fake.guild_synced[GUILD]] == ["local"]
    interaction = await fake.invoke("local", user=ALICE, channel=GENERAL)
    assert (await interaction.response())["data"]["content"] == "local"
    assert interaction.payload["data"]["guild_id"] == str(GUILD)


async def test_autocomplete_returns_the_bot_s_choices(world: tuple[FakeDiscord, Bot]):
    fake, _ = world
    choices = await fake.autocomplete(
        "imagine", {"prompt": "x", "style": "p"}, focused="style", user=ALICE, channel=GENERAL
    )
    assert [choice["value"] for choice in choices] == ["plain", "photo", "pastel"]
    choices = await fake.autocomplete(
        "imagine", {"style": "pa"}, focused="style", user=ALICE, channel=GENERAL
    )
    assert choices == [{"name": "Pastel", "value": "pastel"}]
    assert not fake.violations


async def test_a_modal_round_trip(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    interaction = await fake.invoke("describe", user=ALICE, channel=GENERAL)
    assert (await interaction.response())["type"] == 9
    assert interaction.modal is not None and interaction.modal["title"] == "Describe it"
    assert [c["type"] for c in interaction.modal["components"]] == [1, 18]
    with pytest.raises(AssertionError, match="no input"):
        await fake.submit_modal(interaction, {"colour": "red"})

    submit = await fake.submit_modal(interaction, {"prompt": "a fox", "mood": "calm"})
    assert [c["type"] for c in submit.payload["data"]["components"]] == [1, 18]
    answer = await submit.response()
    assert answer["data"]["content"] == "a fox (calm)" and submit.ephemeral
    with pytest.raises(AssertionError, match="already submitted"):
        await fake.submit_modal(interaction, {"prompt": "again"})

    # An ephemeral answer is out of reach of the channel endpoints.
    channel = bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel) and submit.original_id is not None
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(submit.original_id)
    assert fake.violations == [
        f"GET /channels/{GENERAL}/messages/{submit.original_id}: 404 10008 Unknown Message: "
        f"message {submit.original_id} is ephemeral: only its interaction reaches it"
    ]


async def test_a_modal_file_upload_carries_the_attachments_it_resolves(
    world: tuple[FakeDiscord, Bot],
):
    fake, _ = world
    interaction = await fake.invoke("attach", user=ALICE, channel=GENERAL)
    await interaction.response()
    assert interaction.modal is not None
    [label] = interaction.modal["components"]
    assert label["type"] == 18 and label["component"]["type"] == 19
    with pytest.raises(AssertionError, match="is required"):
        await fake.submit_modal(interaction, {})
    with pytest.raises(AssertionError, match=r"dicts from fake\.add_attachment"):
        await fake.submit_modal(interaction, {"files": "mask.png"})

    files = [fake.add_attachment(png(), "a.png"), fake.add_attachment(b"xyz", "b.txt")]
    submit = await fake.submit_modal(interaction, {"files": files})
    [echo] = submit.payload["data"]["components"]
    assert echo["component"]["values"] == [file["id"] for file in files]
    assert set(submit.payload["data"]["resolved"]["attachments"]) == {f["id"] for f in files}
    answer = await submit.response()
    assert answer["data"]["content"] == f"a.png:{len(png())} b.txt:3"
    assert not fake.violations


async def test_a_message_command_on_a_member_s_message(world: tuple[FakeDiscord, Bot]):
    fake, _ = world
    posted = fake.user_message(GENERAL, ALICE, "look", files={"cat.png": png()})
    interaction = await fake.message_command("Upscale", posted.id, user=ALICE, channel=GENERAL)
    assert interaction.payload["data"]["target_id"] == str(posted.id)
    answer = await interaction.response()
    assert answer["data"]["content"] == f"upscaling {posted.id} with 1 file"
    assert interaction.original is not None and interaction.original.payload()["type"] == 23
    assert not fake.violations


async def test_a_select_menu_and_a_user_command(world: tuple[FakeDiscord, Bot]):
    fake, _ = world
    interaction = await fake.invoke("pick", user=ALICE, channel=GENERAL)
    await interaction.response()
    assert interaction.original is not None
    with pytest.raises(AssertionError, match=r"is not 1\.\.1 of"):
        await fake.select(interaction.original_id or 0, "size", ["XL"], user=ALICE)
    choice = await fake.select(interaction.original_id or 0, "size", ["M"], user=ALICE)
    assert (await choice.response())["type"] == 7
    assert interaction.original.content == "size M"

    profile = await fake.user_command("Profile", ALICE, user=MOD, channel=GENERAL)
    assert (await profile.response())["data"]["content"] == "profile of alice"
    assert not fake.violations


async def test_a_dm_interaction_has_no_guild(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    dm = fake.dm_channel_of(ALICE)
    interaction = await fake.invoke("imagine", {"prompt": "a boat"}, user=ALICE, channel=dm)
    await interaction.response()
    payload = interaction.payload
    assert "guild_id" not in payload and "member" not in payload
    assert payload["context"] == 1 and payload["user"]["id"] == str(ALICE)
    assert bot.seen["imagine"]["guild"] is None
    assert bot.seen["imagine"]["permissions"] == discord.Permissions(
        attach_files=True, embed_links=True, mention_everyone=True, external_emojis=True
    )
    assert interaction.original is not None and interaction.original.channel_id == dm
    user = await bot.fetch_user(ALICE)
    await user.send("hello")
    assert [message.content for message in fake.channel_messages(dm)][-1] == "hello"
    assert not fake.violations


async def test_a_user_installed_app_answers_where_the_bot_is_not(
    world: tuple[FakeDiscord, Bot],
):
    fake, bot = world
    interaction = await fake.invoke(
        "imagine",
        {"prompt": "a kite"},
        user=ALICE,
        channel=ELSEWHERE_CHANNEL,
        installed_by_user=True,
    )
    await interaction.response()
    assert interaction.payload["guild_id"] == str(ELSEWHERE) and interaction.payload["context"] == 0
    assert interaction.payload["authorizing_integration_owners"] == {"1": str(ALICE)}
    assert bot.seen["imagine"]["guild"] == ELSEWHERE and bot.seen["imagine"]["user_install"]
    assert bot.get_guild(ELSEWHERE) is None
    assert interaction.original is not None and interaction.original.channel_id == ELSEWHERE_CHANNEL

    group = await fake.invoke(
        "imagine", {"prompt": "x"}, user=ALICE, channel=GROUP, installed_by_user=True
    )
    await group.response()
    assert group.payload["context"] == 2

    with pytest.raises(discord.Forbidden) as refused:
        await bot.get_partial_messageable(ELSEWHERE_CHANNEL).send("hi")
    assert refused.value.code == 50001


async def test_a_first_response_after_the_deadline_is_an_unknown_interaction():
    async with running(response_deadline=0.2) as (fake, bot):
        interaction = await fake.invoke("slow", user=ALICE, channel=GENERAL)
        await fake.wait_for(lambda: "slow" in bot.seen)
        assert bot.seen["slow"] == 10062 and interaction.responses == []
        assert "404 10062 Unknown interaction" in fake.violations[0]


async def test_a_second_initial_response_is_refused(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    interaction = await fake.invoke("twice", user=ALICE, channel=GENERAL)
    await fake.wait_for(lambda: "twice" in bot.seen)
    assert bot.seen["twice"] == 40060 and len(interaction.responses) == 1


async def test_a_followup_before_the_initial_response_is_refused(
    world: tuple[FakeDiscord, Bot],
):
    fake, bot = world
    interaction = await fake.invoke("eager", user=ALICE, channel=GENERAL)
    await interaction.response()
    assert bot.seen["eager"] == 10015 and interaction.followups == []


async def test_an_expired_token_refuses_followups_and_edits(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    interaction = await fake.invoke("later", user=ALICE, channel=GENERAL)
    assert (await interaction.response())["type"] == 5
    fake.advance(901)
    bot.go.set()
    await fake.wait_for(lambda: "edit" in bot.seen)
    assert bot.seen["followup"] == bot.seen["edit"] == 50027
    assert interaction.original is not None and interaction.original.loading


async def test_the_first_followup_after_a_deferral_fills_the_loading_message(
    world: tuple[FakeDiscord, Bot],
):
    fake, _ = world
    interaction = await fake.invoke("think", user=ALICE, channel=GENERAL)
    await interaction.wait(lambda i: len(i.followups) == 1)
    original = interaction.original
    assert original is not None and original.content == "done"
    assert original.ephemeral and not original.loading
    assert interaction.followups[0].content == "more" and not interaction.followups[0].ephemeral
    assert not fake.violations


async def test_file_count_and_size_limits():
    async with running(upload_limit=1000) as (fake, bot):
        for count, size in ((11, 10), (1, 1001), (2, 400)):
            await fake.invoke("files", {"count": count, "size": size}, user=ALICE, channel=GENERAL)
        await fake.wait_for(lambda: len(bot.seen.get("files", [])) == 3)
        assert bot.seen["files"] == [(400, 50035), (413, 40005), "sent"]
        assert len(fake.violations) == 2


async def test_content_over_2000_characters_is_refused(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    await fake.invoke("long", user=ALICE, channel=GENERAL)
    await fake.wait_for(lambda: "long" in bot.seen)
    status, code, text = bot.seen["long"]
    assert (status, code) == (400, 50035) and "content" in text


async def test_a_channel_post_without_attach_files_is_forbidden(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    await fake.invoke("post", {"channel": NO_FILES}, user=ALICE, channel=GENERAL)
    await fake.wait_for(lambda: "post" in bot.seen)
    assert bot.seen["post"] == (False, 50013)
    assert fake.channel_messages(NO_FILES) == []
    assert len(fake.violations) == 1 and "attach_files" in fake.violations[0]


async def test_a_rate_limited_callback_and_channel_post_are_retried(
    world: tuple[FakeDiscord, Bot],
):
    fake, bot = world
    fake.fail_next("POST", r"/callback$")
    fake.fail_next("POST", r"^/channels/\d+/messages$")
    interaction = await fake.invoke("post", {"channel": GENERAL}, user=ALICE, channel=GENERAL)
    await interaction.response()
    assert bot.seen["post"] == (True, "sent")
    posted = fake.messages[-1]
    assert posted.channel_id == GENERAL and list(posted.files) == ["here.png"]
    statuses = [(r.path.rsplit("/", 1)[-1], r.status) for r in fake.requests if r.method == "POST"]
    assert statuses == [("messages", 429), ("messages", 200), ("callback", 429), ("callback", 200)]
    assert not fake.violations


async def test_an_unimplemented_route_is_a_violation(world: tuple[FakeDiscord, Bot]):
    fake, bot = world
    with pytest.raises(discord.NotFound):
        await bot.fetch_guild(GUILD)
    assert fake.violations == [
        f"GET /guilds/{GUILD}: 404 0 404: Not Found: the fake has no GET /guilds/{GUILD}"
    ]


ROW = {"type": 1, "components": [{"type": 2, "style": 1, "label": "a", "custom_id": "a"}]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "x" * 2001}, "content"),
        ({"embeds": [{"title": "t"}] * 11}, "embeds"),
        ({"embeds": [{"title": "x" * 257}]}, "embeds.0.title"),
        ({"embeds": [{"description": "x" * 4000}, {"description": "x" * 2001}]}, "embeds"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "embeds.0.fields"),
        ({"embeds": [{"footer": {"text": "x" * 2049}}]}, "embeds.0.footer.text"),
        ({"components": [ROW] * 6}, "components"),
        (
            {"components": [{"type": 1, "components": ROW["components"] * 6}]},
            "components.0.components",
        ),
        (
            {
                "components": [
                    {"type": 1, "components": [{**ROW["components"][0], "custom_id": "c" * 101}]}
                ]
            },
            "components.0.components.0.custom_id",
        ),
    ],
)
def test_message_limits(body: dict[str, Any], field: str):
    with pytest.raises(Refused) as refused:
        check_message(body, [], upload_limit=10, flags=0)
    assert (refused.value.status, refused.value.code, refused.value.field) == (400, 50035, field)


# Sharding: raw gateway sessions, to see which frames each shard gets.

ON_SHARD_0 = 2 << 22  # (guild_id >> 22) % 2 == 0
ON_SHARD_1 = 3 << 22
ON_SHARD_1_CHANNEL = ON_SHARD_1 + 1


async def identify(
    http: aiohttp.ClientSession, fake: FakeDiscord, shard: list[int] | None
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(fake.gateway_url)
    assert (await ws.receive_json(timeout=5))["op"] == 10
    data: dict[str, Any] = {"token": TOKEN, "intents": 1, "properties": {}}
    if shard is not None:
        data["shard"] = shard
    await ws.send_json({"op": 2, "d": data})
    return ws


async def dispatches(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    frames = [await ws.receive_json(timeout=5) for _ in range(count)]
    assert all(frame["op"] == 0 for frame in frames), frames
    return frames


@asynccontextmanager
async def sharded(**options: Any) -> AsyncIterator[tuple[FakeDiscord, aiohttp.ClientSession]]:
    async with FakeDiscord(**options) as fake, aiohttp.ClientSession() as http:
        yield fake, http


async def test_gateway_bot_tells_the_shard_count_and_the_session_start_limit():
    async with sharded(shard_count=4, max_concurrency=16, session_starts=10) as (fake, http):
        headers = {"Authorization": f"Bot {TOKEN}"}
        async with http.get(f"{fake.api_base}/gateway/bot", headers=headers) as response:
            assert await response.json() == {
                "url": fake.gateway_url,
                "shards": 4,
                "session_start_limit": {
                    "total": 10,
                    "remaining": 10,
                    "reset_after": 86_400_000,
                    "max_concurrency": 16,
                },
            }
        ws = await identify(http, fake, [0, 4])
        await dispatches(ws, 1)
        async with http.get(f"{fake.api_base}/gateway/bot", headers=headers) as response:
            assert (await response.json())["session_start_limit"]["remaining"] == 9
        await ws.close()


async def test_each_shard_gets_its_guilds_and_their_interactions_and_dms_come_on_shard_0():
    async with sharded(shard_count=2, max_concurrency=2) as (fake, http):
        for guild in (ON_SHARD_0, ON_SHARD_1):
            fake.add_guild(guild)
        fake.add_channel(ON_SHARD_1_CHANNEL, guild_id=ON_SHARD_1)
        shard_0, shard_1 = [await identify(http, fake, [n, 2]) for n in (0, 1)]
        ready_0, create_0 = await dispatches(shard_0, 2)
        ready_1, create_1 = await dispatches(shard_1, 2)
        assert ready_0["d"]["shard"] == [0, 2] and ready_1["d"]["shard"] == [1, 2]
        assert [g["id"] for g in ready_0["d"]["guilds"]] == [str(ON_SHARD_0)]
        assert (create_0["t"], create_0["d"]["id"]) == ("GUILD_CREATE", str(ON_SHARD_0))
        assert (create_1["t"], create_1["d"]["id"]) == ("GUILD_CREATE", str(ON_SHARD_1))

        headers = {"Authorization": f"Bot {TOKEN}"}
        commands_url = f"{fake.api_base}/applications/{APPLICATION_ID}/commands"
        ping = [{"name": "ping", "description": "ping", "type": 1}]
        async with http.put(commands_url, json=ping, headers=headers) as response:
            assert response.status == 200
        in_guild = await fake.invoke("ping", user=ALICE, channel=ON_SHARD_1_CHANNEL)
        [event] = await dispatches(shard_1, 1)
        assert (event["t"], event["d"]["id"]) == ("INTERACTION_CREATE", str(in_guild.id))
        in_dm = await fake.invoke("ping", user=ALICE, channel=fake.dm_channel_of(ALICE))
        [event] = await dispatches(shard_0, 1)
        assert (event["t"], event["d"]["id"]) == ("INTERACTION_CREATE", str(in_dm.id))
        assert fake.shards.refused == []
        await shard_0.close()
        await shard_1.close()


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        ([0, 2], [1, 3], "shard count 3; the bot runs 2 shards"),
        ([0, 2], [2, 2], "shard id 2 is out of range"),
        ([0, 2], [0, 2], "shard 0 is already connected"),
        ([0, 2], None, "shard count 1; the bot runs 2 shards"),
        ([1, 2], [1, 2], "shard 1 is already connected"),
    ],
)
async def test_an_inconsistent_identify_gets_an_invalid_session(
    first: list[int], second: list[int] | None, reason: str
):
    async with sharded(shard_count=2, identify_window=0) as (fake, http):
        accepted = await identify(http, fake, first)
        await dispatches(accepted, 1)
        refused = await identify(http, fake, second)
        assert await refused.receive_json(timeout=5) == {"op": 9, "d": False}
        assert [entry.split(": ", 1)[1] for entry in fake.shards.refused] == [reason]
        assert [i.shard_id for i in fake.shards.identifies] == [first[0]]
        await accepted.close()
        await refused.close()


async def test_one_identify_per_bucket_per_window():
    async with sharded(shard_count=4, max_concurrency=2, identify_window=0.3) as (fake, http):
        shard_0, shard_1 = [await identify(http, fake, [n, 4]) for n in (0, 1)]
        await dispatches(shard_0, 1)
        await dispatches(shard_1, 1)
        too_soon = await identify(http, fake, [2, 4])  # bucket 0 again
        assert await too_soon.receive_json(timeout=5) == {"op": 9, "d": False}
        assert "bucket 0 identified" in fake.shards.refused[0]
        await too_soon.close()
        await asyncio.sleep(0.3)
        shard_2 = await identify(http, fake, [2, 4])
        await dispatches(shard_2, 1)
        assert [(i.shard_id, i.bucket) for i in fake.shards.identifies] == [(0, 0), (1, 1), (2, 0)]
        for ws in (shard_0, shard_1, shard_2):
            await ws.close()
