"""The default model on CPU through OpenVINO against PyTorch: SD-Turbo's architecture (random
weights, bench/configs/sd_turbo.json), 512x512, one step, no guidance, a TAESD-shaped tiny
decoder. The engine with runtime = "openvino" (int8 weights, OpenVINO's own precision) against
the raw diffusers pipeline in fp32 with the same decoder, alternating which goes first, on the
engine's thread; medians and the range of per-round ratios. Also the one-time conversion, the
start from the cache, resident memory, and how close the two images are.
Run: python bench/openvino_default.py [--rounds 5] [--weights int8|fp32] [--keep DIR]
(--keep: the model and its conversion in DIR, built or converted only when absent there)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _sd_arch import build  # also puts the repository on sys.path
from diffusers import AutoencoderTiny, StableDiffusionPipeline

from engine import CancelToken, GenerationRequest
from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider

PROMPT = "a lighthouse at dusk"


def provider_for(root: Path, weights: str, runtime: str = "openvino") -> LocalProvider:
    spec = {
        "source": str(root / "sd-turbo"),
        "width": 512,
        "height": 512,
        "steps": 1,
        "guidance": 0.0,
        "tiny_decoder": str(root / "taesd"),
        "runtime": runtime,
    }
    options = {
        "device": "cpu",
        "models": {"sd-turbo": spec},
        "openvino": {"folder": str(root / "openvino"), "weights": weights},
    }
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    return provider


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


def memory_mb(field: str) -> float:
    """This process's resident memory (Linux): VmRSS now, or VmHWM, its peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def resident(root: Path, weights: str, runtime: str) -> None:
    """In a process of its own: the engine on one runtime, started and one image made."""
    provider = provider_for(root, weights, runtime)
    await provider.start()
    request = provider.prepare(GenerationRequest(PROMPT, seed=1))
    await provider.generate(request, lambda _: None, CancelToken())
    print(json.dumps({"rss": memory_mb("VmRSS"), "peak": memory_mb("VmHWM")}))
    await provider.close()


def measure_resident(root: Path, weights: str, runtime: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--keep", str(root), "--weights", weights]
    done = subprocess.run(
        [*command, "--resident", runtime], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def psnr(a: Any, b: Any) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255**2 / max(((x - y) ** 2).mean(), 1e-12)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--weights", choices=["int8", "fp32"], default="int8")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--resident", choices=["torch", "openvino"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.resident:
        await resident(args.keep, args.weights, args.resident)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as name:
        root = args.keep or Path(name)
        if not (root / "taesd").is_dir():
            build("sd_turbo", root / "sd-turbo", torch.float32)
            torch.manual_seed(0)
            AutoencoderTiny().save_pretrained(root / "taesd")

        converted_before = any((root / "openvino").rglob("conversion.json"))
        first = provider_for(root, args.weights)
        converting, _ = await timed(first.start)
        await first.close()
        del first
        provider = provider_for(root, args.weights)
        cold, _ = await timed(provider.start)
        pipe = StableDiffusionPipeline.from_pretrained(root / "sd-turbo")
        pipe.set_progress_bar_config(disable=True)
        tiny = AutoencoderTiny.from_pretrained(root / "taesd")
        request = provider.prepare(GenerationRequest(PROMPT, seed=1))

        def raw() -> Any:
            latents = pipe(
                prompt=[PROMPT],
                negative_prompt=[""],
                generator=[torch.Generator("cpu").manual_seed(1)],
                num_inference_steps=1,
                guidance_scale=0.0,
                width=512,
                height=512,
                output_type="latent",
            ).images
            with torch.no_grad():
                decoded = tiny.decode(latents).sample
            return pipe.image_processor.postprocess(decoded, output_type="pil")[0]

        def engine() -> Awaitable[Any]:
            return provider.generate(request, lambda _: None, CancelToken())

        torch_image = await provider._call(raw)  # warm-up, both
        openvino_image = (await engine()).images[0].image
        torch_times: list[float] = []
        openvino_times: list[float] = []
        for index in range(args.rounds):
            order = [("torch", raw), ("openvino", None)]
            for which, _ in order if index % 2 == 0 else reversed(order):
                if which == "torch":
                    seconds, _ = await timed(lambda: provider._call(raw))
                    torch_times.append(seconds)
                else:
                    seconds, _ = await timed(engine)
                    openvino_times.append(seconds)
        await provider.close()
        memory = {r: measure_resident(root, args.weights, r) for r in ("torch", "openvino")}
    ratios = [o / t for o, t in zip(openvino_times, torch_times, strict=True)]
    torch_median, openvino_median = (
        statistics.median(torch_times),
        statistics.median(openvino_times),
    )
    print(
        f"# SD-Turbo architecture, 512x512, 1 step, tiny decoder, {args.rounds} alternating rounds"
    )
    print(
        f"# {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"OpenVINO weights {args.weights}"
    )
    print("| path | median s | ratio to raw fp32 (median, range) |")
    print("| --- | ---: | ---: |")
    print(f"| raw diffusers, fp32 | {torch_median:.2f} | 1.00 |")
    print(
        f"| engine, runtime = openvino | {openvino_median:.2f} | {statistics.median(ratios):.2f} "
        f"({min(ratios):.2f}–{max(ratios):.2f}) |"
    )
    what = "(converted in an earlier run)" if converted_before else "with the conversion"
    print(f"# first start {what}: {converting:.1f} s; from the cache: {cold:.1f} s")
    for runtime, used in memory.items():
        print(
            f"# the engine on {runtime} alone, started and one image made: resident "
            f"{used['rss']:.0f} MB, peak {used['peak']:.0f} MB"
        )
    close = psnr(openvino_image, torch_image)
    print(f"# PSNR of the OpenVINO image against PyTorch's, same seed: {close:.1f} dB")


if __name__ == "__main__":
    asyncio.run(main())
