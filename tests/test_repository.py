from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())[:2]


def test_ci_runs_the_readme_test_command():
    _, test_command = readme_commands()
    assert "torch==2.13.0" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_readme_starts_the_bot_with_python_m_bot():
    start_command, _ = readme_commands()
    assert start_command.endswith("python -m bot")


def test_runtime_dependencies_leave_torch_unpinned_for_gpu_users():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    local = project["optional-dependencies"]["local"]
    torch = next(spec for spec in local if spec.startswith("torch"))
    assert "==" not in torch
    assert not any(spec.startswith("torch") for spec in project["dependencies"])


def test_the_engine_never_imports_the_bot_or_discord():
    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) (bot|cogs|discord|aiosqlite)\b", text, re.M), path


def test_the_bot_never_imports_cogs():
    for path in (ROOT / "bot").rglob("*.py"):
        assert not re.search(r"^\s*(from|import) cogs\b", path.read_text(), re.M), path


def test_the_embedded_bot_starts_without_the_scaled_mode_packages():
    """`pip install .` has no saq, redis or asyncpg: everything outside bot.scale and the
    Postgres storage must import without them (they are the `scale` extra)."""
    blocked = "import sys\nfor name in ('saq', 'redis', 'asyncpg'):\n    sys.modules[name] = None\n"
    check = blocked + "import bot.cli, bot.app, bot.runtime, bot.storage, cogs.results\n"
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_scaled_compose_file_splits_the_shards_and_keeps_workers_off_the_database():
    compose = yaml.safe_load((ROOT / "docker-compose.scale.yml").read_text())
    services = compose["services"]
    assert {"redis", "postgres", "gpu-worker"} <= set(services)
    clusters = {name: s for name, s in services.items() if name.startswith("bot-")}
    assert len(clusters) == 2
    shards: list[int] = []
    for service in clusters.values():
        env = service["environment"]
        assert env["IMAGEBOT__SCALE__ENABLED"] == "true"
        assert "IMAGEBOT_POSTGRES_DSN" in env and "IMAGEBOT_REDIS_URL" in env
        shards += tomllib.loads(f"v = {env['IMAGEBOT__SCALE__SHARD_IDS']}")["v"]
        count = int(env["IMAGEBOT__SCALE__SHARD_COUNT"])
    assert sorted(shards) == list(range(count))
    worker = services["gpu-worker"]
    assert worker["command"] == ["worker"]
    assert set(worker["environment"]) & {"IMAGEBOT_POSTGRES_DSN", "DISCORD_TOKEN"} == set()
    assert "env_file" not in worker
