"""Styles as text: names, and how a style meets a member's prompt."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.styles import (
    InvalidStyleName,
    Style,
    StyleTextTooLong,
    apply,
    check_text,
    merge,
    normalise_name,
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("Moody", "moody"), ("  ink_wash-2 ", "ink_wash-2"), ("ÉTÉ", "été"), ("ｆｕｌｌ", "full")],
)
def test_names_are_stored_lower_case_and_normalised(typed: str, stored: str):
    assert normalise_name(typed) == stored


@pytest.mark.parametrize("name", ["", " ", "two words", "a" * 33, "semi;colon", "{prompt}", "--ar"])
def test_names_outside_the_rule_are_refused(name: str):
    with pytest.raises(InvalidStyleName):
        normalise_name(name)


def test_a_style_without_the_placeholder_follows_the_prompt():
    style = Style("moody", "dark, cinematic lighting", "bright")
    assert apply(style, "a castle", "people") == (
        "a castle, dark, cinematic lighting",
        "people, bright",
    )


def test_a_template_puts_the_prompt_where_it_says():
    style = Style("poster", "vintage poster of {prompt}, grainy", "{prompt}, blurry")
    assert apply(style, " a fox ", "text") == ("vintage poster of a fox, grainy", "text, blurry")


def test_empty_parts_drop_out():
    assert apply(Style("x", "ink"), "", "") == ("ink", "")
    assert apply(Style("x", "", ""), "a fox", "text") == ("a fox", "text")


@given(st.text(max_size=40), st.text(max_size=40).filter(lambda s: "{prompt}" not in s))
def test_a_suffix_keeps_the_prompt_first(prompt: str, style: str):
    merged = merge(style, prompt)
    assert merged.startswith(prompt.strip())
    assert merged.endswith(style.strip())


def test_texts_longer_than_the_limits_are_refused():
    check_text(Style("ok", "a" * 10, "b" * 10, "--ar 1:1"), 10)
    with pytest.raises(StyleTextTooLong) as refused:
        check_text(Style("x", "a" * 11), 10)
    assert refused.value.field == "prompt" and refused.value.most == 10
    with pytest.raises(StyleTextTooLong):
        check_text(Style("x", params="--seed 1 " * 40), 1500)
