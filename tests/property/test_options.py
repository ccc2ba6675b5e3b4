"""Properties of the /imagine options: LoRA parsing, aspect sizes, and JobService.submit.

The service properties are synchronous ``@given`` functions defined inside a test: the test
opens one Runtime on an ``asyncio.Runner`` and every example runs its coroutine with
``runner.run``, so the database, the providers and the event loop are built once per test,
not once per example, and no example depends on pytest-asyncio's Hypothesis support.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.errors import Refusal
from bot.jobs import Requester
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets
from cogs.options import ASPECTS, aspect_size, parse_loras
from engine import GenerationRequest, InvalidRequest, LoraRef
from tests.conftest import make_settings

SNOWFLAKES = st.integers(1, 2**63 - 1)
SPECIAL = ("\x00", "🙂", "👩\u200d👩\u200d👧", "مرحبا", "שלום", "\u202e", "\ufeff", " ", "\t", "\n")
OPTIONS = {
    "prompt",
    "negative",
    "width",
    "height",
    "steps",
    "count",
    "seed",
    "guidance",
    "sampler",
}


def _repeat(unit: str, length: int) -> str:
    return (unit * length)[:length]


def texts(longest: int) -> st.SearchStrategy[str]:
    """Short text of any kind, runs of emoji, RTL marks and NULs, and text around ``longest``."""
    return st.one_of(
        st.text(max_size=60),
        st.lists(st.sampled_from(SPECIAL), max_size=30).map("".join),
        st.builds(
            _repeat,
            st.text(min_size=1, max_size=8),
            st.one_of(st.integers(200, longest + 500), st.sampled_from([longest, longest + 1])),
        ),
    )


# Valid values often enough that both outcomes of submit are exercised.
SIDES = st.one_of(st.none(), st.integers(-10, 9000), st.integers(8, 256).map(lambda k: k * 8))
STEPS = st.one_of(st.none(), st.integers(-5, 300), st.integers(1, 100))
SEEDS = st.one_of(st.none(), st.integers(-1, 2**63), st.integers(0, 2**32 - 1))
GUIDANCE = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 30),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0]),
)
SAMPLERS = st.one_of(st.none(), st.sampled_from(["Euler", "Euler a"]), st.text(max_size=20))
LORA_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("ab :,.-+0123456789٣\n\t")), max_size=80),
    st.builds(
        lambda name, digits: f"{name}:{digits}",
        st.text(max_size=5),
        st.integers(1, 400).flatmap(
            lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
        ),
    ),
    st.builds(_repeat, st.text(min_size=1, max_size=6), st.integers(1000, 20_000)),
)
LORA_NAMES = (
    st.text(min_size=1, max_size=20)
    .map(str.strip)
    .filter(lambda name: name and not set(name) & {":", ","})
)


@given(LORA_TEXT)
@example("lora:" + "9" * 400)
@settings(max_examples=300, deadline=None)
def test_parse_loras_gives_finite_weights_or_refuses_the_loras_option(text: str):
    try:
        loras = parse_loras(text)
    except InvalidRequest as err:
        assert err.field == "loras"
        return
    assert all(isinstance(lora, LoraRef) for lora in loras)
    assert all(math.isfinite(lora.weight) for lora in loras)


@given(st.lists(st.tuples(LORA_NAMES, st.floats(-2, 2).map(lambda w: round(w, 2))), max_size=6))
@settings(max_examples=200, deadline=None)
def test_formatted_loras_parse_back_to_the_same_names_and_weights(pairs: list[tuple[str, float]]):
    text = ", ".join(f"{name}:{weight}" for name, weight in pairs)
    assert parse_loras(text) == tuple(LoraRef(name, weight) for name, weight in pairs)


@given(st.sampled_from(ASPECTS), st.integers(64**2, 2048**2))
@settings(max_examples=300, deadline=None)
def test_aspect_sizes_are_multiples_of_64_and_never_below_64(aspect: str, area: int):
    width, height = aspect_size(aspect, area)
    assert width % 64 == 0 and height % 64 == 0
    assert width >= 64 and height >= 64


# Each side is rounded to the nearest multiple of 64, so it may be off by 32 px. Once the
# shorter ideal side is at least 640 px, that is at most 5 % on it and less on the longer one:
# the ratio then stays within (1 + 5 %) / (1 - 5 %) of the preset when both sides err in
# opposite directions, under 10 % for every preset but 1:1, whose sides always round alike.
# Below that, a 21:9 request for 64x64 pixels comes out 128x64 (a ratio of 2, not 2.33).
SHORTEST_SIDE = 640


def _areas_keeping_the_ratio(aspect: str) -> st.SearchStrategy[int]:
    across, down = (int(part) for part in aspect.split(":"))
    least = math.ceil(SHORTEST_SIDE**2 * max(across, down) / min(across, down))
    return st.integers(least, 2048**2)


@given(
    st.sampled_from(ASPECTS).flatmap(lambda a: st.tuples(st.just(a), _areas_keeping_the_ratio(a)))
)
@settings(max_examples=300, deadline=None)
def test_aspect_sizes_keep_the_preset_ratio_within_ten_percent(case: tuple[str, int]):
    aspect, area = case
    across, down = (int(part) for part in aspect.split(":"))
    width, height = aspect_size(aspect, area)
    assert abs(width / height - across / down) <= 0.1 * across / down


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[asyncio.Runner, Runtime]]:
    """A runtime on its own event loop, with quota, queue and prompt limits high enough that a
    refusal is about the request, not about the member having asked too often."""
    settings_ = make_settings(
        tmp_path,
        quota={"daily_units": 10**12},
        queue={"max_queued_per_user": 10**9},
        limits={"max_prompt_length": 6000},
    )
    with asyncio.Runner() as runner:
        opened = open_runtime(LoadedSettings(settings_, Secrets(), None))
        runtime = runner.run(opened.__aenter__())
        try:
            yield runner, runtime
        finally:
            runner.run(opened.__aexit__(None, None, None))


async def _charges(runtime: Runtime) -> tuple[int, int, int]:
    ledger = await runtime.db.fetchone("SELECT COALESCE(SUM(units), 0), COUNT(*) FROM quota_ledger")
    jobs = await runtime.db.fetchone("SELECT COUNT(*) FROM jobs")
    assert ledger is not None and jobs is not None
    return int(ledger[0]), int(ledger[1]), int(jobs[0])


async def _submit(runtime: Runtime, request: GenerationRequest, requester: Requester) -> bool:
    """True when queued (and stored faithfully); False when refused without a charge."""
    before = await _charges(runtime)
    try:
        job = await runtime.service.submit(request, requester, provider="fake")
    except InvalidRequest as err:
        assert err.field in OPTIONS
        assert await _charges(runtime) == before
        return False
    except Refusal:
        assert await _charges(runtime) == before
        return False
    stored = await runtime.store.get(job.job_id)
    assert stored is not None
    assert stored.request == job.request
    units, entries, jobs = await _charges(runtime)
    assert (units, entries, jobs) == (before[0] + job.cost, before[1] + 1, before[2] + 1)
    return True


def test_submit_queues_a_faithfully_stored_job_or_refuses_without_a_charge(
    service: tuple[asyncio.Runner, Runtime],
):
    runner, runtime = service
    outcomes: set[bool] = set()

    @given(
        prompt=texts(6000),
        negative=texts(6000),
        width=SIDES,
        height=SIDES,
        steps=STEPS,
        count=st.integers(-1, 12),
        seed=SEEDS,
        guidance=GUIDANCE,
        sampler=SAMPLERS,
        user=SNOWFLAKES,
        guild=st.none() | SNOWFLAKES,
        channel=st.none() | SNOWFLAKES,
    )
    @settings(max_examples=200, deadline=None)
    def check(
        prompt: str,
        negative: str,
        width: int | None,
        height: int | None,
        steps: int | None,
        count: int,
        seed: int | None,
        guidance: float | None,
        sampler: str | None,
        user: int,
        guild: int | None,
        channel: int | None,
    ) -> None:
        request = GenerationRequest(
            prompt,
            width=width,
            height=height,
            steps=steps,
            count=count,
            seed=seed,
            guidance=guidance,
            sampler=sampler,
            negative_prompt=negative,
        )
        outcomes.add(runner.run(_submit(runtime, request, Requester(user, guild, channel))))

    check()
    assert outcomes == {True, False}
