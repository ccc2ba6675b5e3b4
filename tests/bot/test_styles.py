"""Styles as text: names, and how a style meets a member's prompt."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.prompting.errors import PromptError
from bot.prompting.params import parse
from bot.styles import (
    InvalidStyleName,
    Style,
    StyleParamsRefused,
    StyleTextTooLong,
    apply,
    check_text,
    merge,
    normalise_name,
    split_params,
    under,
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


def test_parameters_are_checked_and_kept_as_the_parser_reads_them_back():
    assert split_params("cinematic, {prompt}", "--AR 16:9  --cfg 7") == (
        "cinematic, {prompt}",
        "--ar 16:9 --cfg 7.0",
    )
    # parameters ending the prompt join the option's
    assert split_params("ink wash --no people", "--steps 30") == (
        "ink wash",
        "--no people --steps 30",
    )
    assert split_params("ink wash", None) == ("ink wash", "")
    # words after a one-word value are text, as in a prompt
    assert split_params("ink wash --steps 30 soft", None) == ("ink wash soft", "--steps 30")


@pytest.mark.parametrize(
    ("prompt", "parameters", "refusal"),
    [
        ("x", "--arr 16:9", PromptError),
        ("x", "--steps many", PromptError),
        ("x --ar 1:1", "--ar 2:3", PromptError),  # given twice
        ("x", "ar 16:9", StyleParamsRefused),
        ("x", "--style other", StyleParamsRefused),
        ("x --repeat 3", None, StyleParamsRefused),
        ("x", "--sref 12:1", StyleParamsRefused),
    ],
)
def test_parameters_a_style_cannot_carry_are_refused(
    prompt: str, parameters: str | None, refusal: type[Exception]
):
    with pytest.raises(refusal):
        split_params(prompt, parameters)


def test_the_members_parameters_win_over_the_styles_and_no_lists_add_up():
    style = Style("wide", params="--ar 16:9 --steps 30 --no blur")
    merged = under(style, parse("x --steps 12 --no people, blur --seed 4")[1])
    assert merged.ar == (16, 9) and merged.steps == 12 and merged.seed == 4
    assert merged.no == ("blur", "people")
    assert under(Style("plain"), parse("x --tile")[1]) == parse("x --tile")[1]
