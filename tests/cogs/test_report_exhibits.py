"""A report shows moderators the member's own images the job was given (references, the
control image, the image it started from), labelled and shrunk, beside its result."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest
from PIL import Image

from bot.moderation.evidence import SIDE, member_images, report_exhibits
from cogs.admin.reports import exhibit_files
from engine import Control, ControlKind, GenerationRequest, Mode, Reference, ReferenceKind
from tests.cogs.conftest import ALICE, BOB, GENERAL, GUILD, MOD, World, open_world
from tests.cogs.test_imagine import result_of
from tests.cogs.test_tools import png

REPORTS = 110


@pytest.fixture
async def world(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    steered = {"references": ["fake-v1"], "controls": ["fake-v1"], "max_references": 5}
    async with open_world(tmp_path, fake=steered) as opened:
        opened.fake.add_channel(REPORTS, guild_id=GUILD, name="reports")
        moderator = discord.Permissions(manage_guild=True, manage_messages=True)
        opened.fake.add_member(GUILD, MOD, permissions=moderator)
        yield opened


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def test_a_report_carries_the_references_and_control_image(world: World):
    await world.runtime.policies.set_guild_setting(GUILD, "report_channel", REPORTS)
    interaction = await world.fake.invoke(
        "imagine",
        {
            "prompt": "a knight",
            "sref": world.fake.add_attachment(png(1024, 512, (200, 0, 0))),
            "sref_weight": 0.5,
            "control": world.fake.add_attachment(png(64, 64, (0, 0, 0)), "pose.png"),
            "control_type": "pose",
        },
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(world, interaction)
    job_id = (await world.jobs())[-1]["job_id"]
    clicked = await world.fake.click(result.id, f"img:p:{job_id}:0", user=BOB)
    await clicked.wait(lambda i: bool(i.original and "Thank you" in i.original.content))
    await world.fake.wait_for(lambda: bool(world.fake.channel_messages(REPORTS)))
    [report] = world.fake.channel_messages(REPORTS)
    files = report.files
    assert sorted(files) == sorted(
        [
            "SPOILER_report-1.png",
            "SPOILER_report-1-reference-1.png",
            "SPOILER_report-1-control.png",
        ]
    )
    assert size_of(files["SPOILER_report-1-reference-1.png"]) == (SIDE, SIDE // 2)
    fields = {field["name"]: field["value"] for field in report.embeds[0]["fields"]}
    assert fields["Member's images"] == (
        "1. reference 1 (style, weight 0.5)\n2. control image (pose)"
    )


def test_every_kind_of_member_image_is_labelled_in_order():
    request = GenerationRequest(
        "x",
        mode=Mode.IMG2IMG,
        init_image=png(64, 64, (1, 1, 1)),
        references=(Reference(ReferenceKind.SUBJECT, 2.0), Reference(ReferenceKind.STYLE, 1.0)),
        reference_images=(png(64, 64, (2, 2, 2)), png(64, 64, (3, 3, 3))),
        control=Control(ControlKind.AS_IS),
        control_image=png(64, 64, (4, 4, 4)),
    )
    assert [exhibit.label for exhibit in member_images(request)] == [
        "the image it started from",
        "reference 1 (subject, weight 2)",
        "reference 2 (style, weight 1)",
        "control image (as is)",
    ]


def test_an_unreadable_image_is_left_out_of_a_report():
    request = GenerationRequest(
        "x",
        references=(Reference(), Reference()),
        reference_images=(b"damaged", png(64, 64, (3, 3, 3))),
    )
    assert [exhibit.slug for exhibit in report_exhibits(request)] == ["reference-2"]


def test_a_plain_job_has_no_member_images():
    assert member_images(GenerationRequest("x")) == []


async def test_images_past_the_upload_room_are_named_but_not_attached():
    request = GenerationRequest(
        "x",
        references=(Reference(), Reference(ReferenceKind.SUBJECT)),
        reference_images=(png(64, 64, (1, 1, 1)), png(600, 600, (2, 2, 2))),
    )
    small = len(report_exhibits(request)[0].data)
    files, lines = await exhibit_files(4, request, room=small + 10)
    assert [file.filename for file in files] == ["SPOILER_report-4-reference-1.png"]
    assert lines == [
        "1. reference 1 (style, weight 1)",
        "2. reference 2 (subject, weight 1) (not attached: too large)",
    ]
