"""ComfyUI workflows: loading, checks against the server, bindings and what they allow."""

from __future__ import annotations

import io
import json
import os
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from engine import CancelToken, InvalidRequest, LoraRef, Mode
from engine.errors import ProviderConfigError
from engine.registry import ProviderConfig, build_provider
from tests.engine.remote.comfyui_setup import (
    BINDING,
    KEY,
    comfy,
    inpaint,
    provider,
    request,
    txt2img,
    with_lora,
    workflow,
)
from tests.engine.remote.fake_comfyui import FakeComfyUI
from tests.fakes.http_api import png

__all__ = ["comfy"]  # the fixture


async def test_a_ui_format_workflow_is_refused_with_how_to_export(tmp_path: Path):
    path = tmp_path / "ui.json"
    path.write_text(json.dumps({"last_node_id": 9, "nodes": [], "links": [], "version": 0.4}))
    with pytest.raises(ProviderConfigError) as caught:
        build_provider(
            "comfyui",
            ProviderConfig("comfy", {"workflows": {"ui": {"path": str(path), "binding": BINDING}}}),
        )
    assert caught.value.key == "workflows.ui.path"
    assert "Export (API)" in caught.value.allowed and "Save (API Format)" in caught.value.allowed


def test_a_binding_to_a_node_the_workflow_lacks_is_named(tmp_path: Path):
    graph = workflow(tmp_path, "sd15", txt2img(), prompt="99.text")
    with pytest.raises(ProviderConfigError) as caught:
        build_provider("comfyui", ProviderConfig("comfy", {"workflows": {"sd15": graph}}))
    assert caught.value.key == "workflows.sd15.binding.prompt"
    assert "no node '99'" in caught.value.allowed


async def test_workflows_that_do_not_fit_the_server_are_left_out_by_name(
    comfy: FakeComfyUI, tmp_path: Path
):
    missing_model = txt2img()
    missing_model["4"]["inputs"]["ckpt_name"] = "sdxl.safetensors"
    custom = txt2img()
    custom["9"]["class_type"] = "SaveImageWebsocket"
    workflows = {
        "good": workflow(tmp_path, "good", txt2img()),
        "no-model": workflow(tmp_path, "no-model", missing_model),
        "no-input": workflow(tmp_path, "no-input", txt2img(), seed="3.noise_seed"),
        "custom": workflow(tmp_path, "custom", custom),
    }
    p = await provider(comfy, tmp_path, workflows)
    await p.close()
    assert p.unavailable is None
    assert p.capabilities.models == ("good",)
    assert "'sdxl.safetensors', which the server does not have" in p.problems["no-model"][0]
    assert "KSampler has no input 'noise_seed'" in p.problems["no-input"][0]
    assert "SaveImageWebsocket" in p.problems["custom"][0]
    assert p.model_info("good").samplers == ("euler", "euler_ancestral", "dpmpp_2m")


async def test_no_usable_workflow_makes_the_provider_unavailable(
    comfy: FakeComfyUI, tmp_path: Path
):
    broken = txt2img()
    broken["4"]["inputs"]["ckpt_name"] = "gone.safetensors"
    p = await provider(comfy, tmp_path, {"only": workflow(tmp_path, "only", broken)})
    await p.close()
    assert p.unavailable is not None and "only: node 4" in p.unavailable


async def test_loras_come_from_the_server_and_one_is_bound(comfy: FakeComfyUI, tmp_path: Path):
    workflows = {
        "sd15": workflow(
            tmp_path,
            "sd15",
            with_lora(),
            lora_name="10.lora_name",
            lora_weight=["10.strength_model", "10.strength_clip"],
        )
    }
    p = await provider(comfy, tmp_path, workflows)
    assert p.lora_names("sd15") == ["ink.safetensors", "watercolour.safetensors"]
    assert p.model_info("sd15").loras
    with pytest.raises(InvalidRequest, match="one of ink"):
        request(p, loras=(LoraRef("nope"),))
    await p.generate(
        request(p, loras=(LoraRef("watercolour.safetensors", 0.6),)), lambda _: None, CancelToken()
    )
    await p.generate(request(p), lambda _: None, CancelToken())
    await p.close()
    first, second = (body["prompt"]["10"]["inputs"] for body in comfy.prompts)
    assert first["lora_name"] == "watercolour.safetensors"
    assert first["strength_model"] == first["strength_clip"] == 0.6
    assert second["strength_model"] == second["strength_clip"] == 0.0  # no LoRA asked for


async def test_what_a_workflow_does_not_bind_is_refused_up_front(
    comfy: FakeComfyUI, tmp_path: Path
):
    workflows = {"plain": workflow(tmp_path, "plain", txt2img())}
    workflows["plain"]["binding"] = {"prompt": "6.text", "seed": "3.seed"}
    p = await provider(comfy, tmp_path, workflows)
    await p.close()
    info = p.model_info("plain")
    assert not (info.negative_prompt or info.guidance or info.img2img or info.inpaint)
    for changes, field in (
        ({"steps": 10}, "steps"),
        ({"negative_prompt": "fog"}, "negative"),
        ({"mode": Mode.IMG2IMG, "init_image": png()}, "image"),
    ):
        with pytest.raises(InvalidRequest) as caught:
            request(p, **changes)
        assert caught.value.field == field


async def test_an_inpaint_uploads_the_image_and_its_mask(comfy: FakeComfyUI, tmp_path: Path):
    workflows = {"fill": workflow(tmp_path, "fill", inpaint(), image="10.image", mask="10.image")}
    for size in ("width", "height"):  # the image's own size: it has no empty latent
        del workflows["fill"]["binding"][size]
    p = await provider(comfy, tmp_path, workflows)
    info = p.model_info("fill")
    assert info.inpaint and not info.img2img
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))  # paint the left half
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    job = request(
        p,
        mode=Mode.INPAINT,
        init_image=png((0, 0, 250), (64, 64)),
        mask_image=buffer.getvalue(),
        width=None,
        height=None,
    )
    result = await p.generate(job, lambda _: None, CancelToken())
    await p.close()
    assert len(comfy.calls("POST", "/upload/image")) == 1
    assert len(comfy.calls("POST", "/upload/mask")) == 1
    loaded = comfy.prompts[0]["prompt"]["10"]["inputs"]["image"]
    assert loaded in comfy.inputs  # the combined image the mask upload answered
    image = result.images[0].image
    assert image.getpixel((5, 5)) == (40, 0, 0)  # painted
    assert image.getpixel((60, 5)) == (0, 0, 250)  # kept


async def test_a_workflow_flagged_nsfw_is_kept_to_nsfw_channels(comfy: FakeComfyUI, tmp_path: Path):
    workflows = {
        "safe": workflow(tmp_path, "safe", txt2img()),
        "after-dark": workflow(tmp_path, "after-dark", txt2img()) | {"nsfw": True},
    }
    p = await provider(comfy, tmp_path, workflows)
    await p.close()
    assert p.capabilities.models == ("safe", "after-dark")
    assert not p.model_is_nsfw("safe") and p.model_is_nsfw("after-dark")


def test_an_unknown_binding_field_names_the_fields_there_are(tmp_path: Path):
    graph = workflow(tmp_path, "sd15", txt2img(), scheduler="3.scheduler")
    with pytest.raises(ProviderConfigError) as caught:
        build_provider("comfyui", ProviderConfig("comfy", {"workflows": {"sd15": graph}}))
    assert caught.value.key == "workflows.sd15.binding"
    assert "'scheduler' is not a field a binding maps" in caught.value.allowed


async def test_the_documented_example_workflow_and_binding_fit_the_server(
    comfy: FakeComfyUI, monkeypatch: pytest.MonkeyPatch
):
    root = Path(__file__).parents[3]
    monkeypatch.chdir(root)  # its path is relative to where the bot runs
    example = tomllib.loads((root / "docs/examples/comfyui/txt2img-sd15.toml").read_text())
    workflows = example["providers"]["comfy"]["workflows"]
    built = build_provider(
        "comfyui",
        ProviderConfig("comfy", {"base_url": comfy.base, "workflows": workflows}, KEY),
    )
    await built.start()
    await built.close()
    assert built.unavailable is None and built.left_out() == {}
    assert built.capabilities.models == ("sd15",)


@pytest.mark.parametrize("special", ["fifo", "device", "folder"])
def test_a_workflow_path_that_is_no_regular_file_is_refused_unread(tmp_path: Path, special: str):
    path = tmp_path / "workflow.json"
    if special == "fifo":
        os.mkfifo(path)  # opening it would wait for a writer for ever
    elif special == "device":
        path = Path("/dev/zero")  # reading it would never end
    else:
        path.mkdir()
    settings = {"path": str(path), "binding": BINDING}
    with pytest.raises(ProviderConfigError) as caught:
        build_provider("comfyui", ProviderConfig("comfy", {"workflows": {"sd15": settings}}))
    assert caught.value.key == "workflows.sd15.path"
    assert "regular file" in caught.value.allowed


def test_a_workflow_nested_past_the_parsers_depth_is_refused(tmp_path: Path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000)
    settings = {"path": str(path), "binding": BINDING}
    with pytest.raises(ProviderConfigError) as caught:
        build_provider("comfyui", ProviderConfig("comfy", {"workflows": {"sd15": settings}}))
    assert "nested less deep" in caught.value.allowed


def test_a_workflow_larger_than_allowed_is_refused(tmp_path: Path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (4 * 2**20 + 1))
    settings = {"path": str(path), "binding": BINDING}
    with pytest.raises(ProviderConfigError) as caught:
        build_provider("comfyui", ProviderConfig("comfy", {"workflows": {"sd15": settings}}))
    assert "4 MiB at most" in caught.value.allowed
