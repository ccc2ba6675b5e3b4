"""Seconds per image, images per second with batching and peak VRAM on a GPU for the real
architectures of SDXL, FLUX.1 [schnell], Z-Image-Turbo and SD 3.5 Medium (and SD 1.5), with
random weights built from bench/configs/*.json (nothing is downloaded): the raw diffusers call
against the local engine's ``generate_batch()`` (same arguments: prompts, seeds, steps, size,
the family's guidance and other arguments), eager and with the engine's ``compile = true``, and
against the card's compute floor: FLOPs per image (counted from the architecture, see
``_flops.py``) over its dense fp16/bf16 rate. Each runs in the precision the engine gives its
family on a GPU under ``dtype = "auto"``: fp16 for the UNets, bf16 for the transformers.

The engine gets the pipeline built in memory (its loader's weight-reading step is swapped for
it; the rest of loading, family recognition from the saved configs, compilation and the run
are the engine's own): writing and re-reading tens of GB of random weights would spend the
device budget on disk.

Run on a CUDA machine: python bench/gpu_throughput.py [--arch sdxl flux1-schnell
z-image-turbo sd35-medium] [--batches 1 4] [--rounds 2] [--no-compile] [--peak-tflops 989].
An estimated 8 minutes on an H100 for the four defaults (each arch also runs alone, under the
10-minute limit of one device command). ``--dry-run`` checks it all on CPU: each architecture
at its real widths but one or two of each repeated block, 64x64, one step, compiled with
torch.compile's "eager" backend (tracing only), and the FLOP model against a counted real
run; it also prints the full-size FLOPs per image."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from _archs import ARCHS, Arch, build, load
from _flops import META, Flops, count, count_run, guided

from engine import CancelToken, GenerationRequest
from engine.local import LocalProvider, pipelines, speed
from engine.local.families import by_key
from engine.registry import ProviderConfig, build_provider

PROMPT = "a lighthouse at dusk, oil on canvas"
DEFAULT_ARCHS = ["sdxl", "flux1-schnell", "z-image-turbo", "sd35-medium"]
# Dense bf16 TFLOP/s (no sparsity) by the name CUDA reports.
PEAK_TFLOPS = {
    "H100 80GB HBM3": 989.0,  # H100 SXM
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H200": 989.0,
    "GH200": 989.0,
    "A100": 312.0,
}


def peak_tflops(device_name: str) -> float | None:
    for name, rate in PEAK_TFLOPS.items():
        if name in device_name:
            return rate
    return None


def timed(run: Callable[[], Any]) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    run()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def peak_gib(run: Callable[[], Any]) -> tuple[float, float]:
    """Seconds of ``run`` and the most GPU memory allocated meanwhile (0 on CPU)."""
    if not torch.cuda.is_available():
        return timed(run), 0.0
    torch.cuda.reset_peak_memory_stats()
    seconds = timed(run)
    return seconds, torch.cuda.max_memory_allocated() / 2**30


async def measure(
    arch: Arch, pipe: Any, configs: Path, args: argparse.Namespace, compiled: bool, flops: Flops
) -> None:
    size, steps = (64, 1) if args.dry_run else (arch.size, arch.steps)
    spec = {"source": str(configs), "width": size, "height": size, "steps": steps}
    spec.update(guidance=arch.guidance, max_size=size)
    options = {
        "models": {arch.name: spec},
        "compile": compiled,
        "max_batch": max(args.batches),
        "device": "cpu" if args.dry_run else "cuda",
        "dtype": "auto",  # as an owner runs it: fp32 on CPU, the family's half on the GPU
    }
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    started = time.perf_counter()
    mode = "compiled" if compiled else "eager"
    # a dry run traces with torch.compile's "eager" backend: the same graphs, guards and
    # recompilations, without generating code on a small CPU
    backend = "eager" if args.dry_run else speed.COMPILE_BACKEND
    try:
        with (
            mock.patch.object(pipelines, "_from_source", lambda *_, **__: pipe),
            mock.patch.object(speed, "COMPILE_BACKEND", backend),
        ):
            await provider.start()  # loads (and with compile, compiles and warms up) the model
    except Exception as err:  # a bench reports what fails and goes on with the next one
        print(f"| {arch.name} | {size}² | {steps} | | {mode} | failed: {err!r} |", flush=True)
        await provider.close()
        return
    if compiled:
        print(f"# {arch.name}: compiled and warmed up in {time.perf_counter() - started:.0f} s")
    model = provider.cache.get(arch.name)
    for batch in args.batches:
        requests = [
            provider.prepare(GenerationRequest(PROMPT, seed=k, model=arch.name))
            for k in range(batch)
        ]
        first = requests[0]
        guidance = model.family.guidance_arguments(first.guidance or 0.0, [""] * batch)

        def raw(requests: list[GenerationRequest] = requests, guidance: Any = guidance) -> None:
            model.text2img.scheduler = model.default_scheduler
            model.text2img(
                prompt=[r.prompt for r in requests],
                generator=[torch.Generator("cpu").manual_seed(r.seed or 0) for r in requests],
                num_inference_steps=steps,
                width=size,
                height=size,
                **guidance,
                **model.family.arguments(steps),
            )

        async def engine(requests: list[GenerationRequest] = requests) -> float:
            started = time.perf_counter()
            outcomes = await provider.generate_batch(
                requests, [lambda _: None] * len(requests), [CancelToken() for _ in requests]
            )
            if any(isinstance(outcome, Exception) for outcome in outcomes):
                raise RuntimeError(f"the engine failed: {outcomes}")
            return time.perf_counter() - started

        await provider._call(timed, raw)  # warm-up (and, compiled, a new batch size)
        raw_times, engine_times, peak = [], [], 0.0
        for _ in range(args.rounds if batch == 1 else max(1, args.rounds // 2)):
            seconds, gib = await provider._call(peak_gib, raw)
            raw_times.append(seconds)
            peak = max(peak, gib)
            engine_times.append(await engine())
        raw_s, engine_s = (
            statistics.median(raw_times) / batch,
            statistics.median(engine_times) / batch,
        )
        floor = ""
        if args.peak_tflops and not args.dry_run:
            floor_s = flops.per_image / (args.peak_tflops * 1e12)
            floor = f"{floor_s:.3f} | {100 * floor_s / raw_s:.0f} %"
        else:
            floor = "n/a | n/a"
        print(
            f"| {arch.name} | {size}² | {steps} | {batch} | {mode} | {raw_s:.3f} | {engine_s:.3f} "
            f"| {engine_s / raw_s:.3f} | {1 / raw_s:.2f} | {peak:.1f} "
            f"| {flops.per_image / 1e12:.1f} | {floor} |",
            flush=True,
        )
    await provider.close()


def check_flop_model(arch: Arch, pipe: Any) -> None:
    """The FLOP model at 64x64 and one step against the FLOPs counted in a real call."""
    modelled = count(arch, 64, 1, arch.guidance, PROMPT)
    family = by_key(arch.family)
    guidance = {**family.guidance_arguments(arch.guidance, [""]), **family.arguments(1)}
    counted = count_run(
        lambda: pipe(
            prompt=[PROMPT],
            generator=[torch.Generator("cpu").manual_seed(0)],
            num_inference_steps=1,
            width=64,
            height=64,
            **guidance,
        )
    )
    print(
        f"# {arch.name}: FLOP model {modelled.total / 1e9:.2f} GFLOP, counted in a real call "
        f"{counted / 1e9:.2f} GFLOP (ratio {modelled.total / counted:.3f})"
    )


def full_size_flops(names: list[str], rate: float | None) -> dict[str, Flops]:
    """Each architecture's FLOPs per image at its own size and steps, printed with the floor."""
    print(
        "| arch | size | steps | passes a step | params B | TFLOP text | TFLOP a step "
        "| TFLOP decode | TFLOP/image | floor s/image |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    counted = {}
    for name in names:
        arch = load(name)
        pipe = build(arch, META, torch.bfloat16)
        flops = count(arch, arch.size, arch.steps, arch.guidance, PROMPT, pipe=pipe)
        params = sum(
            parameter.numel()
            for module in pipe.components.values()
            if isinstance(module, torch.nn.Module)
            for parameter in module.parameters()
        )
        floor = f"{flops.per_image / (rate * 1e12):.3f}" if rate else "n/a"
        print(
            f"| {name} | {arch.size}² | {arch.steps} | {2 if guided(arch, arch.guidance) else 1} "
            f"| {params / 1e9:.2f} | {flops.text / 1e12:.2f} | {flops.step / 1e12:.2f} "
            f"| {flops.decode / 1e12:.2f} | {flops.per_image / 1e12:.1f} | {floor} |",
            flush=True,
        )
        counted[name] = flops
    return counted


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", nargs="+", default=DEFAULT_ARCHS, choices=list(ARCHS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("bench/gpu_throughput.py needs a CUDA GPU (or --dry-run to check it on CPU)")
    device = torch.device("cpu" if args.dry_run else "cuda")
    name = "CPU (dry run)" if args.dry_run else torch.cuda.get_device_name()
    if args.peak_tflops is None:
        args.peak_tflops = PEAK_TFLOPS["H100 80GB HBM3"] if args.dry_run else peak_tflops(name)
    if args.dry_run:
        args.batches, args.rounds = [1, 2], 1
    precision = (
        "float32" if args.dry_run else "each family's half precision (fp16 UNets, bf16 DiTs)"
    )
    print(f"# GPU throughput, {name}, torch {torch.__version__}, {precision}, prompt {PROMPT!r}")
    print(f"# compute floor at {args.peak_tflops or 'unknown'} dense bf16 TFLOP/s (H100 SXM: 989)")
    floors = full_size_flops(args.arch, args.peak_tflops)
    print()
    print(
        "| arch | size | steps | batch | mode | raw s/img | engine s/img | engine/raw "
        "| raw img/s | peak VRAM GiB | TFLOP/img | floor s/img | floor/raw |"
    )
    print(
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    started = time.perf_counter()
    for arch_name in args.arch:
        arch, flops = load(arch_name), floors[arch_name]
        if args.dry_run:
            arch = arch.shallow()
        built = time.perf_counter()
        dtype = torch.float32 if args.dry_run else getattr(torch, by_key(arch.family).half)
        pipe = build(arch, device, dtype)
        print(f"# {arch_name}: built in {time.perf_counter() - built:.0f} s", flush=True)
        if args.dry_run:
            check_flop_model(arch, pipe)
        with tempfile.TemporaryDirectory(prefix="bench-configs-") as configs:
            save_configs(pipe, Path(configs))
            modes = [False] if args.no_compile else [False, True]
            for compiled in modes:
                await measure(arch, pipe, Path(configs), args, compiled, flops)
        del pipe
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        print(f"# {arch_name}: done at {time.perf_counter() - started:.0f} s", flush=True)


def save_configs(pipe: Any, folder: Path) -> None:
    """model_index.json and each model's config.json, no weights: what the engine reads to
    tell the family, as from a real folder."""
    pipe.save_config(folder)
    for key, component in pipe.components.items():
        if hasattr(component, "save_config") and hasattr(component, "parameters"):
            component.save_config(folder / key)


if __name__ == "__main__":
    asyncio.run(main())
