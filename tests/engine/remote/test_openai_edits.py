"""/v1/images/edits of an OpenAI-compatible server: edit, inpaint and outpaint, end to end
against a fake server on loopback that reads the multipart form as OpenAI documents it."""

from __future__ import annotations

import base64
import io
import re

import pytest
from aiohttp import web
from PIL import Image

from engine import (
    CancelToken,
    ContentRefused,
    GenerationRequest,
    InvalidRequest,
    Mode,
    ProviderError,
)
from engine.registry import ProviderConfig, build_provider
from engine.remote.download import RefusedUrl
from engine.remote.openai_compatible import OpenAICompatibleProvider
from tests.fakes.http_api import LOOPBACK_IMAGES, FakeApi, json_answer, png

KEY = "sk-edits-321"
BLUE = (0, 0, 250)


def form_parts(request: web.Request, raw: bytes) -> list[tuple[str, str | None, bytes]]:
    """A multipart/form-data body as (field, file name, bytes), in order."""
    boundary = request.content_type == "multipart/form-data" and re.search(
        r'boundary="?([^";]+)"?', request.headers["Content-Type"]
    )
    if not boundary:
        return []
    parts = []
    for chunk in raw.split(b"--" + boundary[1].encode())[1:-1]:
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.decode()
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        assert name is not None
        parts.append((name[1], filename[1] if filename else None, data.removesuffix(b"\r\n")))
    return parts


def text_fields(form: dict[str, list[tuple[str | None, bytes]]]) -> dict[str, str]:
    return {name: values[0][1].decode() for name, values in form.items() if not values[0][0]}


def opened(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG"
        return image.copy()


def openai_error(message: str, code: str | None = None) -> web.Response:
    error = {"message": message, "type": "invalid_request_error", "code": code}
    return json_answer({"error": error}, 400)


class EditServer:
    """``/v1/images/edits`` as OpenAI's reference defines it: ``image`` (or several
    ``image[]``), an optional ``mask`` PNG of the first image's size whose fully transparent
    pixels are edited, prompt, n, size, model, response_format. Each answer is the first
    image at ``size``, its masked pixels (all of them without a mask) in (k, 0, 200)."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.forms: list[dict[str, list[tuple[str | None, bytes]]]] = []
        api.route("POST", "/v1/images/edits", self.edits)
        api.route("GET", "/files/0.png", self.file)

    async def edits(self, request: web.Request, raw) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return json_answer({"error": {"message": "Incorrect API key"}}, 401)
        form: dict[str, list[tuple[str | None, bytes]]] = {}
        for name, filename, data in form_parts(request, raw):
            form.setdefault(name, []).append((filename, data))
        self.forms.append(form)
        text = text_fields(form)
        images = form.get("image", []) + form.get("image[]", [])
        if not images or "prompt" not in text:
            return openai_error("image and prompt are required")
        if "forbidden" in text["prompt"]:
            return openai_error("Your request was rejected.", "moderation_blocked")
        first = opened(images[0][1])
        if first.mode not in ("RGBA", "LA", "L"):
            return openai_error(f"Invalid input image - format must be RGBA, got {first.mode}.")
        edit = Image.new("L", first.size, 255)
        if "mask" in form:
            mask = opened(form["mask"][0][1])
            if mask.mode not in ("RGBA", "LA"):
                return openai_error("Invalid mask image format - the mask needs an alpha channel")
            if mask.size != first.size:
                return openai_error("Invalid mask image format - mask size does not match image")
            edit = mask.getchannel("A").point(lambda alpha: 255 if alpha == 0 else 0)
        width, _, height = text["size"].partition("x")
        size = (int(width), int(height))
        items = []
        for k in range(int(text["n"])):
            out = first.convert("RGB")
            out.paste((k, 0, 200), mask=edit)
            buffer = io.BytesIO()
            out.resize(size).save(buffer, "PNG")
            if text.get("response_format") == "url":
                items.append({"url": f"{self.api.base}/files/{k}.png"})
            else:
                items.append({"b64_json": base64.b64encode(buffer.getvalue()).decode()})
        return json_answer({"created": 1, "data": items})

    async def file(self, request: web.Request, body) -> web.Response:
        return web.Response(body=png((200, 0, 0)), content_type="image/png")


def provider(api: FakeApi, **options) -> OpenAICompatibleProvider:
    built = build_provider(
        "openai",
        ProviderConfig("oai", {"base_url": api.base, "models": ["gpt-image-1"], **options}, KEY),
    )
    assert isinstance(built, OpenAICompatibleProvider)
    return built


def left_half_mask(size: tuple[int, int]) -> bytes:
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


async def run(p: OpenAICompatibleProvider, request: GenerationRequest):
    return await p.generate(p.prepare(request), lambda _: None, CancelToken())


def test_edits_are_off_unless_the_owner_says_the_server_has_them(api: FakeApi):
    p = provider(api)
    info = p.model_info("gpt-image-1")
    assert (info.edit, info.inpaint, info.outpaint) == (False, False, False)
    for mode in (Mode.EDIT, Mode.INPAINT, Mode.OUTPAINT):
        with pytest.raises(InvalidRequest) as caught:
            p.prepare(GenerationRequest("x", mode=mode, init_image=b"not even an image"))
        assert caught.value.field == "mode"
    on = provider(api, edits=True, max_input_images=3)
    info = on.model_info("gpt-image-1")
    assert (info.edit, info.inpaint, info.outpaint, info.max_input_images) == (True, True, True, 3)
    assert not info.img2img  # a plain img2img is not what an edits endpoint does


async def test_an_inpaint_sends_a_mask_transparent_where_ours_is_white(api: FakeApi):
    server = EditServer(api)
    p = provider(api, edits=True)
    result = await run(
        p,
        GenerationRequest(
            "a red door",
            count=2,
            mode=Mode.INPAINT,
            init_image=png(BLUE, (256, 128)),
            mask_image=left_half_mask((256, 128)),
        ),
    )
    await p.close()
    form = server.forms[0]
    assert [filename for filename, _ in form["image"]] == ["image-0.png"]
    assert text_fields(form) == {
        "model": "gpt-image-1",
        "prompt": "a red door",
        "n": "2",
        "size": "256x128",  # the image's own where the request leaves it out
        "response_format": "b64_json",
    }
    mask = opened(form["mask"][0][1])
    assert mask.getpixel((10, 10))[3] == 0 and mask.getpixel((250, 10))[3] == 255
    images = [generated.image for generated in result.images]
    assert [image.getpixel((10, 10)) for image in images] == [(0, 0, 200), (1, 0, 200)]
    assert [image.getpixel((250, 10)) for image in images] == [BLUE, BLUE]


async def test_an_outpaint_is_a_masked_edit_of_the_padded_canvas(api: FakeApi):
    server = EditServer(api)
    p = provider(api, edits=True, sizes=["1024x1024", "1536x1024"])
    result = await run(
        p,
        GenerationRequest(
            "more beach",
            mode=Mode.OUTPAINT,
            init_image=png(BLUE, (300, 200)),
            mask_image=left_half_mask((300, 200)),
        ),
    )
    await p.close()
    assert server.forms[0]["size"][0][1] == b"1536x1024"  # the allowed size nearest its shape
    assert result.images[0].image.size == (1536, 1024)


def test_the_size_of_an_edit_or_a_canvas_fits_what_the_server_takes(api: FakeApi):
    square = provider(api, edits=True, sizes=["1024x1024", "512x512", "1536x1024"])
    free = provider(api, edits=True)
    mask = left_half_mask((120, 90))

    def size(p: OpenAICompatibleProvider, **options) -> tuple[int, int]:
        request = GenerationRequest("x", init_image=png(size=(120, 90)), **options)
        return p.prepare(request).size

    # the bot's size for a canvas or an edit, snapped to the allowed size nearest its shape
    assert size(square, mode=Mode.OUTPAINT, mask_image=mask, width=1184, height=888) == (
        1536,
        1024,
    )
    assert size(square, mode=Mode.EDIT, width=520, height=512) == (512, 512)
    assert size(free, mode=Mode.EDIT, width=1184, height=888) == (1184, 888)
    assert size(free, mode=Mode.INPAINT, mask_image=mask) == (120, 88)
    with pytest.raises(InvalidRequest) as caught:  # a txt2img size is the member's: refused
        square.prepare(GenerationRequest("x", width=520, height=512))
    assert caught.value.field == "size"
    with pytest.raises(InvalidRequest) as caught:
        free.prepare(GenerationRequest("x", mode=Mode.EDIT, init_image=png(), strength=0.5))
    assert caught.value.field == "strength"


async def test_an_edit_sends_several_images_as_an_image_array_without_a_mask(api: FakeApi):
    server = EditServer(api)
    p = provider(api, edits=True, max_input_images=3, quality="high", style="vivid")
    await run(
        p,
        GenerationRequest(
            "put this logo on the mug",
            mode=Mode.EDIT,
            init_image=png(BLUE, (64, 64)),
            extra_images=(png((1, 1, 1), (80, 64)), png((2, 2, 2), (64, 80))),
        ),
    )
    await p.close()
    form = server.forms[0]
    assert "image" not in form and "mask" not in form
    sent = [opened(data) for _, data in form["image[]"]]
    assert [image.size for image in sent] == [(64, 64), (80, 64), (64, 80)]
    assert all(image.mode == "RGBA" for image in sent)
    assert form["quality"][0][1] == b"high" and "style" not in form  # edits take no style


async def test_more_images_than_the_server_takes_are_refused_up_front(api: FakeApi):
    EditServer(api)
    p = provider(api, edits=True)
    request = GenerationRequest(
        "x", mode=Mode.EDIT, init_image=png(), extra_images=(png(),), width=64, height=64
    )
    with pytest.raises(InvalidRequest) as caught:
        p.prepare(request)
    assert caught.value.field == "images"
    with pytest.raises(InvalidRequest) as caught:
        p.prepare(request.replace(mode=Mode.INPAINT, mask_image=left_half_mask((64, 32))))
    await p.close()
    assert caught.value.field == "mask"
    assert not api.calls("/v1/images/edits")


async def test_edited_images_are_as_hostile_as_generated_ones(api: FakeApi):
    EditServer(api)
    request = GenerationRequest("x", mode=Mode.EDIT, init_image=png(), width=64, height=64)
    by_url = provider(api, edits=True, response_format="url")
    with pytest.raises(RefusedUrl):  # a loopback image host the owner did not allow
        await run(by_url, request)
    await by_url.close()
    allowed = provider(api, edits=True, response_format="url", **LOOPBACK_IMAGES)
    result = await run(allowed, request)
    await allowed.close()
    assert result.images[0].image.getpixel((0, 0)) == (200, 0, 0)
    assert "Authorization" not in api.calls("/files/0.png")[-1].headers

    async def broken(request: web.Request, raw) -> web.Response:
        return json_answer({"data": [{"b64_json": "bm90IGFuIGltYWdl"}]})

    api.route("POST", "/v1/images/edits", broken)
    p = provider(api, edits=True)
    with pytest.raises(ProviderError, match="not an image"):
        await run(p, request)
    await p.close()


async def test_a_response_format_left_out_is_not_sent(api: FakeApi):
    server = EditServer(api)
    p = provider(api, edits=True, response_format="")  # gpt-image models refuse the field
    result = await run(p, GenerationRequest("x", mode=Mode.EDIT, init_image=png()))
    await p.close()
    assert "response_format" not in server.forms[0]
    assert result.images[0].image.getpixel((0, 0)) == (0, 0, 200)


async def test_a_moderation_refusal_of_an_edit_is_a_content_refusal(api: FakeApi):
    EditServer(api)
    p = provider(api, edits=True)
    with pytest.raises(ContentRefused, match="rejected"):
        await run(p, GenerationRequest("something forbidden", mode=Mode.EDIT, init_image=png()))
    await p.close()
