"""A chat model's answer made into a prompt, and the guess at whether a prompt is English."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.prompt_helper.sanitise import sanitised
from bot.prompt_helper.tasks import needs_translation

FOX = "A red fox in the snow at dawn"


@pytest.mark.parametrize(
    "answer",
    [
        FOX,
        f'"{FOX}"',
        f"“{FOX}”",
        f"«{FOX}»",
        f"Sure! Here is an enhanced prompt:\n\n{FOX}",
        f"Sure, here's a more detailed version: {FOX}",
        f"Certainly. {FOX}",
        f'Here\'s the prompt: "{FOX}"',
        f"Enhanced prompt: {FOX}",
        f"**Prompt:** {FOX}",
        f"Translation: {FOX}",
        f"```\n{FOX}\n```",
        f"```text\n{FOX}\n```",
        f"<think>The user wants a fox. Let me think.</think>\n{FOX}",
        f"  {FOX}  \n",
    ],
)
def test_preambles_quotes_markdown_and_reasoning_go(answer: str):
    assert sanitised(answer, 500) == FOX


def test_a_prompt_that_merely_opens_with_ok_stays():
    assert sanitised("OK Corral at sunset.", 500) == "OK Corral at sunset."


def test_lines_become_one():
    assert sanitised("A fox\n- in the snow\n- at dawn\n\n# soft light", 500) == (
        "A fox in the snow at dawn soft light"
    )


def test_mentions_never_survive():
    text = sanitised("A fox @everyone <@123> <@&456> <#789> @here <@!42> @alice </cmd:12>", 500)
    assert "@" not in text and "<" not in text
    assert text == "A fox everyone here alice"


def test_control_and_invisible_characters_go():
    assert sanitised("A\u200bfox\x00 in\u202e snow\ttoday", 500) == "A fox in snow today"


def test_quotes_inside_a_prompt_stay():
    assert (
        sanitised('A sign that says "open" on a door', 500) == 'A sign that says "open" on a door'
    )


def test_an_unfinished_reasoning_block_leaves_nothing():
    assert sanitised("<think>I should draw a fox but", 500) == ""


@given(st.text(max_size=3000), st.integers(min_value=1, max_value=1500))
def test_always_one_bounded_line_without_mentions(answer: str, limit: int):
    text = sanitised(answer, limit)
    assert len(text) <= limit
    assert "\n" not in text and "\r" not in text and "@" not in text
    assert text == text.strip()


@pytest.mark.parametrize(
    "prompt",
    [
        "ein Schloss auf einem Hügel",
        "un castillo en la colina con la luna",
        "un chat noir avec des yeux verts",
        "una casa sul lago",
        "城の上の月",
        "замок на холме",
        "ein Hund und eine Katze",
    ],
)
def test_other_languages_look_like_they_need_translating(prompt: str):
    assert needs_translation(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "a castle on a hill with the moon",
        "cyberpunk city, neon, rain, 8k",
        "portrait of an old man wearing a hat",
        "",
        "1234 !!!",
    ],
)
def test_english_and_keywords_need_no_translation(prompt: str):
    assert not needs_translation(prompt)


@pytest.mark.parametrize(
    "answer",
    [
        "A fox [in the snow](https://evil.example/x) at dawn",
        "A fox in the snow https://discord.gg/abc at dawn",
        "A fox in the snow discord.gg/abc at dawn",
        "A fox in the snow discord.com/invite/abc at dawn",
        "A fox in the snow <https://evil.example/?q=1> at dawn",
        "A fox in the snow www.evil.example at dawn",
        "A fox [in the snow](<javascript:alert(1)>) at dawn",
    ],
)
def test_links_and_invites_never_survive(answer: str):
    text = sanitised(answer, 500)
    assert "://" not in text and ".gg" not in text and "invite" not in text
    assert "evil" not in text and "(" not in text
    assert text.startswith("A fox") and text.endswith("at dawn")
