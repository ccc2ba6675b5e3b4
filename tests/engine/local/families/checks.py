"""The checks every family's tests run on its tiny pipeline (plain functions, no fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import torch
from PIL import Image

PROMPT = "a cat on the moon"
SIZE = 64


def load(pipeline_class: str, folder: Path) -> Any:
    pipe = getattr(diffusers, pipeline_class).from_pretrained(folder)
    assert type(pipe).__name__ == pipeline_class
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def run(pipe: Any, seed: int = 1, prompt: str | list[str] = PROMPT, **options: Any) -> np.ndarray:
    """Images as a float array (B, H, W, 3) in [0, 1]; 2 steps at 64x64 unless told."""
    options = {
        "height": SIZE,
        "width": SIZE,
        "num_inference_steps": 2,
        "output_type": "np",
        **options,
    }
    if "generator" not in options:
        options["generator"] = generator(seed)
    return pipe(prompt, **options).images


def check_txt2img(pipe: Any) -> None:
    first = run(pipe, seed=1)
    assert first.shape == (1, SIZE, SIZE, 3)
    assert np.isfinite(first).all() and first.std() > 0.01
    assert np.array_equal(run(pipe, seed=1), first)
    assert not np.array_equal(run(pipe, seed=2), first)


def check_batch_matches_solo_runs(pipe: Any) -> None:
    prompts = [PROMPT, "a red boat"]
    batch = run(pipe, prompt=prompts, generator=[generator(3), generator(4)])
    assert batch.shape == (2, SIZE, SIZE, 3)
    for k, (prompt, seed) in enumerate(zip(prompts, (3, 4), strict=True)):
        alone = run(pipe, seed=seed, prompt=prompt)[0]
        assert np.abs(batch[k] - alone).max() <= 1 / 255


def step_latent_shapes(pipe: Any, **options: Any) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []

    def on_step_end(_pipe: Any, _i: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        shapes.append(tuple(kwargs["latents"].shape))
        return kwargs

    run(
        pipe,
        callback_on_step_end=on_step_end,
        callback_on_step_end_tensor_inputs=["latents"],
        **options,
    )
    return shapes


def init_image() -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def check_img2img(pipe: Any, img2img_class: str) -> None:
    img2img = getattr(diffusers, img2img_class).from_pipe(pipe)
    assert type(img2img).__name__ == img2img_class
    img2img.set_progress_bar_config(disable=True)
    image = run(img2img, image=init_image(), strength=0.7)
    assert image.shape == (1, SIZE, SIZE, 3) and np.isfinite(image).all()


def check_lora_round_trip(pipeline_class: str, pipe_folder: Path, lora: Path) -> None:
    assert lora.name == "pytorch_lora_weights.safetensors" and lora.is_file()
    pipe = load(pipeline_class, pipe_folder)
    before = run(pipe)
    pipe.load_lora_weights(lora.parent, adapter_name="tiny")
    pipe.set_adapters(["tiny"], adapter_weights=[1.0])
    full = run(pipe)
    pipe.set_adapters(["tiny"], adapter_weights=[0.5])
    half = run(pipe)
    assert np.abs(full - before).max() > 0.01
    assert np.abs(half - full).max() > 0.001
    pipe.unload_lora_weights()
    assert np.array_equal(run(pipe), before)
