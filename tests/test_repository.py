from __future__ import annotations

import re
import tomllib
from pathlib import Path

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
