"""Result files survive a power cut: the file, its name and the folders made for it are on disk
before the job that points at them is recorded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.images import write_atomically


def test_a_result_and_its_new_folders_are_fsynced_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "results" / "7" / "7-0.png"
    synced: list[tuple[Path, bool]] = []  # what was fsynced, and whether the file had its name
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append((Path(os.readlink(f"/proc/self/fd/{descriptor}")), path.exists()))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomically(path, b"png bytes")
    assert path.read_bytes() == b"png bytes"
    assert not list(path.parent.glob("*.tmp"))
    assert synced[-1] == (path.parent, True)  # the rename itself, last
    assert (path.with_name(path.name + ".tmp"), False) in synced  # the data, before the rename
    assert (tmp_path / "results", False) in synced  # the new folder 7 in results
    assert (tmp_path, False) in synced  # the new folder results


def test_writing_again_replaces_the_file_whole(tmp_path: Path):
    path = tmp_path / "1" / "1-0.png"
    write_atomically(path, b"first")
    write_atomically(path, b"second")
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["1-0.png"]
