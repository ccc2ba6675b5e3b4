"""install.py picks the torch build a machine can use, before anything is installed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_installer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install", ROOT / "install.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["install"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


install = load_installer()


@pytest.mark.parametrize(
    ("system", "machine", "gpu", "force", "build", "index"),
    [
        ("Linux", "x86_64", False, None, "cpu", install.CPU_INDEX),
        ("Linux", "x86_64", True, None, "cuda", None),
        ("Linux", "x86_64", True, "cpu", "cpu", install.CPU_INDEX),
        ("Linux", "x86_64", False, "cuda", "cuda", None),
        ("Linux", "aarch64", False, None, "default", None),
        ("Darwin", "arm64", False, None, "default", None),
        ("Windows", "AMD64", False, None, "default", None),
    ],
)
def test_the_torch_build_fits_the_machine(system, machine, gpu, force, build, index):
    choice = install.choose_torch(system, machine, gpu, force)
    assert (choice.build, choice.index) == (build, index)
    command = choice.command(["pip", "install"])
    assert command[2] == f"torch=={install.TORCH_VERSION}"
    assert ("--index-url" in command) == (index is not None)


@pytest.mark.parametrize(
    ("test", "build", "extras"),
    [
        (False, "cpu", ["local", "openvino"]),
        (False, "cuda", ["local"]),
        (False, "default", ["local"]),
        (True, "cuda", ["local", "openvino", "test"]),
        (True, "cpu", ["local", "openvino", "test"]),
    ],
)
def test_openvino_comes_with_the_cpu_build_and_with_the_tests(test, build, extras):
    assert install.extras(test, install.TorchChoice(build, "why")) == extras


def fake_nvidia_smi(folder: Path, output: str, code: int = 0) -> None:
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\nprintf '%s' '{output}'\nexit {code}\n")
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("output", "code", "found"),
    [
        ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)\n", 0, True),
        ("NVIDIA-SMI has failed because it couldn't communicate with the driver\n", 9, False),
        ("No devices were found\n", 6, False),
    ],
)
def test_a_gpu_counts_only_when_the_driver_lists_one(tmp_path, monkeypatch, output, code, found):
    fake_nvidia_smi(tmp_path, output, code)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert install.has_nvidia_gpu() is found


def test_no_nvidia_smi_means_no_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert install.has_nvidia_gpu() is False


def dry_run(tmp_path: Path, *args: str) -> list[str]:
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "install.py"),
            "--dry-run",
            "--venv",
            str(tmp_path / "v"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.skipif(sys.platform != "linux", reason="the CPU index choice is for Linux x86_64")
def test_the_test_install_on_a_machine_with_a_gpu_takes_the_cuda_build(tmp_path):
    fake_nvidia_smi(tmp_path, "GPU 0: NVIDIA L4\n")
    said, torch_step, project_step = dry_run(tmp_path, "--test")
    assert "an NVIDIA GPU is present" in said
    assert torch_step.endswith(f"pip install torch=={install.TORCH_VERSION} --no-deps")
    assert project_step.endswith("pip install -e .[local,openvino,test]")


@pytest.mark.skipif(
    not (sys.platform == "linux" and os.uname().machine == "x86_64"),
    reason="the CPU index choice is for Linux x86_64",
)
def test_the_install_without_a_gpu_takes_the_cpu_build_and_never_creates_a_venv_in_a_dry_run(
    tmp_path,
):
    fake_nvidia_smi(tmp_path, "No devices were found\n", 6)
    said, torch_step, project_step = dry_run(tmp_path)
    assert "CPU build" in said
    assert torch_step.endswith(
        f"torch=={install.TORCH_VERSION} --no-deps --index-url {install.CPU_INDEX}"
    )
    assert project_step.endswith("pip install .[local,openvino]")
    assert not (tmp_path / "v").exists()
