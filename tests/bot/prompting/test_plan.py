"""Planning one prompt's jobs: overrides by command options, seeds of repeats, combining a
style's parameters with the prompt's."""

from __future__ import annotations

import pytest

from bot.prompting.errors import PromptError
from bot.prompting.params import InlineParams, parse
from bot.prompting.plan import combined, drafts, job_seeds, merged_negative, overridden


def test_options_override_the_same_inline_parameters():
    params = InlineParams(ar=(16, 9), seed=7, steps=9, tile=True)
    kept, ignored = overridden(params, {"width": 512, "seed": 3, "steps": None})
    assert kept == InlineParams(steps=9, tile=True)
    assert [(i.parameter, i.option) for i in ignored] == [
        ("--ar 16:9", "width"),
        ("--seed 7", "seed"),
    ]


def test_repeats_get_seeds_apart_by_the_count():
    assert job_seeds(10, 3, 4) == [10, 14, 18]
    assert job_seeds(None, 2, 1) == [None, None]
    assert job_seeds(2**32 - 1, 2, 1) == [2**32 - 1, 0]


def test_drafts_count_permutations_times_repeats_against_the_limit():
    made = drafts("a {red, blue} bird --repeat 2", 4)
    assert [(d.prompt, d.jobs) for d in made] == [("a red bird", 2), ("a blue bird", 2)]
    assert len(drafts("{a, b, c, d, e} bird", 5)) == 5
    with pytest.raises(PromptError, match="6 jobs"):
        drafts("{a, b} bird --repeat 3", 5)
    with pytest.raises(PromptError, match="more than 5 prompts"):
        drafts("{a, b, c, d, e, f} bird", 5)
    with pytest.raises(PromptError):
        drafts("--ar 1:1", 5)  # parameters and no prompt


def test_a_styles_parameters_give_way_to_the_prompts():
    _, style = parse("--ar 3:2 --no blur --cfg 4")
    _, prompt = parse("x --ar 1:1 --no text")
    assert combined(style, prompt) == InlineParams(ar=(1, 1), no=("blur", "text"), guidance=4.0)


def test_no_adds_to_the_negative_prompt():
    assert merged_negative("", ("a", "b")) == "a, b"
    assert merged_negative("lowres ", ("a",)) == "lowres, a"
    assert merged_negative("lowres", ()) == "lowres"
