"""``python -m bot backup``: a whole, consistent copy of the database, taken as the bot writes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from bot.jobs import Requester
from bot.runtime import open_runtime
from bot.settings import LoadedSettings, Secrets
from bot.storage import latest_version
from engine import GenerationRequest
from tests.bot.test_cli import config_for
from tests.cli import run_bot, start_bot
from tests.conftest import make_settings


def read(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return [tuple(row) for row in conn.execute(sql)]


async def test_a_backup_taken_while_jobs_are_submitted_is_whole_and_consistent(tmp_path: Path):
    settings = make_settings(tmp_path, quota={"daily_units": 10**6})
    out = tmp_path / "copy.sqlite3"
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as runtime:
        submitted = 0
        stop = asyncio.Event()
        warmed = asyncio.Event()

        async def members() -> None:
            nonlocal submitted
            while not stop.is_set():
                request = GenerationRequest(f"prompt {submitted}", width=64, height=64)
                target = {"token": f"secret-{submitted}", "token_expires": time.time() + 600}
                await runtime.service.submit(request, Requester(submitted + 1, 1, 1), target=target)
                submitted += 1
                if submitted == 200:
                    warmed.set()

        writer = asyncio.create_task(members())
        await asyncio.wait_for(warmed.wait(), 60)
        before = submitted
        process = await start_bot(
            tmp_path, "backup", "--out", str(out), config=config_for(tmp_path)
        )
        stdout, stderr = await process.communicate()
        during = submitted - before
        stop.set()
        await writer
    assert process.returncode == 0, stderr.decode()
    assert during > 0  # the bot kept writing while the copy was taken
    assert f"to {out}" in stdout.decode() and "integrity ok" in stdout.decode()
    assert read(out, "PRAGMA integrity_check") == [("ok",)]
    assert read(out, "PRAGMA journal_mode") == [("delete",)]  # one file, nothing beside it
    assert read(out, "PRAGMA user_version") == [(latest_version(),)]
    [(jobs,)] = read(out, "SELECT COUNT(*) FROM jobs")
    assert before <= int(jobs) <= submitted  # type: ignore[call-overload]
    assert b"secret-" not in out.read_bytes()  # live interaction tokens stay behind
    assert read(out, "SELECT COUNT(*) FROM jobs WHERE target LIKE '%token_expires%'") == [(jobs,)]
    # Each job and its reservation commit together: a snapshot holds both or neither.
    assert read(
        out,
        "SELECT COUNT(*) FROM jobs j WHERE (SELECT COUNT(*) FROM quota_ledger q "
        "WHERE q.job_id = j.job_id AND q.kind = 'reserve') != 1",
    ) == [(0,)]


def test_a_backup_gets_a_timestamped_name_and_never_replaces_a_file_unasked(tmp_path: Path):
    config = config_for(tmp_path)
    assert run_bot(tmp_path, "migrate", config=config).returncode == 0
    first = run_bot(tmp_path, "backup", config=config)
    assert first.returncode == 0, first.stderr
    [made] = (tmp_path / "data" / "backups").glob("imagebot-*.sqlite3")
    assert str(made) in first.stdout and f"{made.stat().st_size:,} bytes" in first.stdout
    assert read(made, "PRAGMA integrity_check") == [("ok",)]

    taken = tmp_path / "taken.sqlite3"
    taken.write_bytes(b"something the owner keeps")
    refused = run_bot(tmp_path, "backup", "--out", str(taken), config=config)
    assert refused.returncode == 2
    assert "--overwrite" in refused.stderr and "Traceback" not in refused.stderr
    assert taken.read_bytes() == b"something the owner keeps"
    database = tmp_path / "data" / "imagebot.sqlite3"
    itself = run_bot(tmp_path, "backup", "--out", str(database), "--overwrite", config=config)
    assert itself.returncode == 2 and "the database itself" in itself.stderr
    replaced = run_bot(tmp_path, "backup", "--out", str(taken), "--overwrite", config=config)
    assert replaced.returncode == 0, replaced.stderr
    assert read(taken, "PRAGMA integrity_check") == [("ok",)]
    assert not list(tmp_path.glob(".*.partial"))


def test_backup_of_a_missing_database_says_so(tmp_path: Path):
    result = run_bot(tmp_path, "backup", config=config_for(tmp_path))
    assert result.returncode == 2
    assert "no SQLite database" in result.stderr and "Traceback" not in result.stderr
