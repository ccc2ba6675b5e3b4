"""The default model on a CPU, every way the bot can run it: raw diffusers in fp32 (what the
engine ran before bf16), the engine with every setting at its default, the engine in bf16, and
the engine on OpenVINO; SD-Turbo's architecture (random weights, bench/configs/sd_turbo.json),
512x512, one step, the tiny decoder.

Each path lives in a process of its own, so its cold start (spawn to first image) and peak
memory are its own, and is driven over a pipe. Every path is warm before the rounds; each
round runs every variant once, in an order rotated by one each round, and divides each time by
raw fp32's in the same round: medians and ranges of those ratios. The engine's PyTorch paths
also call their own loaded pipeline directly on the engine's thread (what the engine adds) and
with the full VAE (what the tiny decoder saves); bf16's also on one thread (what a thread per
physical core gives). PSNR is against raw fp32's image of the same
seed, full VAE against full VAE.

Run: python bench/cpu_paths.py [--rounds 5] [--folder DIR] [--paths engine-bf16 ...]
[--no-full-vae]. The models are built in --folder (a temporary one by default) and reused."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))

from engine.local.openvino.options import choose_runtime, installed
from engine.local.options import ModelSpec

SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: a true cold start


def in_child(function: str, *args: Any) -> None:
    """A function of _cpu_worker, run in a spawned process: torch and the engine are imported
    there, never here, so each process's memory and start-up are its path's own."""
    getattr(importlib.import_module("_cpu_worker"), function)(*args)


BASE, BASE_FULL = "raw fp32", "raw fp32, full VAE"
GIB = 2**20  # KiB


def engine_options(folder: Path, label: str, model: dict[str, Any], **settings: Any) -> dict:
    spec = {
        "source": str(folder / "sd-turbo"),
        "width": 512,
        "height": 512,
        "steps": 1,
        "guidance": 0.0,
        "tiny_decoder": str(folder / "taesd"),
        **model,
    }
    # the bot's data folder, where OpenVINO keeps its conversions (one for every path)
    data_dir = str(folder / "data")
    return {"label": label, "data_dir": data_dir, "models": {"sd-turbo": spec}, **settings}


def paths(folder: Path) -> dict[str, dict[str, Any] | str]:
    """Each path's engine options, or why it does not run as a process of its own."""
    has_runtime = "runtime" in ModelSpec.model_fields
    found: dict[str, dict[str, Any] | str] = {
        "raw-fp32": {},
        "engine-auto": engine_options(folder, "auto", {}),
        "engine-bf16": engine_options(
            folder, "bf16", {"runtime": "torch"} if has_runtime else {}, dtype="bfloat16"
        ),
    }
    if not has_runtime:
        found["engine-openvino"] = (
            "unavailable: the engine has no OpenVINO runtime yet (branch t19/openvino is not "
            "merged)"
        )
    elif not installed():
        found["engine-openvino"] = (
            "unavailable: the openvino extra is not installed: pip install '.[openvino]'"
        )
    elif auto_runs_openvino():
        # one more process of that size would only cost memory
        found["engine-openvino"] = "the same engine as engine-auto, which runs OpenVINO here"
    else:
        found["engine-openvino"] = engine_options(folder, "openvino", {"runtime": "openvino"})
    return found


def auto_runs_openvino() -> bool:
    return (
        "runtime" in ModelSpec.model_fields
        and installed()
        and choose_runtime("auto", "cpu", "sd", available=True).runtime == "openvino"
    )


class Worker:
    """One path's process, started at once; its first answer says it is loaded."""

    def __init__(self, path: str, folder: Path, options: dict[str, Any]) -> None:
        self.path = path
        self.conn, child = SPAWN.Pipe()
        self.started = time.perf_counter()
        self.process = SPAWN.Process(
            target=in_child, args=("serve", path, str(folder), options, child), daemon=True
        )
        self.process.start()
        child.close()
        _, self.load_seconds, self.info, self.variants = self._receive("ready")

    def _receive(self, kind: str) -> tuple[Any, ...]:
        message = self.conn.recv()
        if message[0] == "error":
            raise RuntimeError(f"{self.path} failed:\n{message[1]}")
        assert message[0] == kind, message
        return tuple(message)

    def run(self, variant: str) -> tuple[float, Any]:
        self.conn.send(("run", variant))
        _, _, seconds, image = self._receive("image")
        return seconds, image

    def close(self) -> tuple[int, int]:
        """Its steady and peak resident memory (KiB), then its end."""
        self.conn.send(("memory",))
        _, steady, peak = self._receive("memory")
        self.conn.send(("close",))
        self._receive("closed")
        self.process.join()
        return steady, peak


def ensure_models(folder: Path) -> None:
    if (folder / "taesd" / "config.json").exists():
        return
    started = time.perf_counter()
    builder = SPAWN.Process(target=in_child, args=("build", folder))
    builder.start()
    builder.join()
    if builder.exitcode:
        sys.exit("building the models failed")
    print(f"# built SD-Turbo's architecture in {time.perf_counter() - started:.0f} s")


def convert_once(folder: Path, chosen: dict[str, dict[str, Any] | str]) -> str:
    """OpenVINO's one-time conversion, at a start of its own, so no path's cold start pays
    it; a note of what it took."""
    options = chosen.get("engine-auto" if auto_runs_openvino() else "engine-openvino")
    if not isinstance(options, dict) or any((folder / "data").rglob("conversion.json")):
        return ""
    converting = Worker("conversion", folder, options)
    converting.close()
    return f", after a one-time conversion at start-up of {converting.load_seconds:.0f} s"


def start_all(
    folder: Path, chosen: dict[str, dict[str, Any] | str], full_vae: bool
) -> tuple[list[Worker], dict[str, str], dict[str, Any]]:
    """Each path started in turn (so no cold start competes with another) and run once per
    variant; the workers, a note per path, and each variant's first image."""
    converted = convert_once(folder, chosen)
    workers, notes, firsts = [], {}, {}
    for path, options in chosen.items():
        if isinstance(options, str):
            notes[path] = options
            continue
        worker = Worker(path, folder, options)
        worker.variants = [v for v in worker.variants if full_vae or "full VAE" not in v]
        for index, variant in enumerate(worker.variants):
            _, firsts[variant] = worker.run(variant)
            if index == 0:
                cold = time.perf_counter() - worker.started
                notes[path] = f"cold start {cold:.1f} s"
        notes[path] += f" ({worker.info}{converted if 'OpenVINO' in worker.info else ''})"
        workers.append(worker)
    return workers, notes, firsts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--paths", nargs="+", default=None, help="raw-fp32 always runs")
    parser.add_argument("--no-full-vae", action="store_true")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="cpu-paths-"))
    ensure_models(folder)
    chosen = {
        path: options
        for path, options in paths(folder).items()
        if not args.paths or path in args.paths or path == "raw-fp32"
    }
    load = os.getloadavg()[0]
    workers, notes, firsts = start_all(folder, chosen, not args.no_full_vae)
    schedule = [(worker, variant) for worker in workers for variant in worker.variants]
    times: dict[str, list[float]] = {variant: [] for _, variant in schedule}
    for round_ in range(args.rounds):
        shift = round_ % len(schedule)
        for worker, variant in schedule[shift:] + schedule[:shift]:
            seconds, _ = worker.run(variant)
            times[variant].append(seconds)
            time.sleep(0.2)  # the last path's OpenMP threads stop spinning
    memory = {worker.path: worker.close() for worker in workers}
    loads = (load, os.getloadavg()[0])
    report(args.rounds, loads, times, firsts, notes, memory)


def psnr(a: Any, b: Any) -> float:
    error = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return math.inf if error == 0 else 10 * math.log10(255**2 / error)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def report(
    rounds: int,
    loads: tuple[float, float],
    times: dict[str, list[float]],
    firsts: dict[str, Any],
    notes: dict[str, str],
    memory: dict[str, tuple[int, int]],
) -> None:
    cpu = platform.processor() or platform.machine()
    print(f"# CPU paths, SD-Turbo architecture, 512x512, 1 step, {rounds} rounds, {cpu}, ")
    print(f"# {os.cpu_count()} CPUs, load average {loads[0]:.1f} at the start, {loads[1]:.1f} at")
    print("# the end; ratio: the time over raw fp32's in the same round")
    print("| path | median s | ratio to raw fp32: median (range) | PSNR to raw fp32 |")
    print("| --- | ---: | ---: | ---: |")
    for variant, values in times.items():
        ratios = [t / b for t, b in zip(values, times[BASE], strict=True)]
        reference = firsts.get(BASE_FULL if "full VAE" in variant else BASE)
        quality = "" if reference is None else f"{psnr(firsts[variant], reference):.1f} dB"
        print(f"| {variant} | {statistics.median(values):.2f} | {spread(ratios)} | {quality} |")
    print("\n| the engine over the same pipeline called directly | median (range) |")
    print("| --- | ---: |")
    for variant, values in times.items():
        direct = variant.replace("engine ", "direct ")
        if variant.startswith("engine ") and direct in times:
            ratios = [e / d for e, d in zip(values, times[direct], strict=True)]
            print(f"| {variant} / {direct} | {spread(ratios)} |")
    print("\n| seconds, round by round | " + " | ".join(str(k + 1) for k in range(rounds)) + " |")
    print("| --- |" + " ---: |" * rounds)
    for variant, values in times.items():
        print(f"| {variant} | " + " | ".join(f"{t:.2f}" for t in values) + " |")
    print("\n| process | RSS after the rounds GiB | peak RSS GiB | notes |")
    print("| --- | ---: | ---: | --- |")
    for path, note in notes.items():
        if path in memory:
            steady, peak = memory[path]
            print(f"| {path} | {steady / GIB:.2f} | {peak / GIB:.2f} | {note} |")
        else:
            print(f"| {path} | | | {note} |")


if __name__ == "__main__":
    main()
