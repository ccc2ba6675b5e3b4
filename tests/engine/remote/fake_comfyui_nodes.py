"""The node schemas of the fake ComfyUI (``/object_info``) and its validation of a submitted
graph (``node_errors``), in the shapes ComfyUI's server answers with."""

from __future__ import annotations

from typing import Any

CHECKPOINTS = ["v1-5-pruned-emaonly.safetensors", "flux1-schnell.safetensors"]
LORAS = ["ink.safetensors", "watercolour.safetensors"]
SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m"]
SCHEDULERS = ["normal", "karras"]


def _int(default: int, low: int = 0, high: int = 2**64) -> list[Any]:
    return ["INT", {"default": default, "min": low, "max": high}]


def _float(default: float) -> list[Any]:
    return ["FLOAT", {"default": default}]


def object_info(inputs: list[str]) -> dict[str, Any]:
    """The node schemas, in object_info's shape: combos as ``[[values], {}]`` (and one in the
    newer ``["COMBO", {"options": ...}]`` form)."""

    def node(required: dict[str, Any], output: list[str], output_node: bool = False) -> Any:
        return {"input": {"required": required}, "output": output, "output_node": output_node}

    return {
        "CheckpointLoaderSimple": node(
            {"ckpt_name": [list(CHECKPOINTS), {}]}, ["MODEL", "CLIP", "VAE"]
        ),
        "CLIPTextEncode": node(
            {"text": ["STRING", {"multiline": True}], "clip": ["CLIP"]}, ["CONDITIONING"]
        ),
        "KSampler": node(
            {
                "model": ["MODEL"],
                "seed": _int(0),
                "steps": _int(20, 1, 10000),
                "cfg": _float(8.0),
                "sampler_name": [list(SAMPLERS), {}],
                "scheduler": ["COMBO", {"options": list(SCHEDULERS)}],
                "positive": ["CONDITIONING"],
                "negative": ["CONDITIONING"],
                "latent_image": ["LATENT"],
                "denoise": _float(1.0),
            },
            ["LATENT"],
        ),
        "EmptyLatentImage": node(
            {"width": _int(512, 16), "height": _int(512, 16), "batch_size": _int(1, 1, 4096)},
            ["LATENT"],
        ),
        "VAEDecode": node({"samples": ["LATENT"], "vae": ["VAE"]}, ["IMAGE"]),
        "VAEEncode": node({"pixels": ["IMAGE"], "vae": ["VAE"]}, ["LATENT"]),
        "SetLatentNoiseMask": node({"samples": ["LATENT"], "mask": ["MASK"]}, ["LATENT"]),
        "LoadImage": node({"image": [list(inputs), {"image_upload": True}]}, ["IMAGE", "MASK"]),
        "LoraLoader": node(
            {
                "model": ["MODEL"],
                "clip": ["CLIP"],
                "lora_name": [list(LORAS), {}],
                "strength_model": _float(1.0),
                "strength_clip": _float(1.0),
            },
            ["MODEL", "CLIP"],
        ),
        "SaveImage": node({"images": ["IMAGE"], "filename_prefix": ["STRING", {}]}, [], True),
    }


def validate(prompt: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
    """ComfyUI's ``node_errors`` for a graph: unknown classes, missing inputs, combo values
    not in their list."""
    info = object_info(inputs)
    errors: dict[str, Any] = {}
    for node, spec in prompt.items():
        schema = info.get(spec.get("class_type"))
        if schema is None:
            errors[node] = {
                "errors": [
                    {
                        "type": "invalid_prompt",
                        "message": f"Cannot execute because node {spec.get('class_type')} "
                        "does not exist.",
                        "details": f"Node ID '#{node}'",
                        "extra_info": {},
                    }
                ],
                "dependent_outputs": [],
                "class_type": spec.get("class_type"),
            }
            continue
        for name, kind in schema["input"]["required"].items():
            value = spec["inputs"].get(name)
            problem = None
            if value is None:
                problem = ("required_input_missing", "Required input is missing", name)
            elif isinstance(kind[0], list) and value not in kind[0]:
                problem = (
                    "value_not_in_list",
                    "Value not in list",
                    f"{name}: {value!r} not in list",
                )
            if problem is not None:
                errors.setdefault(
                    node,
                    {"errors": [], "dependent_outputs": [], "class_type": spec["class_type"]},
                )
                errors[node]["errors"].append(
                    {
                        "type": problem[0],
                        "message": problem[1],
                        "details": problem[2],
                        "extra_info": {"input_name": name},
                    }
                )
    return errors
