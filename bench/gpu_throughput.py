"""Images per second on a GPU for the SD 1.5 and SDXL architectures (random weights, configs
in bench/configs, so nothing is downloaded): the raw diffusers pipeline against the local
engine, batch 1/4/8, eager and torch.compile'd, and against the compute floor.

Run on a CUDA machine: python bench/gpu_throughput.py [--arch sd15 sdxl] [--batches 1 4 8]
[--steps 25] [--no-compile]. ``--dry-run`` checks the set-up on CPU at 64x64, one step."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from engine import CancelToken, GenerationRequest
from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.tiny import tokenizer

CONFIGS = Path(__file__).parent / "configs"
# Forward FLOPs of one image at 512x512, 25 steps, classifier-free guidance (two UNet passes
# a step) plus text encoding and VAE decode, for the SD 1.5 architecture.
SD15_TFLOP_PER_IMAGE = 43.0


def build(arch: str, folder: Path, dtype: torch.dtype) -> Path:
    """The architecture in ``configs/<arch>.json`` with seeded random weights, saved."""
    config = json.loads((CONFIGS / f"{arch}.json").read_text())
    torch.manual_seed(0)
    text = [
        CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, **c)
        for c in config["text_encoders"]
    ]
    parts: dict[str, Any] = {
        "unet": UNet2DConditionModel.from_config(config["unet"]),
        "vae": AutoencoderKL.from_config(config["vae"]),
        "scheduler": EulerDiscreteScheduler.from_config(config["scheduler"]),
        "tokenizer": tokenizer(folder / "_tokenizer"),
    }
    if arch == "sdxl":
        pipe = StableDiffusionXLPipeline(
            text_encoder=CLIPTextModel(text[0]),
            text_encoder_2=CLIPTextModelWithProjection(text[1]),
            tokenizer_2=tokenizer(folder / "_tokenizer2"),
            **parts,
        )
    else:
        pipe = StableDiffusionPipeline(
            text_encoder=CLIPTextModel(text[0]),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            **parts,
        )
    pipe.to(dtype=dtype).save_pretrained(folder)
    return folder


def images_per_second(run: Any, images: int, rounds: int) -> float:
    run()  # warm-up (and compilation)
    times = []
    for _ in range(rounds):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        started = time.perf_counter()
        run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return images / statistics.median(times)


async def measure(arch: str, folder: Path, args: argparse.Namespace, compiled: bool) -> None:
    size = 64 if args.dry_run else json.loads((CONFIGS / f"{arch}.json").read_text())["size"]
    steps = 1 if args.dry_run else args.steps
    spec = {
        "source": str(folder),
        "width": size,
        "height": size,
        "steps": steps,
        "guidance": 7.0,
        "max_size": size,
    }
    options = {
        "models": {arch: spec},
        "compile": compiled,
        "max_batch": max(args.batches),
        "device": "cpu" if args.dry_run else "auto",
    }
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    await provider.start()
    pipe = provider.cache.get(arch).text2img
    loop = asyncio.get_running_loop()
    for batch in args.batches:
        requests = [
            provider.prepare(GenerationRequest(f"a lighthouse {k}", seed=k)) for k in range(batch)
        ]

        def raw(requests: list[GenerationRequest] = requests) -> None:
            pipe.scheduler = provider.cache.get(arch).default_scheduler
            pipe(
                prompt=[r.prompt for r in requests],
                negative_prompt=[""] * len(requests),
                generator=[torch.Generator("cpu").manual_seed(r.seed or 0) for r in requests],
                num_inference_steps=steps,
                guidance_scale=7.0,
                width=size,
                height=size,
            )

        def engine(requests: list[GenerationRequest] = requests) -> None:
            asyncio.run_coroutine_threadsafe(
                provider.generate_batch(
                    requests, [lambda _: None] * len(requests), [CancelToken() for _ in requests]
                ),
                loop,
            ).result()

        rounds = 1 if args.dry_run else args.rounds
        raw_rate = await provider._call(images_per_second, raw, batch, rounds)
        engine_rate = await loop.run_in_executor(None, images_per_second, engine, batch, rounds)
        floor = ""
        if arch == "sd15" and size == 512 and steps == 25:
            floor = f"{raw_rate * SD15_TFLOP_PER_IMAGE:.0f}"
        mode = "compiled" if compiled else "eager"
        print(
            f"| {arch} | {size}² | {steps} | {batch} | {mode} | {raw_rate:.2f} | {engine_rate:.2f} "
            f"| {engine_rate / raw_rate:.3f} | {floor} |",
            flush=True,
        )
    await provider.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", nargs="+", default=["sd15", "sdxl"], choices=["sd15", "sdxl"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        sys.exit("bench/gpu_throughput.py needs a CUDA GPU (or --dry-run to check it on CPU)")
    dtype = torch.float32 if args.dry_run else torch.float16
    device = "cpu" if args.dry_run else torch.cuda.get_device_name()
    print(f"# GPU throughput, {device}, torch {torch.__version__}, {dtype}")
    print(
        "| arch | size | steps | batch | mode | raw img/s | engine img/s | engine/raw "
        "| raw TFLOP/s |"
    )
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as root:
        for arch in args.arch:
            folder = build(arch, Path(root) / arch, dtype)
            modes = [False] if args.no_compile or args.dry_run else [False, True]
            for compiled in modes:
                await measure(arch, folder, args, compiled)


if __name__ == "__main__":
    asyncio.run(main())
