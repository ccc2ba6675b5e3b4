"""Files that survive a crash or a power cut: written under a temporary name, fsynced, renamed,
and the folder fsynced so that the new name is on disk too."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


def write_atomically(path: Path, data: bytes) -> None:
    """Once this returns, ``path`` holds ``data`` even after a power cut; a crash before leaves
    the old file or none, never a part."""
    make_folders(path.parent)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    fsync_folder(path.parent)


def make_folders(folder: Path) -> None:
    """``mkdir -p`` whose new entries are on disk: each folder it creates is fsynced into its
    parent."""
    missing = []
    while not folder.is_dir() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
        fsync_folder(created.parent)


def fsync_folder(folder: Path) -> None:
    """Make the names in ``folder`` durable (a file's own fsync does not cover its name)."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def remove_folders(folders: Iterable[Path], what: str) -> None:
    """Delete each folder and what it holds; one that is already gone is fine, one that cannot
    be deleted is logged (as ``what``) and left."""
    for folder in folders:
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            pass
        except OSError as err:
            log.warning("Could not delete %s in %s: %s", what, folder, err)
