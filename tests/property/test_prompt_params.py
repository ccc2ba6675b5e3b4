"""Properties of the inline-parameter parser: what is formatted reads back the same, text
without parameters stays as it is, and nothing but PromptError ever comes out of it."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bot.prompting.errors import PromptError
from bot.prompting.params import MAX_SEED, InlineParams, format_params, parse

WORDS = (
    st.text(
        alphabet=st.characters(
            categories=("L", "N", "Zs"), exclude_characters='\u2014\u2013"\u201c\u201e,{}'
        ),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)
NAMES = (
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 +._", min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)
WORD_NAMES = NAMES.map(lambda name: name.replace(" ", "-"))
RATIOS = st.tuples(st.integers(1, 100), st.integers(1, 100)).filter(lambda r: max(r) / min(r) <= 4)


@st.composite
def params(draw: st.DrawFn) -> InlineParams:
    sref = draw(st.lists(st.tuples(st.integers(0, 10**12), st.integers(1, 99)), max_size=3))
    return InlineParams(
        ar=draw(st.none() | RATIOS),
        no=tuple(draw(st.lists(WORDS, max_size=5))),
        seed=draw(st.none() | st.integers(0, MAX_SEED)),
        steps=draw(st.none() | st.integers(1, 500)),
        guidance=draw(st.none() | st.floats(0, 30).map(lambda g: round(g, 3))),
        sampler=draw(st.none() | NAMES),
        model=draw(st.none() | NAMES),
        repeat=draw(st.none() | st.integers(1, 40)),
        tile=draw(st.booleans()),
        chaos=draw(st.none() | st.integers(0, 100)),
        style=draw(st.none() | WORD_NAMES),
        sref=tuple(sref),
        sw=draw(st.none() | st.integers(0, 200)) if sref else None,
    )


# Text as members type it: letters, digits, spaces and the punctuation used in prompts, but
# no parameter marker starting a word.
PROMPTS = st.text(
    alphabet=st.characters(
        categories=("L", "N", "Zs", "P", "S"), exclude_characters="\u2014\u2013"
    ),
    max_size=80,
).filter(lambda text: " --" not in f" {text}")


@given(PROMPTS, params())
@example("a castle", InlineParams(ar=(16, 9), no=("people",), seed=7, chaos=20))
@example('a 5" figure', InlineParams(ar=(2, 3)))
def test_formatted_parameters_parse_back_the_same(prompt: str, given_params: InlineParams) -> None:
    text = f"{prompt} {format_params(given_params)}" if given_params.given else prompt
    clean, parsed = parse(text)
    assert parsed == given_params
    assert clean == (prompt.rstrip() if given_params.given else prompt)


@given(PROMPTS)
@example('say "--no way" to them')
@example("rock--paper -- scissors")
@example("a castle \u2014 at dusk")
def test_text_without_parameters_stays_as_it_is(prompt: str) -> None:
    assert parse(prompt) == (prompt, InlineParams())


@given(st.text(max_size=200))
@example("a --")
@example("a --ar")
@example("a --ar 99999999999999999999:1")
@example("a --cfg 1e400")
@example("a --seed -1")
@example("a --no ,")
@example("a \u2014tile \u2014tile")
@example('a --style "x --y')
def test_any_text_parses_or_is_refused_with_a_prompt_error(text: str) -> None:
    try:
        clean, parsed = parse(text)
    except PromptError as err:
        assert err.field
        return
    assert len(clean) <= len(text)
    assert parse(f"{clean} {format_params(parsed)}" if parsed.given else clean)[1] == parsed


@given(st.sampled_from(["sed", "sead", "seeed", "chaoss", "stpes", "tiles", "negative"]))
def test_an_unknown_parameter_is_named_with_close_matches(name: str) -> None:
    try:
        parse(f"a cat --{name} 3")
    except PromptError as err:
        assert err.field == f"--{name}"
    else:
        raise AssertionError("an unknown parameter was kept")


@given(PROMPTS.filter(lambda text: text.strip() and "{" not in text), WORD_NAMES)
def test_words_after_a_one_word_value_are_prompt_text(prompt: str, style: str) -> None:
    clean, parsed = parse(f"{prompt} --style {style} at night --seed 3 --tile moss")
    assert parsed == InlineParams(style=style, seed=3, tile=True)
    assert clean == f"{prompt.rstrip()} at night moss"
