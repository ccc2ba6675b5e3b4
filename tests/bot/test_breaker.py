from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from bot.breaker import MAX_WAIT, Breaker, BreakerState, Change
from bot.errors import SettingsError
from bot.jobs import JobStatus
from bot.providers import ProviderEntry, Providers
from bot.settings import ProviderSettings, load
from engine import (
    ContentRefused,
    GenerationCancelled,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from engine.registry import ProviderConfig
from tests.bot.helpers import submit
from tests.bot.test_worker import fake, open_with, used, working
from tests.conftest import FAKE_KIND
from tests.fakes.providers import FakeProvider

DOWN = ProviderUnavailable("The provider is down.")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0  # 22:13:20 UTC

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def failing(
    breaker: Breaker, times: int, error: BaseException | None = DOWN
) -> list[Change | None]:
    return [breaker.record(False, error) for _ in range(times)]


def test_it_opens_after_the_configured_failures_in_a_row(clock: Clock):
    breaker = Breaker(3, 60, clock=clock)
    assert failing(breaker, 2) == [None, None]
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.reason is None
    assert breaker.record(False, ProviderTimeout("No answer.")) is Change.OPENED
    assert breaker.state is BreakerState.OPEN and not breaker.allow() and not breaker.begin()
    assert breaker.reason == "failing: No answer; retrying at 22:14 UTC"


def test_a_success_resets_the_count(clock: Clock):
    breaker = Breaker(3, 60, clock=clock)
    failing(breaker, 2)
    breaker.record(True)
    assert failing(breaker, 2) == [None, None]
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("Slow down.", retry_after=5),
        ProviderError("Rejected."),
        ContentRefused("Not allowed."),
        GenerationCancelled(),
        TimeoutError(),
        RuntimeError("a bug of ours"),
        None,
    ],
    ids=["rate-limited", "rejected", "refused", "cancelled", "job-timeout", "crash", "nothing"],
)
def test_errors_that_do_not_say_the_provider_is_down_never_open_it(
    clock: Clock, error: BaseException | None
):
    breaker = Breaker(2, 60, clock=clock)
    assert failing(breaker, 10, error) == [None] * 10
    assert breaker.state is BreakerState.CLOSED


def test_it_stays_open_for_the_wait_and_ignores_jobs_started_before(clock: Clock):
    breaker = Breaker(1, 60, clock=clock)
    breaker.record(False, DOWN)
    clock.now += 59
    assert breaker.record(True) is None
    assert breaker.record(False, DOWN) is None
    assert breaker.state is BreakerState.OPEN and not breaker.allow()


def test_half_open_lets_exactly_one_job_through(clock: Clock):
    breaker = Breaker(1, 60, clock=clock)
    breaker.record(False, DOWN)
    clock.now += 60
    assert breaker.state is BreakerState.HALF_OPEN and breaker.allow()
    assert breaker.begin()
    assert not breaker.allow() and not breaker.begin()


def test_a_trial_that_tells_nothing_lets_another_through(clock: Clock):
    breaker = Breaker(1, 60, clock=clock)
    breaker.record(False, DOWN)
    clock.now += 60
    breaker.begin()
    assert breaker.record(False, GenerationCancelled()) is None
    assert breaker.state is BreakerState.HALF_OPEN and breaker.begin()


def test_a_successful_trial_closes_it_and_resets_the_wait(clock: Clock):
    breaker = Breaker(1, 60, clock=clock)
    breaker.record(False, DOWN)
    clock.now += 60
    breaker.begin()
    breaker.record(False, DOWN)
    clock.now += 120
    breaker.begin()
    assert breaker.record(True) is Change.CLOSED
    assert breaker.state is BreakerState.CLOSED and breaker.reason is None and breaker.allow()
    assert breaker.record(False, DOWN) is Change.OPENED
    assert breaker.retry_at == clock.now + 60


def test_a_failed_trial_reopens_it_for_twice_as_long_up_to_the_cap(clock: Clock):
    breaker = Breaker(1, 60, clock=clock)
    breaker.record(False, DOWN)
    waits = []
    for _ in range(6):
        assert breaker.retry_at is not None
        clock.now = breaker.retry_at
        assert breaker.begin()
        assert breaker.record(False, DOWN) is Change.REOPENED
        waits.append(breaker.retry_at - clock.now)
    assert waits == [120, 240, 480, MAX_WAIT, MAX_WAIT, MAX_WAIT]


def entries(clock: Clock, failures: int = 1, **options: Any) -> Providers:
    provider = FakeProvider(ProviderConfig("fake", {"max_batch": 4}))
    settings = ProviderSettings(kind=FAKE_KIND, **options)
    breaker = Breaker(failures, 60, clock=clock)
    return Providers({"fake": ProviderEntry("fake", provider, settings, breaker)}, "fake")


def test_capacity_is_none_while_open_and_one_job_once_half_open(clock: Clock):
    providers = entries(clock, concurrency=2)
    providers.record("fake", False, DOWN)
    assert providers.capacity({}, {}, 1).free_slots == {"fake": 0}
    clock.now += 60
    capacity = providers.capacity({}, {}, 1)
    assert capacity.free_slots == {"fake": 1} and capacity.max_batch == {"fake": 1}
    assert providers.capacity({"fake": 1}, {}, 1).free_slots == {"fake": 0}  # one from before
    assert providers.begin("fake")
    assert providers.capacity({"fake": 1}, {}, 1).free_slots == {"fake": 0}
    providers.record("fake", True)
    capacity = providers.capacity({}, {}, 1)
    assert capacity.free_slots == {"fake": 2} and capacity.max_batch == {"fake": 4}


def test_the_provider_shows_unavailable_and_the_log_says_so_once(
    clock: Clock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="bot.providers")
    providers = entries(clock, failures=2)
    provider = providers.get("fake").provider
    providers.record("fake", False, DOWN)
    assert provider.unavailable is None
    providers.record("fake", False, DOWN)
    assert provider.unavailable == "failing: The provider is down; retrying at 22:14 UTC"
    for _ in range(3):
        clock.now += MAX_WAIT
        providers.begin("fake")
        providers.record("fake", False, DOWN)
    assert provider.unavailable is not None and provider.unavailable.endswith("23:06 UTC")
    clock.now += MAX_WAIT
    providers.begin("fake")
    providers.record("fake", True)
    assert provider.unavailable is None
    loud = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert loud == [
        (
            "WARNING",
            "Provider fake is failing: The provider is down; retrying at 22:14 UTC "
            "(2 failures in a row); its jobs wait",
        ),
        ("INFO", "Provider fake works again; its jobs run"),
    ]


@pytest.mark.parametrize("key, value", [("breaker_failures", 0), ("breaker_seconds", 0)])
def test_breaker_settings_are_checked(tmp_path: Path, key: str, value: int):
    path = tmp_path / "config.toml"
    path.write_text(f"[queue]\n{key} = {value}\n")
    with pytest.raises(SettingsError, match=f"queue.{key}"):
        load(path, environ={})


def watch_calls(provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """(time, provider.unavailable) as each call starts."""
    seen: list[tuple[float, str | None]] = []
    generate = provider.generate

    async def watched(*args: Any) -> Any:
        seen.append((time.time(), provider.unavailable))
        return await generate(*args)

    monkeypatch.setattr(provider, "generate", watched)
    return seen


async def test_a_failing_provider_is_set_aside_then_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    queue = {"breaker_failures": 3, "breaker_seconds": 0.05}
    async with await open_with(
        tmp_path, {"fail": "unavailable", "fail_times": 7}, queue=queue
    ) as rt:
        seen = watch_calls(fake(rt), monkeypatch)
        jobs = [await submit(rt, user) for user in (1, 2, 3)]
        async with working(rt) as sink:
            await sink.wait_for(3)
        reasons = [reason for _, reason in seen]
        assert reasons[:3] == [None] * 3
        assert all(
            r is not None and r.startswith("failing: The fake provider is down")
            for r in reasons[3:8]
        )
        assert reasons[8:] == [None] * (len(seen) - 8)
        starts = [at for at, _ in seen[2:8]]
        gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
        # No job runs while it is open; lower bounds, which load only lengthens.
        waits = [0.05, 0.1, 0.2, 0.4, 0.8]
        assert all(gap >= wait * 0.95 for gap, wait in zip(gaps, waits, strict=True))
        assert fake(rt).unavailable is None

        assert sorted(job.job_id for job, _ in sink.delivered) == [job.job_id for job in jobs]
        outcomes = {job.status for job, _ in sink.delivered}
        assert outcomes == {JobStatus.SUCCEEDED, JobStatus.FAILED}
        for job, _ in sink.delivered:
            if job.status is JobStatus.FAILED:
                assert job.attempt == 3 and await used(rt, job.user_id) == 0
            else:
                assert await used(rt, job.user_id) == 1
        assert sum(job.attempt for job, _ in sink.delivered) == len(seen)


async def test_rate_limits_never_set_a_provider_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    queue = {"breaker_failures": 2, "breaker_seconds": 60, "max_attempts": 5}
    async with await open_with(
        tmp_path, {"fail": "ratelimited", "fail_times": 4}, queue=queue
    ) as rt:
        seen = watch_calls(fake(rt), monkeypatch)
        for user in (1, 2, 3):
            await submit(rt, user)
        async with working(rt) as sink:
            await sink.wait_for(3)
        assert [reason for _, reason in seen] == [None] * len(seen)
        assert rt.providers.get("fake").breaker.state is BreakerState.CLOSED
        assert {job.status for job, _ in sink.delivered} == {JobStatus.SUCCEEDED}
