"""One CPU path of bench/cpu_paths.py in a process of its own (so its cold start and peak
memory are its own; only that process imports this module, torch and the engine), driven over
a pipe: it loads the path, answers each variant's request
with the image and the seconds the call took, and reports its memory when asked."""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import diffusers
import torch
import transformers
from _sd_arch import build as build_arch
from diffusers import AutoencoderTiny, StableDiffusionPipeline

from engine import CancelToken, GenerationRequest
from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider

diffusers.utils.logging.disable_progress_bar()
transformers.utils.logging.disable_progress_bar()

PROMPT, SEED, SIZE = "a lighthouse at dusk", 1, 512
Call = Callable[[], Awaitable[Any]]


def serve(path: str, folder: str, options: dict[str, Any], conn: Connection) -> None:
    """The worker's main loop: ("ready", load seconds, what runs, its variants) once loaded,
    then one answer per request: ("image", variant, seconds, image), ("memory", steady KiB,
    peak KiB) or ("closed",); ("error", traceback) where anything fails."""
    loop = asyncio.new_event_loop()
    try:
        started = time.perf_counter()
        variants, info, close = loop.run_until_complete(_load(path, Path(folder), options))
        conn.send(("ready", time.perf_counter() - started, info, list(variants)))
        while True:
            request, *args = conn.recv()
            if request == "run":
                call = variants[args[0]]
                started = time.perf_counter()
                image = loop.run_until_complete(call())
                conn.send(("image", args[0], time.perf_counter() - started, image))
            elif request == "memory":
                conn.send(("memory", _rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
            else:
                loop.run_until_complete(close())
                conn.send(("closed",))
                return
    except Exception:
        conn.send(("error", traceback.format_exc()))


def _rss() -> int:
    """Resident memory now, in KiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


async def _load(
    path: str, folder: Path, options: dict[str, Any]
) -> tuple[dict[str, Call], str, Call]:
    if path == "raw-fp32":
        return await _raw(folder)
    return await _engine(folder, options)


async def _raw(folder: Path) -> tuple[dict[str, Call], str, Call]:
    """diffusers alone, in fp32: what the engine ran on every CPU before bf16."""
    pipe = StableDiffusionPipeline.from_pretrained(folder / "sd-turbo", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    tiny = AutoencoderTiny.from_pretrained(folder / "taesd", dtype=torch.float32).eval()

    async def tiny_decoder() -> Any:
        return _direct(pipe, tiny)

    async def full_vae() -> Any:
        return _direct(pipe, None)

    async def nothing() -> None:
        return None

    info = f"diffusers fp32, {torch.get_num_threads()} threads"
    return {"raw fp32": tiny_decoder, "raw fp32, full VAE": full_vae}, info, nothing


async def _engine(folder: Path, options: dict[str, Any]) -> tuple[dict[str, Call], str, Call]:
    """The engine as a bot runs it (its data folder holds OpenVINO's conversions), and the
    pipelines it runs the job with called directly on its thread (what the engine adds is
    the difference)."""
    settings = dict(options)
    name, data_dir = settings.pop("label"), Path(settings.pop("data_dir"))
    provider = build_provider("local", ProviderConfig("local", settings, data_dir=data_dir))
    assert isinstance(provider, LocalProvider)
    await provider.start()
    loaded = provider.cache.get("sd-turbo")
    runs = loaded.runtime or loaded  # OpenVINO's pipelines where the model runs there
    request = provider.prepare(GenerationRequest(PROMPT, seed=SEED))

    async def engine() -> Any:
        result = await provider.generate(request, lambda _: None, CancelToken())
        return result.images[0].image

    def direct(tiny: Any, threads: int = 0) -> Any:
        runs.text2img.scheduler = loaded.default_scheduler
        before = torch.get_num_threads()
        torch.set_num_threads(threads or before)
        try:
            return _direct(runs.text2img, tiny)
        finally:
            torch.set_num_threads(before)

    async def direct_tiny() -> Any:
        return await provider._call(direct, runs.tiny_decoder)

    async def direct_full() -> Any:
        return await provider._call(direct, None)

    async def direct_one_thread() -> Any:
        return await provider._call(direct, runs.tiny_decoder, 1)

    if loaded.runtime is not None:
        info = "OpenVINO"
    else:
        info = f"PyTorch {str(loaded.text2img.unet.dtype).removeprefix('torch.')}"
    info += f", {await provider._call(torch.get_num_threads)} torch threads"
    variants: dict[str, Call] = {f"engine {name}": engine, f"direct {name}": direct_tiny}
    if loaded.runtime is None:
        variants[f"direct {name}, full VAE"] = direct_full
    if name == "bf16":  # what one intra-op thread per physical core is worth
        variants[f"direct {name}, 1 thread"] = direct_one_thread
    return variants, info, provider.close


def _direct(pipe: Any, tiny: Any) -> Any:
    """One image as a script calling diffusers would make it: the tiny decoder on the
    pipeline's latents, or the pipeline's own full VAE."""
    with torch.no_grad():
        out = pipe(
            prompt=[PROMPT],
            negative_prompt=[""],
            generator=[torch.Generator("cpu").manual_seed(SEED)],
            num_inference_steps=1,
            guidance_scale=0.0,
            width=SIZE,
            height=SIZE,
            output_type="pil" if tiny is None else "latent",
        ).images
        if tiny is None:
            return out[0]
        decoded = tiny.decode(out.to(getattr(tiny, "dtype", torch.float32))).sample
        return pipe.image_processor.postprocess(decoded.float(), output_type="pil")[0]


def build(folder: Path) -> None:
    """SD-Turbo's architecture (bench/configs/sd_turbo.json) with seeded random weights,
    saved in fp16 as the hub's fp16 variant is, and a TAESD-shaped tiny decoder."""
    build_arch("sd_turbo", folder / "sd-turbo", torch.float16)
    torch.manual_seed(0)
    AutoencoderTiny().save_pretrained(folder / "taesd")
