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
    assert test_command.startswith("python3 install.py --test")
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
    # The installer pins the torch release whose CPU build the tests run on.
    assert 'TORCH_VERSION = "2.13.0"' in (ROOT / "install.py").read_text()


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


def test_the_image_installs_a_matching_cuda_torch_before_the_code_and_owns_its_volumes():
    """No Docker engine runs here, so the Dockerfile is read: torch's CUDA build matches the
    base image's CUDA, dependencies are installed before the code is copied (a code change
    must not download gigabytes again), and every folder a compose file mounts a named volume
    on is created in the image and owned by the non-root user (a new named volume copies it)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    cuda = re.search(r"^ARG CUDA_VERSION=(\d+)\.(\d+)", dockerfile, re.M)
    torch_cuda = re.search(r"^ARG TORCH_CUDA=cu(\d+)$", dockerfile, re.M)
    assert cuda and torch_cuda
    assert torch_cuda[1] == cuda[1] + cuda[2]
    assert "download.pytorch.org/whl/${TORCH_CUDA}" in dockerfile
    assert dockerfile.index("pip install -r") < dockerfile.index("COPY bot bot")
    owned = re.search(
        r"mkdir -p ([^\\\n&]+)\\?\s*&& chown -R imagebot:imagebot ([^\n]+)", dockerfile
    )
    assert owned and dockerfile.index(owned[0]) < dockerfile.index("USER imagebot")
    ready = set(owned[1].split()) | set(owned[2].split())
    for name in ("docker-compose.yml", "docker-compose.scale.yml"):
        compose = yaml.safe_load((ROOT / name).read_text())
        named = set(compose.get("volumes") or {})
        for service_name, service in compose["services"].items():
            if "build" not in service and not service.get("image", "").startswith("imagebot"):
                continue
            for mount in service.get("volumes", []):
                source, target = mount.split(":")[:2]
                if source in named:
                    assert target in ready, (name, service_name, target)
