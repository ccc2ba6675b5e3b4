"""Checks shared by the tiny family tests: every family must load offline, generate, repeat
itself, batch like it runs alone, and take a LoRA and give it back."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

SIZE = 64
STEPS = 2
PROMPTS = ("a cat sitting on a red boat", "an astronaut riding a horse, oil painting")


def generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def load(pipeline_class: type, folder: Path) -> Any:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    pipe = pipeline_class.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe: Any, prompt: str | list[str], seeds: int | list[int], **kwargs: Any):
    """The images as uint8 pixels, (B, H, W, 3)."""
    kwargs = {"height": SIZE, "width": SIZE, "num_inference_steps": STEPS, **kwargs}
    many = not isinstance(seeds, int)
    generators = [generator(seed) for seed in seeds] if many else generator(seeds)
    images = pipe(prompt=prompt, generator=generators, **kwargs).images
    return np.stack([np.asarray(image) for image in images])


def check_loaded(pipe: Any, pipeline_class: type, components: dict[str, str]) -> None:
    assert type(pipe) is pipeline_class
    for name, class_name in components.items():
        assert type(getattr(pipe, name)).__name__ == class_name, name


def check_txt2img(
    pipe: Any, latent_shape: tuple[int, ...], vae_input: Callable, **kwargs: Any
) -> None:
    """An image of the asked size; the step callback sees ``latent_shape``, and the module's
    documented ``vae_input`` recipe turns the last step's latents into the same image."""
    seen: list[torch.Tensor] = []

    def callback(pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        seen.append(tensors["latents"].clone())
        return tensors

    images = pipe(
        prompt=PROMPTS[0],
        height=SIZE,
        width=SIZE,
        num_inference_steps=STEPS,
        generator=generator(1),
        output_type="pt",
        callback_on_step_end=callback,
        callback_on_step_end_tensor_inputs=["latents"],
        **kwargs,
    ).images
    assert images.shape == (1, 3, SIZE, SIZE)
    assert images.std() > 0.01
    assert len(seen) == STEPS
    assert tuple(seen[-1].shape) == latent_shape
    with torch.no_grad():
        decoded = pipe.vae.decode(vae_input(pipe, seen[-1], SIZE, SIZE), return_dict=False)[0]
    if decoded.ndim == 5:  # the Qwen-Image video VAE: one frame
        decoded = decoded[:, :, 0]
    again = pipe.image_processor.postprocess(decoded, output_type="pt")
    assert (again - images).abs().max() < 1e-4


def check_same_seed(pipe: Any, **kwargs: Any) -> None:
    first = generate(pipe, PROMPTS[0], 1, **kwargs)
    assert first.shape == (1, SIZE, SIZE, 3)
    assert np.array_equal(first, generate(pipe, PROMPTS[0], 1, **kwargs))
    assert not np.array_equal(first, generate(pipe, PROMPTS[0], 2, **kwargs))


def check_batch_matches_solo(pipe: Any, **kwargs: Any) -> None:
    batch = generate(pipe, list(PROMPTS), [1, 2], **kwargs)
    assert batch.shape == (2, SIZE, SIZE, 3)
    for index, seed in enumerate((1, 2)):
        alone = generate(pipe, PROMPTS[index], seed, **kwargs)[0]
        assert np.abs(batch[index].astype(int) - alone.astype(int)).max() <= 1


def init_image() -> Image.Image:
    values = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return Image.fromarray(values)


def check_img2img(img2img_class: type, pipe: Any, **kwargs: Any) -> None:
    img2img = img2img_class.from_pipe(pipe)
    img2img.set_progress_bar_config(disable=True)
    assert img2img.transformer is pipe.transformer
    images = generate(img2img, PROMPTS[0], 1, image=init_image(), strength=0.6, **kwargs)
    assert images.shape == (1, SIZE, SIZE, 3)
    assert images.std() > 1
    again = generate(img2img, PROMPTS[0], 1, image=init_image(), strength=0.6, **kwargs)
    assert np.array_equal(images, again)


def check_lora_round_trip(pipeline_class: type, folder: Path, lora: Path, **kwargs: Any) -> None:
    """On a fresh load: the LoRA loads, its weight scales it, unloading restores the pixels."""
    assert lora.name == "pytorch_lora_weights.safetensors" and lora.is_file()
    pipe = load(pipeline_class, folder)
    before = generate(pipe, PROMPTS[0], 1, **kwargs)
    pipe.load_lora_weights(str(lora), adapter_name="tiny")
    pipe.set_adapters(["tiny"], adapter_weights=[1.0])
    full = generate(pipe, PROMPTS[0], 1, **kwargs)
    pipe.set_adapters(["tiny"], adapter_weights=[0.5])
    half = generate(pipe, PROMPTS[0], 1, **kwargs)
    assert not np.array_equal(full, before)
    assert not np.array_equal(half, full)
    pipe.unload_lora_weights()
    assert np.array_equal(generate(pipe, PROMPTS[0], 1, **kwargs), before)
