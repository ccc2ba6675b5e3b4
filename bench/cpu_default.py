"""The default model on CPU: SD-Turbo's architecture (random weights, config in
bench/configs/sd_turbo.json), 512x512, one step, decoded by a TAESD-shaped tiny decoder; the
engine end to end against the raw diffusers pipeline with the same decoder, and the raw
pipeline with the full VAE for scale. Run: python bench/cpu_default.py [--rounds 3]"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _sd_arch import build  # also puts the repository on sys.path
from diffusers import AutoencoderTiny

from engine import CancelToken, GenerationRequest
from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        model = build("sd_turbo", Path(root) / "sd-turbo", torch.float32)
        torch.manual_seed(0)
        AutoencoderTiny().save_pretrained(Path(root) / "taesd")
        spec = {
            "source": str(model),
            "width": 512,
            "height": 512,
            "steps": 1,
            "guidance": 0.0,
            "tiny_decoder": str(Path(root) / "taesd"),
            "runtime": "torch",  # the engine against raw PyTorch; cpu_paths.py has OpenVINO
        }
        provider = build_provider(
            "local", ProviderConfig("local", {"device": "cpu", "models": {"sd-turbo": spec}})
        )
        assert isinstance(provider, LocalProvider)
        await provider.start()
        loaded = provider.cache.get("sd-turbo")
        pipe, tiny = loaded.text2img, loaded.tiny_decoder
        request = provider.prepare(GenerationRequest("a lighthouse at dusk", seed=1))

        def raw(output_type: str) -> None:
            pipe.scheduler = loaded.default_scheduler
            out = pipe(
                prompt=["a lighthouse at dusk"],
                negative_prompt=[""],
                generator=[torch.Generator("cpu").manual_seed(1)],
                num_inference_steps=1,
                guidance_scale=0.0,
                width=512,
                height=512,
                output_type=output_type,
            ).images
            if output_type == "latent":
                with torch.no_grad():
                    pipe.image_processor.postprocess(tiny.decode(out).sample, output_type="pil")

        async def timed(call) -> float:  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            await call()
            return time.perf_counter() - started

        await provider._call(raw, "latent")  # warm-up
        raw_tiny, engine = [], []
        for _ in range(args.rounds):
            raw_tiny.append(await timed(lambda: provider._call(raw, "latent")))
            engine.append(
                await timed(lambda: provider.generate(request, lambda _: None, CancelToken()))
            )
        raw_full = await timed(lambda: provider._call(raw, "pil"))
        await provider.close()
    tiny_median, engine_median = statistics.median(raw_tiny), statistics.median(engine)
    print(f"# default model on CPU: SD-Turbo architecture, 512x512, 1 step, {args.rounds} rounds")
    print(f"# {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| path | decoder | median s | ratio to raw (tiny) |")
    print("| --- | --- | ---: | ---: |")
    print(f"| raw pipeline | tiny | {tiny_median:.2f} | 1.000 |")
    print(f"| engine generate() | tiny | {engine_median:.2f} | {engine_median / tiny_median:.3f} |")
    print(f"| raw pipeline (one run) | full VAE | {raw_full:.2f} | {raw_full / tiny_median:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
