from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.jobs import Job, StoredImage
from tests.bot.helpers import submit
from tests.bot.test_worker import RecordingSink, fake, open_with
from tests.cli import bot_environment, run_bot

NOISE = ("Waiting up to", "Warning", "Traceback", "it/s]", "requires torchvision", "PyNaCl")


def python(tmp_path: Path, code: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter that shows every warning, as a library's first call does."""
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", code, *argv],
        cwd=tmp_path,
        env=bot_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_demo_generate_logs_only_what_an_owner_needs(tmp_path: Path):
    config = f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
    result = run_bot(tmp_path, "generate", "--demo", "x", "--out", str(tmp_path), config=config)
    assert result.returncode == 0, result.stderr
    assert [noise for noise in NOISE if noise in result.stderr] == []
    assert "Demo mode" in result.stderr
    assert "INFO    bot.providers: Starting provider demo" in result.stderr
    assert "job 1 queued on demo" in result.stderr
    assert "wrote " in result.stdout


def test_the_torchvision_fallback_notice_stays_out_of_the_log(tmp_path: Path):
    code = (
        "from bot import logs; logs.configure('INFO'); from transformers import CLIPImageProcessor"
    )
    result = python(tmp_path, code)
    assert result.returncode == 0, result.stderr
    assert "torchvision" not in result.stderr


def test_torchao_s_import_notices_stay_out_of_the_log(tmp_path: Path):
    """diffusers imports torchao (the local engine's quantization) when it loads a model; its
    missing-kernel and pytree notices are for its developers."""
    code = (
        "import sys; from bot import logs; logs.configure('INFO'); "
        "import diffusers.models.modeling_utils; print('torchao' in sys.modules)"
    )
    result = python(tmp_path, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert result.stderr == ""


def test_a_library_deprecation_is_logged_at_debug_not_printed(tmp_path: Path):
    code = (
        "import sys, warnings; from bot import logs; logs.configure(sys.argv[1]); "
        "warnings.warn('old call', DeprecationWarning); warnings.warn('odd input', UserWarning)"
    )
    quiet = python(tmp_path, code, "INFO")
    assert quiet.returncode == 0, quiet.stderr
    assert "old call" not in quiet.stderr
    assert "WARNING py.warnings" in quiet.stderr and "UserWarning: odd input" in quiet.stderr

    debug = python(tmp_path, code, "DEBUG")
    assert "DEBUG   py.warnings" in debug.stderr and "DeprecationWarning: old call" in debug.stderr


class _HeldDelivery(RecordingSink):
    """A delivery that waits at the gate: the job is finished, its task not yet ended."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None:
        self.entered.set()
        await self.gate.wait()
        return await super().deliver(job, images)


async def test_a_worker_stopped_with_only_a_delivery_left_says_nothing_of_waiting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="bot.worker")
    async with await open_with(tmp_path) as rt:
        sink = _HeldDelivery()
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        await submit(rt, 7)
        await asyncio.wait_for(sink.entered.wait(), 10)
        stopping = asyncio.create_task(worker.stop())
        await asyncio.sleep(0)
        sink.gate.set()
        await stopping
        assert len(sink.delivered) == 1
    assert "Waiting up to" not in caplog.text


async def test_a_worker_stopped_with_a_running_job_says_it_waits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="bot.worker")
    async with await open_with(tmp_path) as rt:
        worker = rt.worker(RecordingSink(), origin="discord")
        await worker.start()
        fake(rt).release = asyncio.Event()
        await submit(rt, 7)
        await asyncio.wait_for(fake(rt).started.wait(), 5)
        await worker.stop(grace=0.1)
    assert "Waiting up to 0 s for 1 running job(s)" in caplog.text
