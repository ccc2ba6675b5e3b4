"""``python -m bot backup``: a copy of the SQLite database taken with SQLite's online backup, safe
while the bot runs (it reads one consistent snapshot; the bot's writes go on meanwhile), checked
with ``integrity_check`` and renamed into place, so a backup file is always whole."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import StorageError
from bot.storage.database import BUSY_TIMEOUT_MS
from bot.storage.files import fsync_folder, make_folders

BACKUP_FOLDER = "backups"  # next to the database, unless --out names another place


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    size: int  # bytes
    schema_version: int
    seconds: float


def default_name(source: Path, now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S")
    return f"{source.stem}-{stamp}.sqlite3"


def destination_for(source: Path, out: Path | None, now: float) -> Path:
    """``out`` as given, or a timestamped name inside it when it is a folder, or inside the
    ``backups`` folder next to the database when there is no ``out``."""
    if out is None:
        return source.parent / BACKUP_FOLDER / default_name(source, now)
    if out.is_dir():
        return out / default_name(source, now)
    return out


def back_up(
    source: Path, out: Path | None = None, *, overwrite: bool = False, now: float | None = None
) -> Backup:
    """Copy ``source`` to a new file and return where it went. Refuses to replace a file
    unless ``overwrite``; the copy never replaces the database itself."""
    began = time.monotonic()
    if not source.is_file():
        raise StorageError(f"There is no SQLite database at {source} to back up.")
    destination = destination_for(source, out, time.time() if now is None else now)
    if destination.exists() and destination.resolve() == source.resolve():
        raise StorageError(f"{destination} is the database itself; choose another --out.")
    if destination.exists() and not overwrite:
        raise StorageError(
            f"{destination} already exists; pass --overwrite to replace it, or choose another "
            "--out (a folder gets a timestamped name)."
        )
    try:
        make_folders(destination.parent)
    except OSError as err:
        raise StorageError(f"Cannot create the folder {destination.parent}: {err}") from err
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        version = _copy(source, partial)
        with partial.open("rb+") as file:
            os.fsync(file.fileno())
        partial.replace(destination)
        fsync_folder(destination.parent)
    except sqlite3.Error as err:
        raise StorageError(f"The backup of {source} failed: {err}. Nothing was written.") from err
    except OSError as err:
        raise StorageError(f"Cannot write the backup {destination}: {err}") from err
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    size = destination.stat().st_size
    return Backup(destination.resolve(), size, version, time.monotonic() - began)


def _copy(source: Path, partial: Path) -> int:
    """SQLite's backup in one step (one read transaction: a consistent snapshot, however busy
    the bot is), then the copy switched to a single file and checked. Its schema version."""
    partial.unlink(missing_ok=True)
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        copy = sqlite3.connect(partial)
        try:
            reader.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
            _drop_tokens(copy)
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise StorageError(
                    f"The copy of {source} failed its integrity check ({'; '.join(problems[:5])})"
                    "; nothing was written. Check the database with: sqlite3 "
                    f"{source} 'PRAGMA integrity_check'"
                )
            return int(copy.execute("PRAGMA user_version").fetchone()[0])
        finally:
            copy.close()
    finally:
        reader.close()


def _drop_tokens(copy: sqlite3.Connection) -> None:
    """Interaction tokens stay behind: a backup outlives them (a restored job is delivered to
    the channel or by DM instead, as after any expiry)."""
    if copy.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone() is None:
        return
    copy.execute("PRAGMA secure_delete = ON")  # the old text is overwritten, not just freed
    with copy:
        copy.execute(
            "UPDATE jobs SET target = json_remove(target, '$.token') "
            "WHERE json_extract(target, '$.token') IS NOT NULL"
        )


def describe(source: Path, backup: Backup) -> str:
    mib = backup.size / 2**20
    return (
        f"Backed up {source} to {backup.path}: {backup.size:,} bytes ({mib:.1f} MiB), schema "
        f"version {backup.schema_version}, integrity ok, in {backup.seconds:.1f} s."
    )
