"""A scaled deployment in miniature, for tests: bot-tier runtimes (the cluster relay with its
scheduler candidate) in this process, GPU workers as real ``python -m bot worker`` processes
that tests may SIGKILL, all on a real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.jobs import Job, JobStatus, Requester, StoredImage
from bot.runtime import JobRunner, Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets, Settings
from engine import GenerationRequest, Progress
from tests.conftest import FAKE_KIND

ROOT = Path(__file__).resolve().parents[2]


def scaled_raw(tmp_path: Path, **sections: Mapping[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "storage": {"data_dir": str(tmp_path / "data")},
        "queue": {
            "poll_seconds": 0.05,
            "retry_backoff_seconds": 0.01,
            "max_queued_per_user": 250,
            "max_attempts": 10,
            "max_running_per_user": 4,
        },
        "quota": {"daily_units": 100_000},
        "scale": {
            "enabled": True,
            "heartbeat_seconds": 15,
            "sweep_seconds": 1,
            "dispatch_seconds": 0.05,
            "blob_dir": str(tmp_path / "blobs"),
        },
        "providers": {"fake": {"kind": FAKE_KIND, "steps": 3, "step_seconds": 0.02}},
    }
    for name, values in sections.items():
        current = raw.setdefault(name, {})
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(current.get(key), dict):
                current[key] = {**current[key], **value}
            else:
                current[key] = value
    return raw


def to_toml(raw: Mapping[str, Any], prefix: str = "") -> str:
    """Enough TOML for these settings: tables of strings, numbers, booleans and lists."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in raw.items():
        if isinstance(value, Mapping):
            tables.append((f"{prefix}{key}", value))
        else:
            lines.append(f"{key} = {_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for name, table in tables:
        out += f"\n[{name}]\n" + to_toml(table, f"{name}.")
    return out


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class RecordingSink:
    """Counts deliveries per job: a second delivery of one job is a bug the tests look for."""

    delivered: Counter[int] = field(default_factory=Counter)
    statuses: dict[int, JobStatus] = field(default_factory=dict)
    images: dict[int, list[StoredImage]] = field(default_factory=dict)
    progress_seen: dict[int, list[Progress]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def progress(self, job: Job, progress: Progress) -> None:
        self.progress_seen.setdefault(job.job_id, []).append(progress)

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None:
        self.delivered[job.job_id] += 1
        self.statuses[job.job_id] = job.status
        self.images[job.job_id] = list(images)
        self.changed.set()
        return f"recorded/{job.job_id}"


@dataclass
class Cluster:
    """One bot-tier process's worth: a runtime and its relay (with a scheduler candidate)."""

    runtime: Runtime
    sink: RecordingSink
    runner: JobRunner

    @property
    def leading(self) -> bool:
        return bool(getattr(self.runner, "_dispatcher").leading)  # noqa: B009


class Deployment:
    def __init__(self, tmp_path: Path, raw: dict[str, Any], redis_url: str, dsn: str) -> None:
        self.tmp_path = tmp_path
        self.raw = raw
        self.settings = Settings.model_validate(raw)
        self.redis_url = redis_url
        self.dsn = dsn
        self.config = tmp_path / "scaled.toml"
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.config.write_text(to_toml(raw))
        self.workers: list[subprocess.Popen[bytes]] = []
        self.clusters: list[Cluster] = []
        self._stack = AsyncExitStack()
        self._log = tmp_path / "workers.log"

    def secrets(self) -> Secrets:
        from pydantic import SecretStr

        return Secrets(redis_url=SecretStr(self.redis_url), postgres_dsn=SecretStr(self.dsn))

    def worker_env(self, *, with_database: bool = False) -> dict[str, str]:
        """The environment of a process of this deployment: the Redis URL, and the database
        only when asked (a GPU worker gets no database, no token, no provider key)."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("IMAGEBOT") and key != "DISCORD_TOKEN"
        }
        env["IMAGEBOT_REDIS_URL"] = self.redis_url
        if with_database:
            env["IMAGEBOT_POSTGRES_DSN"] = self.dsn
        return env

    def start_worker(self) -> subprocess.Popen[bytes]:
        """A GPU worker process with only the Redis URL in its environment."""
        env = self.worker_env()
        with self._log.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(self.config), "worker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.workers.append(process)
        return process

    def start_scheduler(self) -> subprocess.Popen[bytes]:
        """A scheduler candidate in a process of its own (tests.scale.scheduler_process)."""
        return subprocess.Popen(
            [sys.executable, "-m", "tests.scale.scheduler_process", str(self.config)],
            cwd=ROOT,
            env=self.worker_env(with_database=True),
            stdout=subprocess.PIPE,
        )

    def kill_worker(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        self.workers.remove(process)

    async def start_cluster(self) -> Cluster:
        loaded = LoadedSettings(self.settings, self.secrets(), self.config)
        runtime = await self._stack.enter_async_context(open_runtime(loaded))
        sink = RecordingSink()
        runner = runtime.runner(sink, origin="discord", progress_interval=0.1)
        await runner.start()
        cluster = Cluster(runtime, sink, runner)
        self.clusters.append(cluster)
        self._stack.push_async_callback(runner.stop)
        return cluster

    async def submit(self, cluster: Cluster, user_id: int, prompt: str = "a cat") -> Job:
        request = GenerationRequest(prompt=prompt, model="fake-v1", width=64, height=64, steps=3)
        return await cluster.runtime.service.submit(
            request, Requester(user_id=user_id), provider="fake", origin="discord"
        )

    async def wait_workers(self, slots: int, within: float = 30) -> None:
        """Until the live workers offer ``slots`` slots (each registers within a second)."""
        transport = self.clusters[0].runtime.transport
        assert transport is not None
        await until(lambda: _slots(transport, slots), within, f"{slots} worker slot(s) to register")

    async def close(self) -> None:
        for process in list(self.workers):
            process.send_signal(signal.SIGTERM)
        for process in list(self.workers):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.workers.clear()
        await self._stack.aclose()

    def worker_log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""


def is_png(path: str | Path) -> bool:
    return Path(path).read_bytes()[:4] == b"\x89PNG"


async def _slots(transport: Any, slots: int) -> bool:
    found, _ = await transport.capacity(["fake"])
    return bool(found["fake"] >= slots)


async def until(
    check: Callable[[], Awaitable[bool]], within: float, what: str, every: float = 0.05
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(every)


Deploy = Callable[..., AbstractAsyncContextManager[Deployment]]


@asynccontextmanager
async def deployment(
    tmp_path: Path, redis_url: str, dsn: str, **sections: Mapping[str, Any]
) -> AsyncIterator[Deployment]:
    deployed = Deployment(tmp_path, scaled_raw(tmp_path, **sections), redis_url, dsn)
    try:
        yield deployed
    finally:
        await deployed.close()
