"""Install the bot into .venv with the PyTorch build this machine can use.

    python3 install.py            # the bot with the local engine (and OpenVINO without a GPU)
    python3 install.py --test     # the same, editable, plus OpenVINO and the test tools
    python3 install.py --dry-run  # only print what it would run

On Linux x86_64, PyPI's torch is the CUDA build (about 3 GB of NVIDIA libraries). Without an
NVIDIA GPU this takes PyTorch's CPU build (about 200 MB) from PyTorch's own index instead;
with one, PyPI's CUDA build. macOS, Windows and Linux on ARM get PyPI's torch, which is the
right build there. --cpu and --cuda override the choice. Standard library only: it runs
before anything is installed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

TORCH_VERSION = "2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class TorchChoice:
    build: str  # "cpu" or "cuda" or "default"
    reason: str
    index: str | None = None  # None: the machine's own package index

    def command(self, pip: list[str]) -> list[str]:
        # torch alone from its index; its dependencies come with the project's, from the
        # machine's own index (one look-up at the torch index, not one per dependency).
        spec = [f"torch=={TORCH_VERSION}", "--no-deps"]
        return pip + spec + (["--index-url", self.index] if self.index else [])


def has_nvidia_gpu() -> bool:
    """An NVIDIA GPU the driver can see: `nvidia-smi -L` lists at least one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run(
            [smi, "-L"], check=False, capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return listed.returncode == 0 and any(
        line.startswith("GPU ") for line in listed.stdout.splitlines()
    )


def choose_torch(system: str, machine: str, gpu: bool, force: str | None = None) -> TorchChoice:
    """Which torch build to install, and why (printed for the owner)."""
    linux_x86 = system == "Linux" and machine.lower() in ("x86_64", "amd64")
    if force == "cuda" or (force is None and gpu):
        why = "asked for with --cuda" if force else "an NVIDIA GPU is present"
        return TorchChoice("cuda", f"PyPI's torch (the CUDA build on Linux): {why}")
    if not linux_x86:
        return TorchChoice("default", f"PyPI's torch, which is the right build on {system}")
    why = "asked for with --cpu" if force else "no NVIDIA GPU found (nvidia-smi lists none)"
    return TorchChoice(
        "cpu", f"PyTorch's CPU build (about 200 MB instead of 3 GB): {why}", CPU_INDEX
    )


def extras(test: bool, choice: TorchChoice) -> list[str]:
    """The project's extras: the local engine; OpenVINO where PyTorch runs on the CPU (the
    CPU default is about three times faster through it, docs/cpu.md) and for the tests."""
    chosen = ["local"]
    if test or choice.build == "cpu":
        chosen.append("openvino")
    return [*chosen, "test"] if test else chosen


def plan(args: argparse.Namespace, choice: TorchChoice, python: Path) -> list[list[str]]:
    pip = [str(python), "-m", "pip", "install"]
    project = f".[{','.join(extras(args.test, choice))}]"
    target = ["-e", project] if args.test else [project]
    return [choice.command(pip), pip + target]


def venv_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--test", action="store_true", help="editable, with the test tools")
    build = parser.add_mutually_exclusive_group()
    build.add_argument(
        "--cpu",
        action="store_const",
        const="cpu",
        dest="force",
        help="PyTorch's CPU build whatever the machine has",
    )
    build.add_argument(
        "--cuda",
        action="store_const",
        const="cuda",
        dest="force",
        help="PyPI's CUDA build whatever the machine has",
    )
    parser.add_argument(
        "--venv",
        type=Path,
        default=ROOT / ".venv",
        help="the virtual environment to create or reuse (default: .venv)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)

    gpu = args.force is None and has_nvidia_gpu()
    choice = choose_torch(platform.system(), platform.machine(), gpu, args.force)
    print(f"install.py: torch {TORCH_VERSION}, {choice.reason}. (--cpu or --cuda to change.)")
    python = venv_python(args.venv)
    commands = plan(args, choice, python)
    if args.dry_run:
        for command in commands:
            print(" ".join(command))
        return 0
    if not python.exists():
        venv.create(args.venv, with_pip=True)
    torch_step, project_step = commands
    if subprocess.run(torch_step, check=False, cwd=ROOT).returncode != 0:
        if choice.index is None:
            return 1
        print(
            f"install.py: PyTorch's CPU index ({choice.index}) could not be used; taking "
            f"torch {TORCH_VERSION} from your package index instead (on Linux x86_64 that "
            "may be the large CUDA build).",
            file=sys.stderr,
        )
        fallback = [*torch_step[:4], f"torch=={TORCH_VERSION}", "--no-deps"]
        if subprocess.run(fallback, check=False, cwd=ROOT).returncode != 0:
            return 1
    return subprocess.run(project_step, check=False, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
