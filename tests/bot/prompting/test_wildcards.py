"""Wildcards from the owner's folder: seeded picks, nesting, and names that can't escape it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.prompting.errors import PromptError
from bot.prompting.wildcards import MAX_DEPTH, MAX_FILE_BYTES, Wildcards


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    lists = tmp_path / "wildcards"
    lists.mkdir()
    (lists / "animal.txt").write_text("# animals\ncat\n\ndog\nfox\nowl\n", encoding="utf-8")
    (lists / "scene.txt").write_text("a __animal__ in the snow\n", encoding="utf-8")
    return lists


def test_the_same_seed_picks_the_same_line(folder: Path) -> None:
    wildcards = Wildcards(folder)
    picks = {wildcards.replace("a __animal__", seed) for seed in range(40)}
    assert picks == {"a cat", "a dog", "a fox", "a owl"}
    assert wildcards.replace("a __animal__", 7) == wildcards.replace("a __animal__", 7)


def test_a_picked_line_may_name_another_wildcard(folder: Path) -> None:
    made = Wildcards(folder).replace("__scene__", 3)
    assert made.startswith("a ") and made.endswith(" in the snow") and "__" not in made


def test_wildcards_naming_themselves_are_refused_past_the_depth(folder: Path) -> None:
    (folder / "loop.txt").write_text("again __loop__\n", encoding="utf-8")
    with pytest.raises(PromptError) as refused:
        Wildcards(folder).replace("__loop__", 1)
    assert str(MAX_DEPTH) in str(refused.value)


def test_text_without_wildcards_is_unchanged(folder: Path) -> None:
    assert Wildcards(None).replace("a __ b _x_ c", 1) == "a __ b _x_ c"


@pytest.mark.parametrize("text", ["__missing__", "__animal__ and __nope__"])
def test_an_unknown_list_is_refused_by_name(folder: Path, text: str) -> None:
    with pytest.raises(PromptError, match="no such wildcard"):
        Wildcards(folder).replace(text, 1)


def test_without_a_folder_wildcards_are_refused(folder: Path) -> None:
    with pytest.raises(PromptError, match="aren't set up"):
        Wildcards(None).replace("a __animal__", 1)


def test_names_cannot_reach_outside_the_folder(folder: Path) -> None:
    (folder.parent / "secret.txt").write_text("password\n", encoding="utf-8")
    os.symlink(folder.parent / "secret.txt", folder / "linked.txt")
    wildcards = Wildcards(folder)
    with pytest.raises(PromptError):
        wildcards.replace("__linked__", 1)
    # A path is not a name: the text stays as it is.
    assert wildcards.replace("__../secret__", 1) == "__../secret__"
    with pytest.raises(PromptError):
        wildcards.lines("../secret")


def test_an_oversized_list_is_refused(folder: Path) -> None:
    (folder / "huge.txt").write_bytes(b"x\n" * (MAX_FILE_BYTES // 2 + 1))
    with pytest.raises(PromptError, match="too large"):
        Wildcards(folder).replace("__huge__", 1)


def test_an_edited_list_is_read_again(folder: Path) -> None:
    wildcards = Wildcards(folder)
    assert wildcards.replace("__scene__", 1).endswith("snow")
    (folder / "scene.txt").write_text("rain\n", encoding="utf-8")
    os.utime(folder / "scene.txt", ns=(1, 1))
    assert wildcards.replace("__scene__", 1) == "rain"
