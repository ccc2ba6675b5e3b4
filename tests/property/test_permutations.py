"""Properties of the permutation expander: one prompt per combination, counted before any is
built, and a cap that is never passed."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.prompting.errors import PromptError
from bot.prompting.permutations import count, expand

OPTIONS = st.text(alphabet="abcdefghij ", min_size=1, max_size=6).map(str.strip).filter(bool)
GROUPS = st.lists(st.lists(OPTIONS, min_size=1, max_size=5, unique=True), max_size=4)


def _text(groups: list[list[str]]) -> str:
    return " ".join("{" + ", ".join(options) + "}" for options in groups) or "plain"


@given(GROUPS, st.integers(1, 2000))
def test_the_count_is_the_product_of_the_choices_and_the_cap_holds(
    groups: list[list[str]], cap: int
) -> None:
    text = _text(groups)
    product = math.prod(len(options) for options in groups)
    assert count(text, cap) == min(product, cap + 1)
    if product > cap:
        with pytest.raises(PromptError):
            expand(text, cap)
    else:
        made = expand(text, cap)
        assert len(made) == product
        assert all("{" not in prompt and "}" not in prompt for prompt in made)


@given(st.integers(2, 9), st.integers(1, 20))
def test_an_enormous_expansion_is_counted_without_building_it(width: int, groups: int) -> None:
    text = " ".join("{" + ",".join(str(i) for i in range(width)) + "}" for _ in range(groups))
    cap = 50
    assert count(text, cap) == min(width**groups, cap + 1)
    if width**groups > cap:
        with pytest.raises(PromptError):
            expand(text, cap)


@given(st.text(alphabet="abc ,.()[]:-!?", max_size=60))
def test_text_without_braces_or_escapes_is_one_prompt_unchanged(text: str) -> None:
    assert expand(text, 1) == [text]


@given(st.text(alphabet="ab{},\\ ", max_size=40))
def test_any_text_expands_or_is_refused_with_a_prompt_error(text: str) -> None:
    try:
        made = expand(text, 64)
    except PromptError:
        return
    assert 1 <= len(made) <= 64


def test_nested_groups_and_escapes() -> None:
    made = expand(r"a {red, {dark, light} blue} bird \{x\, y\}", 10)
    assert made == [
        "a red bird {x, y}",
        "a dark blue bird {x, y}",
        "a light blue bird {x, y}",
    ]
