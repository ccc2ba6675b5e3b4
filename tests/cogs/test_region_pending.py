"""Previewed masks waiting for Repaint: kept per member and image, used once, expired."""

from __future__ import annotations

from pathlib import Path

import pytest

from cogs.results.region.pending import PENDING_SECONDS, PendingMasks, PreviewGone

ALICE, BOB = 1, 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pending(tmp_path: Path, clock: Clock) -> PendingMasks:
    return PendingMasks(tmp_path / "pending", clock)


def test_a_kept_mask_comes_back_once_with_its_prompt(pending: PendingMasks):
    token = pending.put(ALICE, 7, 2, b"mask", "a hat")
    assert pending.get(token, ALICE, 7, 2).prompt == "a hat"
    taken = pending.take(token, ALICE, 7, 2)
    assert (taken.mask, taken.prompt) == (b"mask", "a hat")
    with pytest.raises(PreviewGone):
        pending.take(token, ALICE, 7, 2)


def test_another_member_or_image_cannot_use_it(pending: PendingMasks):
    token = pending.put(ALICE, 7, 2, b"mask")
    for who, job, index in ((BOB, 7, 2), (ALICE, 8, 2), (ALICE, 7, 1)):
        with pytest.raises(PreviewGone):
            pending.take(token, who, job, index)
    assert pending.take(token, ALICE, 7, 2).mask == b"mask"


def test_an_expired_mask_is_refused_and_swept(pending: PendingMasks, clock: Clock):
    old = pending.put(ALICE, 7, 0, b"old")
    clock.now += PENDING_SECONDS + 1
    with pytest.raises(PreviewGone):
        pending.get(old, ALICE, 7, 0)
    pending.put(ALICE, 7, 0, b"old")  # putting sweeps what expired
    clock.now += PENDING_SECONDS + 1
    fresh = pending.put(ALICE, 7, 0, b"new")
    assert [path.stem for path in pending.folder.glob("*.json")] == [fresh]


@pytest.mark.parametrize("token", ["../../etc/passwd", "ABCDEF12", "1234567", ""])
def test_a_token_that_is_not_one_is_refused(pending: PendingMasks, token: str):
    with pytest.raises(PreviewGone):
        pending.get(token, ALICE, 7, 0)


def test_a_damaged_file_is_refused_and_dropped(pending: PendingMasks):
    token = pending.put(ALICE, 7, 0, b"mask")
    (pending.folder / f"{token}.json").write_text("{not json")
    with pytest.raises(PreviewGone):
        pending.get(token, ALICE, 7, 0)
    assert not list(pending.folder.glob("*.json"))


def test_cancel_forgets_and_a_second_cancel_is_fine(pending: PendingMasks):
    token = pending.put(ALICE, 7, 0, b"mask")
    pending.drop(token, ALICE, 7, 0)
    pending.drop(token, ALICE, 7, 0)
    with pytest.raises(PreviewGone):
        pending.get(token, ALICE, 7, 0)
