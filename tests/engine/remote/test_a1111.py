from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from PIL import Image, ImageOps, PngImagePlugin

from engine import (
    CancelToken,
    GenerationCancelled,
    GenerationRequest,
    InvalidRequest,
    LoraRef,
    Mode,
    Progress,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from engine.chaos import guidance_of
from engine.errors import ProviderConfigError
from engine.registry import ProviderConfig, build_provider
from engine.remote.a1111 import A1111Provider
from tests.fakes.http_api import FakeApi, json_answer, png, png_b64

PASSWORD = "forge-password-789"
TITLE = "dreamshaper_8.safetensors [879db523c3]"
AUTH = "Basic " + base64.b64encode(f"owner:{PASSWORD}".encode()).decode()


def a1111_error(status: int, error: str, detail: str = "", errors: str = "") -> web.Response:
    """How A1111's API middleware answers an exception: its class name in ``error``, an
    HTTPException's ``detail``, and ``str(exception)`` in ``errors``."""
    return json_answer({"error": error, "detail": detail, "body": "", "errors": errors}, status)


INPAINT_FIELDS = {
    "mask": str,
    "inpainting_fill": int,
    "inpaint_full_res": bool,
    "inpaint_full_res_padding": int,
    "mask_blur": int,
    "inpainting_mask_invert": int,
    "denoising_strength": float,
}


def decode_b64(text: str) -> Image.Image:
    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        image.load()
        return image.copy()


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class Forge:
    """A small web UI: generation takes ``seconds``, progress and interrupt work meanwhile.
    An unknown sampler is a 404 HTTPException as in A1111; ``crash`` makes a generation fail
    with that RuntimeError's text, as a web UI out of memory does."""

    def __init__(self, api: FakeApi, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.step = 0
        self.crash: str | None = None
        self.interrupted = asyncio.Event()
        self.masks: list[Image.Image] = []
        self.return_grid = False  # A1111's "return grid": a grid before a batch's images
        # an extension's part of an answer: images after the generated ones, or a refusal
        self.extension: Callable[[Any], list[str] | web.Response] | None = None
        for path, data in (
            (
                "/sdapi/v1/sd-models",
                [
                    {
                        "title": TITLE,
                        "model_name": "dreamshaper_8",
                        "hash": "879db523c3",
                        "filename": "/models/Stable-diffusion/dreamshaper_8.safetensors",
                    }
                ],
            ),
            ("/sdapi/v1/samplers", [{"name": "Euler a"}, {"name": "DPM++ 2M"}]),
            ("/sdapi/v1/loras", [{"name": "ink", "path": "/loras/ink.safetensors"}]),
        ):
            api.route("GET", path, self._static(data))
        api.route("POST", "/sdapi/v1/txt2img", self.generate)
        api.route("POST", "/sdapi/v1/img2img", self.img2img)
        api.route("GET", "/sdapi/v1/progress", self.progress)
        api.route("POST", "/sdapi/v1/interrupt", self.interrupt)
        api.route("POST", "/sdapi/v1/extra-single-image", self.upscale)
        api.route("POST", "/sdapi/v1/interrogate", self.interrogate)

    def _static(self, data):
        async def handler(request: web.Request, body) -> web.Response:
            if request.headers.get("Authorization") != AUTH:
                return json_answer({"detail": "Not authenticated"}, 401)
            return json_answer(data)

        return handler

    async def generate(self, request: web.Request, body) -> web.Response:
        if request.headers.get("Authorization") != AUTH:
            return json_answer({"detail": "Not authenticated"}, 401)
        if body.get("sampler_name") not in (None, "Euler a", "DPM++ 2M"):
            return a1111_error(404, "HTTPException", "Sampler not found", "404: Sampler not found")
        if self.crash is not None:
            return a1111_error(500, "RuntimeError", errors=self.crash)
        steps = 10
        for self.step in range(1, steps + 1):
            if self.interrupted.is_set():
                break
            await asyncio.sleep(self.seconds / steps)
        images = [
            png_b64((body["seed"] + k, 0, 0), (body["width"], body["height"]))
            for k in range(body["batch_size"])
        ]
        return self._answer(body, images)

    def _answer(self, body, images: list[str]) -> web.Response:
        """The images as A1111 sends them: the grid first where it makes one, the
        extensions' images last; ``info`` a JSON text saying where the first image is."""
        grid = self.return_grid and len(images) > 1
        if grid:
            images = [png_b64((7, 7, 7), (body["width"] * 2, body["height"] * 2)), *images]
        if self.extension is not None:
            extra = self.extension(body)
            if isinstance(extra, web.Response):
                return extra
            images = [*images, *extra]
        info = {
            "all_seeds": [body["seed"] + k for k in range(body["batch_size"])],
            "index_of_first_image": 1 if grid else 0,
        }
        return json_answer({"images": images, "parameters": body, "info": json.dumps(info)})

    async def img2img(self, request: web.Request, body) -> web.Response:
        """img2img as the web UI documents it: ``init_images`` (base64), and for inpainting a
        ``mask`` of the image's size, white where it paints unless ``inpainting_mask_invert``.
        A masked call answers the image with its painted region in the colour (seed + k, 0, 0),
        so a test sees exactly where it painted."""
        if not body.get("init_images"):
            return a1111_error(404, "HTTPException", "Init image not found", "404: no image")
        if not body.get("mask"):
            if "inpainting_fill" in body:  # inpainting fields without the mask they act on
                return a1111_error(422, "HTTPException", "inpainting needs a mask")
            return await self.generate(request, body)
        if request.headers.get("Authorization") != AUTH:
            return json_answer({"detail": "Not authenticated"}, 401)
        for name, kind in INPAINT_FIELDS.items():
            if not isinstance(body.get(name), kind):
                return json_answer({"detail": [{"loc": ["body", name], "msg": "bad type"}]}, 422)
        image, mask = decode_b64(body["init_images"][0]), decode_b64(body["mask"])
        if mask.size != image.size:
            return a1111_error(422, "HTTPException", "mask size differs from the image")
        self.masks.append(mask)
        size = (body["width"], body["height"])
        paint = mask.convert("L").resize(size)
        if body["inpainting_mask_invert"]:
            paint = ImageOps.invert(paint)
        images = []
        for k in range(body["batch_size"]):
            out = image.convert("RGB").resize(size)
            out.paste((body["seed"] + k, 0, 0), mask=paint)
            images.append(base64.b64encode(png_of(out)).decode("ascii"))
        return self._answer(body, images)

    async def progress(self, request: web.Request, body) -> web.Response:
        return json_answer(
            {
                "progress": self.step / 10,
                "state": {"sampling_step": self.step, "sampling_steps": 10},
                "current_image": png_b64((9, 9, 9), (8, 8)),
            }
        )

    async def interrupt(self, request: web.Request, body) -> web.Response:
        self.interrupted.set()
        return json_answer({})

    async def upscale(self, request: web.Request, body) -> web.Response:
        with Image.open(io.BytesIO(base64.b64decode(body["image"]))) as image:
            size = (
                int(image.width * body["upscaling_resize"]),
                int(image.height * body["upscaling_resize"]),
            )
        return json_answer({"image": png_b64((1, 1, 1), size), "html_info": ""})

    async def interrogate(self, request: web.Request, body) -> web.Response:
        return json_answer({"caption": f"a lighthouse ({body['model']})"})


async def provider(api: FakeApi, password: str | None = PASSWORD, **options) -> A1111Provider:
    built = build_provider(
        "a1111",
        ProviderConfig(
            "forge",
            {"base_url": api.base, "username": "owner", "progress_seconds": 0.05, **options},
            password,
        ),
    )
    assert isinstance(built, A1111Provider)
    await built.start()
    return built


async def test_discovery_fills_models_samplers_and_loras(api: FakeApi):
    Forge(api)
    p = await provider(api)
    assert p.unavailable is None
    assert p.capabilities.models == ("dreamshaper_8.safetensors",)
    assert p.capabilities.samplers == ("Euler a", "DPM++ 2M")
    with pytest.raises(InvalidRequest, match="one of ink"):
        p.prepare(GenerationRequest("x", loras=(LoraRef("nope"),)))
    await p.close()


async def test_a_failed_health_check_marks_it_unavailable_with_the_reason(api: FakeApi):
    Forge(api)
    p = await provider(api, password="wrong")
    assert p.unavailable is not None and "401" in p.unavailable
    assert "wrong" not in p.unavailable
    await p.close()


async def test_txt2img_with_loras_in_the_prompt_and_live_progress(api: FakeApi):
    Forge(api, seconds=0.6)
    p = await provider(api)
    reports: list[Progress] = []
    request = p.prepare(
        GenerationRequest(
            "a lighthouse",
            seed=40,
            count=2,
            width=64,
            height=64,
            sampler="DPM++ 2M",
            loras=(LoraRef("ink", 0.7),),
        )
    )
    result = await p.generate(request, reports.append, CancelToken())
    await p.close()
    body = api.calls("/sdapi/v1/txt2img")[0].body
    assert body["prompt"] == "a lighthouse <lora:ink:0.7>"
    assert body["batch_size"] == 2 and body["seed"] == 40 and body["sampler_name"] == "DPM++ 2M"
    assert body["override_settings"] == {"sd_model_checkpoint": TITLE}
    assert [i.seed for i in result.images] == [40, 41]
    assert result.images[1].image.getpixel((0, 0)) == (41, 0, 0)
    assert reports and all(r.total == 10 for r in reports)
    assert reports[0].preview is not None


async def test_cancel_interrupts_the_running_generation(api: FakeApi):
    forge = Forge(api, seconds=5.0)
    p = await provider(api)
    token = CancelToken()
    request = p.prepare(GenerationRequest("a lighthouse", seed=1, width=64, height=64))
    task = asyncio.create_task(p.generate(request, lambda _: None, token))
    while forge.step < 1:  # noqa: ASYNC110 (the web UI has begun generating)
        await asyncio.sleep(0.01)
    token.cancel()
    with pytest.raises(GenerationCancelled):
        await asyncio.wait_for(task, 60)  # a guard against a hang, not a measure
    await p.close()
    assert forge.interrupted.is_set()
    assert forge.step < 10  # it stopped early: interrupted, not waited out


async def test_img2img_upscale_and_interrogate(api: FakeApi):
    Forge(api)
    p = await provider(api, upscale_factor=2.0)
    source = png((5, 5, 5), (40, 30))
    await p.generate(
        p.prepare(
            GenerationRequest(
                "x", seed=2, mode=Mode.IMG2IMG, init_image=source, strength=0.4, width=64, height=64
            )
        ),
        lambda _: None,
        CancelToken(),
    )
    body = api.calls("/sdapi/v1/img2img")[0].body
    assert base64.b64decode(body["init_images"][0]) == source and body["denoising_strength"] == 0.4
    upscale = p.prepare(GenerationRequest("x", mode=Mode.UPSCALE, init_image=source))
    assert upscale.size == (80, 60)
    result = await p.generate(upscale, lambda _: None, CancelToken())
    assert result.images[0].image.size == (80, 60)
    assert await p.describe(Image.new("RGB", (8, 8))) == "a lighthouse (clip)"
    await p.close()


async def test_an_echoed_basic_auth_header_is_scrubbed(api: FakeApi):
    Forge(api)

    async def echo(request: web.Request, body) -> web.Response:
        return json_answer({"detail": f"bad request from {request.headers['Authorization']}"}, 422)

    api.route("POST", "/sdapi/v1/txt2img", echo)
    p = await provider(api)
    with pytest.raises(ProviderRejected, match="bad request from Basic") as caught:
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    secret = AUTH.removeprefix("Basic ")
    assert secret not in caught.value.user_message and secret not in str(caught.value.messages)


async def test_a_model_is_shown_and_chosen_by_its_title_without_the_hash(api: FakeApi):
    Forge(api)
    p = await provider(api)
    assert p.capabilities.models == ("dreamshaper_8.safetensors",)
    assert p.default_model == "dreamshaper_8.safetensors"
    for typed in ("dreamshaper_8.safetensors", TITLE):
        request = p.prepare(GenerationRequest("x", model=typed, seed=3, width=64, height=64))
        assert request.model == "dreamshaper_8.safetensors"
    result = await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    # the web UI gets, and the image's stored parameters keep, the title with its hash
    assert api.calls("/sdapi/v1/txt2img")[0].body["override_settings"] == {
        "sd_model_checkpoint": TITLE
    }
    assert result.model == TITLE


async def test_a_runtime_error_shows_the_web_uis_own_words(api: FakeApi):
    forge = Forge(api)
    forge.crash = "CUDA out of memory. Tried to allocate 2.00 GiB"
    p = await provider(api)
    with pytest.raises(ProviderUnavailable) as caught:
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    assert caught.value.user_message == (
        "The forge provider answered 500: CUDA out of memory. Tried to allocate 2.00 GiB."
    )
    forge.crash = "out of memory " * 400
    with pytest.raises(ProviderUnavailable) as caught:
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    assert "out of memory" in caught.value.user_message
    assert len(caught.value.user_message) < 600


async def test_an_http_exception_shows_its_detail_once_without_its_class_name(api: FakeApi):
    Forge(api)
    p = await provider(api)
    # past prepare, which would refuse the sampler: the web UI's own answer to it
    request = GenerationRequest("x", sampler="Nope", width=64, height=64)
    with pytest.raises(ProviderError) as caught:
        await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    assert caught.value.user_message == "The forge provider answered 404: Sampler not found."


async def test_field_errors_of_a_422_are_shown_with_their_fields(api: FakeApi):
    Forge(api)

    async def invalid(request: web.Request, body) -> web.Response:
        # FastAPI's answer to a body that does not validate
        errors = [
            {"loc": ["body", "steps"], "msg": "value is not a valid integer", "type": "t"},
            {"loc": ["body", "width"], "msg": "field required", "type": "value_error.missing"},
        ]
        return json_answer({"detail": errors}, 422)

    api.route("POST", "/sdapi/v1/txt2img", invalid)
    p = await provider(api)
    with pytest.raises(ProviderRejected) as caught:
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    assert caught.value.user_message == (
        "The forge provider answered 422: steps: value is not a valid integer; "
        "width: field required."
    )
    assert caught.value.messages == (
        "steps: value is not a valid integer",
        "width: field required",
    )


async def test_an_empty_caption_is_a_refusal_naming_the_provider(api: FakeApi):
    Forge(api)
    api.route("POST", "/sdapi/v1/interrogate", lambda r, b: _json({"caption": ""}))
    p = await provider(api)
    with pytest.raises(ProviderRejected) as caught:
        await p.describe(Image.new("RGB", (8, 8)))
    await p.close()
    assert caught.value.user_message == "The forge provider could not describe the image."


async def _json(data: object) -> web.Response:
    return json_answer(data)


def levels(mask: Image.Image) -> set[int]:
    return {value for _, value in mask.convert("L").getcolors() or []}


def left_half_mask(size: tuple[int, int], mode: str = "L") -> bytes:
    """White (paint) on the left half, black (keep) on the right."""
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 0, size[0] // 2, size[1]))
    return png_of(mask.convert(mode))


async def test_inpaint_paints_only_where_the_mask_is_white(api: FakeApi):
    forge = Forge(api)
    p = await provider(api)
    request = p.prepare(
        GenerationRequest(
            "a red door",
            seed=7,
            mode=Mode.INPAINT,
            init_image=png((0, 0, 250), (64, 96)),
            mask_image=left_half_mask((64, 96)),
        )
    )
    assert request.size == (64, 96)  # the image's own size where the request leaves it out
    result = await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    body = api.calls("/sdapi/v1/img2img")[0].body
    assert {name: body[name] for name in INPAINT_FIELDS if name != "mask"} == {
        "inpainting_fill": 1,  # original: the region is repainted from what is there
        "inpaint_full_res": True,
        "inpaint_full_res_padding": 32,
        "mask_blur": 4,
        "inpainting_mask_invert": 0,
        "denoising_strength": 0.75,
    }
    image = result.images[0].image
    assert image.getpixel((5, 20)) == (7, 0, 0)  # painted
    assert image.getpixel((60, 20)) == (0, 0, 250)  # kept
    assert levels(forge.masks[0]) == {0, 255}


async def test_outpaint_fills_the_padding_with_noise_seeing_the_whole_picture(api: FakeApi):
    Forge(api)
    p = await provider(api, mask_blur=8)
    request = p.prepare(
        GenerationRequest(
            "a wider beach",
            seed=3,
            count=2,
            mode=Mode.OUTPAINT,
            init_image=png((0, 90, 0), (96, 64)),
            mask_image=left_half_mask((96, 64)),
            width=96,
            height=64,
        )
    )
    result = await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    body = api.calls("/sdapi/v1/img2img")[0].body
    assert (body["inpainting_fill"], body["inpaint_full_res"]) == (2, False)
    assert (body["denoising_strength"], body["mask_blur"]) == (1.0, 8)
    assert [i.image.getpixel((0, 0)) for i in result.images] == [(3, 0, 0), (4, 0, 0)]
    assert [i.seed for i in result.images] == [3, 4]


async def test_a_masks_grey_levels_and_the_images_metadata_are_not_sent(api: FakeApi):
    forge = Forge(api)
    p = await provider(api)
    source = Image.new("RGB", (64, 64), (1, 2, 3))
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "51.5N 0.1W")
    with_text = io.BytesIO()
    source.save(with_text, "PNG", pnginfo=info)
    soft = Image.linear_gradient("L").resize((64, 64))  # black at the top to white below
    request = p.prepare(
        GenerationRequest(
            "x",
            seed=1,
            mode=Mode.INPAINT,
            strength=0.5,
            init_image=with_text.getvalue(),
            mask_image=png_of(soft.convert("RGB")),
        )
    )
    await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    body = api.calls("/sdapi/v1/img2img")[0].body
    assert body["denoising_strength"] == 0.5
    sent = decode_b64(body["init_images"][0])
    assert "Location" not in sent.info and sent.getpixel((0, 0)) == (1, 2, 3)
    mask = forge.masks[0]
    assert mask.mode == "L" and levels(mask) == {0, 255}
    assert mask.getpixel((0, 0)) == 0 and mask.getpixel((0, 63)) == 255


async def test_an_edit_by_instruction_is_refused_up_front(api: FakeApi):
    Forge(api)
    p = await provider(api)
    info = p.model_info(p.default_model)
    assert (info.edit, info.inpaint, info.outpaint) == (False, True, True)
    with pytest.raises(InvalidRequest) as caught:
        p.prepare(GenerationRequest("make it night", mode=Mode.EDIT, init_image=png()))
    await p.close()
    assert caught.value.field == "mode" and "edit an image by instruction" in caught.value.allowed
    assert not api.calls("/sdapi/v1/img2img")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mask_image": None}, "mask"),
        ({"mask_image": left_half_mask((32, 32))}, "mask"),
        ({"mask_image": b"not a png"}, "mask"),
        ({"init_image": None}, "image"),
        ({"extra_images": (png(),)}, "images"),
    ],
)
async def test_a_masked_request_without_a_fitting_mask_is_refused_before_sending(
    api: FakeApi, changes, field
):
    Forge(api)
    p = await provider(api)
    request = GenerationRequest(
        "x",
        mode=Mode.INPAINT,
        init_image=png(size=(64, 64)),
        mask_image=left_half_mask((64, 64)),
        width=64,
        height=64,
    ).replace(**changes)
    with pytest.raises(InvalidRequest) as caught:
        p.prepare(request)
    await p.close()
    assert caught.value.field == field


async def test_the_fake_web_ui_refuses_a_mask_of_another_size(api: FakeApi):
    Forge(api)
    p = await provider(api)
    request = GenerationRequest(
        "x",
        seed=1,
        mode=Mode.INPAINT,
        init_image=png(size=(64, 64)),
        mask_image=left_half_mask((32, 32)),
        width=64,
        height=64,
    )  # past prepare, which refuses it: what the web UI would answer
    with pytest.raises(ProviderRejected, match="mask size differs"):
        await p.generate(request, lambda _: None, CancelToken())
    await p.close()


async def test_an_unknown_masked_content_setting_stops_start_up(api: FakeApi):
    with pytest.raises(ProviderConfigError, match="inpainting_fill"):
        await provider(api, inpainting_fill=5)


async def test_a_tile_asks_the_web_ui_for_its_tiling(api: FakeApi):
    Forge(api)
    p = await provider(api)
    assert p.model_info(p.default_model).tile
    plain = p.prepare(GenerationRequest("moss", seed=1, width=64, height=64))
    await p.generate(plain, lambda _: None, CancelToken())
    await p.generate(plain.replace(tile=True), lambda _: None, CancelToken())
    await p.close()
    first, second = (call.body for call in api.calls("/sdapi/v1/txt2img"))
    assert "tiling" not in first and second["tiling"] is True


async def test_chaos_draws_each_image_at_its_own_cfg_scale(api: FakeApi):
    Forge(api)
    p = await provider(api)
    asked = p.prepare(GenerationRequest("moss", seed=5, count=2, width=64, height=64, chaos=50))
    result = await p.generate(asked, lambda _: None, CancelToken())
    await p.close()
    bodies = [call.body for call in api.calls("/sdapi/v1/txt2img")]
    assert [(b["seed"], b["batch_size"]) for b in bodies] == [(5, 1), (6, 1)]
    assert [b["cfg_scale"] for b in bodies] == result.info["guidance"]
    assert [b["cfg_scale"] for b in bodies] == [guidance_of(7.0, 50, 5), guidance_of(7.0, 50, 6)]
    assert [image.seed for image in result.images] == [5, 6]
