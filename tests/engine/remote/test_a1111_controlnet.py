"""Control maps and references on A1111/Forge through the ControlNet extension, end to end on
loopback: detected at start, sent as ``alwayson_scripts`` units, the detected map returned
apart from the images, and refusals naming what the server can do."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image, ImageOps

from engine import CancelToken, GenerationRequest, InvalidRequest, Mode
from engine.errors import ProviderConfigError
from engine.remote.a1111_controlnet import split_images
from engine.types import Control, ControlKind, Reference, ReferenceKind
from tests.engine.remote.fake_controlnet import SD15_MODELS, ControlNetExtension, decode
from tests.engine.remote.test_a1111 import Forge, provider
from tests.fakes.http_api import FakeApi, json_answer

SDXL = "sd_xl_base_1.0.safetensors"
ALL_CONTROLS = frozenset(ControlKind)
BOTH = frozenset(ReferenceKind)


def photo(colour: tuple[int, int, int] = (30, 60, 90), size: tuple[int, int] = (48, 40)) -> bytes:
    """A JPEG with EXIF, as a member's phone sends it."""
    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


def posed(kind: ControlKind = ControlKind.POSE, **fields) -> GenerationRequest:
    return GenerationRequest(
        "a dancer",
        seed=10,
        width=64,
        height=64,
        control=Control(kind, **fields),
        control_image=photo(),
    )


def referenced(*references: Reference, model: str | None = None) -> GenerationRequest:
    return GenerationRequest(
        "a castle",
        seed=5,
        width=64,
        height=64,
        model=model,
        references=references,
        reference_images=tuple(photo((40 * k, 0, 0)) for k in range(len(references))),
    )


def png_image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()
        return image.copy()


async def test_detected_at_start_each_model_says_what_it_follows(api: FakeApi):
    ControlNetExtension(api, Forge(api))
    p = await provider(api, models=["dreamshaper_8.safetensors", SDXL])
    assert p.controlnet is not None and p.controlnet.version == 3 and p.controlnet.units == 3
    sd15 = p.model_info("dreamshaper_8.safetensors")
    assert sd15.controls == ALL_CONTROLS
    assert sd15.references == BOTH and sd15.max_references == 3
    # the SDXL checkpoint has only an SDXL canny ControlNet; a ready map goes to pose's model
    xl = p.model_info(SDXL)
    assert xl.controls == {ControlKind.CANNY}
    assert xl.references == BOTH
    assert [c.query for c in api.calls("/controlnet/model_list")] == [{"update": "true"}]
    await p.close()


async def test_without_the_extension_control_and_references_are_refused_by_name(api: FakeApi):
    Forge(api)
    p = await provider(api)
    assert p.unavailable is None and p.controlnet is None
    info = p.model_info("dreamshaper_8.safetensors")
    assert info.controls == frozenset() and info.references == frozenset()
    with pytest.raises(InvalidRequest, match="no ControlNet extension") as refused:
        p.prepare(posed())
    assert refused.value.field == "control"
    with pytest.raises(InvalidRequest, match="no ControlNet extension"):
        p.prepare(referenced(Reference()))
    await p.close()


async def test_detection_can_be_turned_off(api: FakeApi):
    ControlNetExtension(api, Forge(api))
    p = await provider(api, controlnet=False)
    assert p.controlnet is None and not api.calls("/controlnet/version")
    await p.close()


async def test_a_server_answering_the_routes_unreadably_runs_without_control(api: FakeApi):
    forge = Forge(api)
    ControlNetExtension(api, forge)

    async def garbled(request, body):
        return json_answer({"version": "three"})

    api.route("GET", "/controlnet/version", garbled)
    p = await provider(api)
    assert p.unavailable is None and p.controlnet is None
    await p.close()


async def test_a_control_job_sends_one_unit_and_returns_its_map_apart(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    forge.return_grid = True  # a grid first and the map last: neither is a result image
    p = await provider(api)
    request = p.prepare(posed(strength=0.8, start=0.1, end=0.9).replace(count=2))
    result = await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    (unit,) = extension.units[0]
    assert unit["module"] == "openpose_full"
    assert unit["model"] == "control_v11p_sd15_openpose [cab727d4]"
    assert (unit["weight"], unit["guidance_start"], unit["guidance_end"]) == (0.8, 0.1, 0.9)
    assert unit["resize_mode"] == "Crop and Resize" and unit["pixel_perfect"] is True
    assert unit["save_detected_map"] is True and unit["enabled"] is True
    sent = png_image(base64.b64decode(unit["image"]))
    assert not sent.getexif() and not sent.info  # re-encoded, the EXIF left behind
    assert [image.image.getpixel((0, 0)) for image in result.images] == [(10, 0, 0), (11, 0, 0)]
    expected = ImageOps.invert(sent.convert("RGB").resize((64, 64)))
    assert png_image(result.info["control_map"]).tobytes() == expected.tobytes()
    assert api.calls("/sdapi/v1/txt2img")[0].body["batch_size"] == 2


async def test_control_on_img2img_goes_with_its_init_image(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    p = await provider(api)
    request = p.prepare(
        posed(ControlKind.DEPTH).replace(mode=Mode.IMG2IMG, init_image=photo(), strength=0.5)
    )
    result = await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    assert extension.units[0][0]["module"] == "depth_anything"
    assert extension.units[0][0]["model"] == "control_v11f1p_sd15_depth [cfd03158]"
    assert api.calls("/sdapi/v1/img2img")[0].body["init_images"]
    assert len(result.images) == 1 and "control_map" in result.info


async def test_lineart_takes_the_general_model_not_the_anime_one(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    p = await provider(api)
    await p.generate(p.prepare(posed(ControlKind.LINEART)), lambda _: None, CancelToken())
    await p.close()
    unit = extension.units[0][0]
    assert (unit["module"], unit["model"]) == (
        "lineart_realistic",
        "control_v11p_sd15_lineart [43d4be0d]",
    )


async def test_a_ready_map_goes_as_is_to_the_model_the_owner_names(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    p = await provider(api, controlnet_as_is="canny", controlnet_modules={"as_is": "canny"})
    result = await p.generate(p.prepare(posed(ControlKind.AS_IS)), lambda _: None, CancelToken())
    await p.close()
    unit = extension.units[0][0]
    assert (unit["module"], unit["model"]) == ("none", "control_v11p_sd15_canny [d14c016b]")
    same = decode(unit["image"]).convert("RGB").resize((64, 64))
    assert png_image(result.info["control_map"]).tobytes() == same.tobytes()


async def test_owner_settings_name_models_with_or_without_their_hash(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    p = await provider(
        api,
        controlnet_models={"pose": "control_v11p_sd15_canny", "depth": "missing_depth"},
        controlnet_modules={"pose": "openpose"},
        controlnet_resize_mode="Just Resize",
        controlnet_pixel_perfect=False,
    )
    info = p.model_info("dreamshaper_8.safetensors")
    assert ControlKind.DEPTH not in info.controls  # a named model the server lacks: not offered
    await p.generate(p.prepare(posed()), lambda _: None, CancelToken())
    with pytest.raises(InvalidRequest, match="this model follows") as refused:
        p.prepare(posed(ControlKind.DEPTH))
    assert "depth" not in refused.value.user_message.split("follows")[1]
    await p.close()
    unit = extension.units[0][0]
    assert (unit["module"], unit["model"]) == ("openpose", "control_v11p_sd15_canny [d14c016b]")
    assert unit["resize_mode"] == "Just Resize" and unit["pixel_perfect"] is False


def test_a_ready_map_must_name_a_kind_of_map():
    from engine.registry import ProviderConfig, build_provider

    with pytest.raises(ProviderConfigError, match="controlnet_as_is"):
        build_provider("a1111", ProviderConfig("forge", {"controlnet_as_is": "as_is"}, None))


async def test_a_server_set_not_to_append_maps_gives_the_images_alone(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    extension.no_detectmap = True
    forge.return_grid = True
    p = await provider(api)
    result = await p.generate(p.prepare(posed().replace(count=2)), lambda _: None, CancelToken())
    await p.close()
    assert [image.image.getpixel((0, 0)) for image in result.images] == [(10, 0, 0), (11, 0, 0)]
    assert "control_map" not in result.info


async def test_an_unreadable_map_is_dropped_and_the_images_kept(api: FakeApi):
    forge = Forge(api)
    ControlNetExtension(api, forge)
    forge.extension = lambda body: ["bm90IGFuIGltYWdl"]  # base64 of "not an image"
    p = await provider(api)
    result = await p.generate(p.prepare(posed()), lambda _: None, CancelToken())
    await p.close()
    assert len(result.images) == 1 and "control_map" not in result.info


async def test_references_are_ip_adapter_units_one_each_with_their_weights(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    p = await provider(api)
    request = p.prepare(
        referenced(Reference(ReferenceKind.STYLE, 0.5), Reference(ReferenceKind.SUBJECT, 1.5))
    )
    result = await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    style, subject = extension.units[0]
    assert (style["module"], style["model"], style["weight"]) == (
        "ip-adapter_clip_sd15",
        "ip-adapter_sd15 [6a3f6166]",
        0.5,
    )
    assert (subject["module"], subject["model"], subject["weight"]) == (
        "ip-adapter_clip_sd15",
        "ip-adapter-plus_sd15 [836b5c2e]",
        1.5,
    )
    assert not style["save_detected_map"] and not subject["save_detected_map"]
    assert decode(style["image"]).getpixel((0, 0)) != decode(subject["image"]).getpixel((0, 0))
    assert len(result.images) == 1 and "control_map" not in result.info


async def test_sdxl_references_use_its_own_encoder(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    p = await provider(api, models=[SDXL])
    await p.generate(
        p.prepare(referenced(Reference(ReferenceKind.SUBJECT), model=SDXL)),
        lambda _: None,
        CancelToken(),
    )
    await p.close()
    unit = extension.units[0][0]
    assert (unit["module"], unit["model"]) == ("ip-adapter_clip_sdxl", "ip-adapter_xl [4209e9f7]")


async def test_control_and_references_together_fit_the_servers_units(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    p = await provider(api)
    both = posed().replace(
        references=(Reference(), Reference()), reference_images=(photo(), photo())
    )
    result = await p.generate(p.prepare(both), lambda _: None, CancelToken())
    assert [u["module"] for u in extension.units[0]] == [
        "openpose_full",
        "ip-adapter_clip_sd15",
        "ip-adapter_clip_sd15",
    ]
    assert "control_map" in result.info  # the control's map, the references sending none
    three = both.replace(references=(Reference(),) * 3, reference_images=(photo(),) * 3)
    with pytest.raises(InvalidRequest, match="takes 3 ControlNet units"):
        p.prepare(three)
    await p.close()


async def test_refusals_name_what_the_server_can_do(api: FakeApi):
    forge = Forge(api)
    ControlNetExtension(api, forge, models=[m for m in SD15_MODELS if "ip-adapter" not in m])
    p = await provider(api, models=["dreamshaper_8.safetensors", SDXL])
    with pytest.raises(InvalidRequest, match="no IP-Adapter"):
        p.prepare(referenced(Reference()))
    assert p.model_info("dreamshaper_8.safetensors").references == frozenset()
    with pytest.raises(InvalidRequest, match="this model follows no control map"):
        p.prepare(posed().replace(model=SDXL))
    with pytest.raises(InvalidRequest, match="an upscale takes no control"):
        p.prepare(posed().replace(mode=Mode.UPSCALE, init_image=photo()))
    await p.close()
    assert not api.calls("/sdapi/v1/txt2img")


async def test_an_inpaint_follows_a_control_too(api: FakeApi):
    forge = Forge(api)
    extension = ControlNetExtension(api, forge)
    p = await provider(api)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    request = posed(ControlKind.CANNY).replace(
        mode=Mode.INPAINT, init_image=photo(size=(64, 64)), mask_image=buffer.getvalue()
    )
    result = await p.generate(p.prepare(request), lambda _: None, CancelToken())
    await p.close()
    assert extension.units[0][0]["module"] == "canny"
    assert api.calls("/sdapi/v1/img2img")[0].body["mask"]
    assert len(result.images) == 1 and "control_map" in result.info


async def test_a_control_image_that_is_no_image_is_refused_before_sending(api: FakeApi):
    forge = Forge(api)
    ControlNetExtension(api, forge)
    p = await provider(api)
    request = p.prepare(posed().replace(control_image=b"GIF89a not really"))
    with pytest.raises(InvalidRequest, match="not an image") as refused:
        await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    assert refused.value.field == "control image"
    assert not api.calls("/sdapi/v1/txt2img")


async def test_forges_built_in_controlnet_is_found_without_a_version_route(api: FakeApi):
    forge = Forge(api)
    models = ["None", "control_v11p_sd15_canny [d14c016b]", "ip-adapter-plus_sd15 [836b5c2e]"]
    extension = ControlNetExtension(
        api, forge, models=models, modules=["None", "canny", "CLIP-ViT-H (IPAdapter)"], forge=True
    )
    p = await provider(api)
    assert p.controlnet is not None and p.controlnet.version is None
    assert p.controlnet.units == 3  # Forge's default, with no settings route to ask
    info = p.model_info("dreamshaper_8.safetensors")
    assert info.controls == {ControlKind.CANNY} and info.references == BOTH
    await p.close()
    p = await provider(api, controlnet_as_is="canny")  # a ready map: Forge's "None" module
    assert p.model_info("dreamshaper_8.safetensors").controls == {
        ControlKind.CANNY,
        ControlKind.AS_IS,
    }
    await p.generate(p.prepare(posed(ControlKind.AS_IS)), lambda _: None, CancelToken())
    assert extension.units[0][0]["module"] == "None"
    await p.generate(
        p.prepare(referenced(Reference(ReferenceKind.STYLE))), lambda _: None, CancelToken()
    )
    await p.close()
    unit = extension.units[1][0]
    assert (unit["module"], unit["model"]) == (
        "CLIP-ViT-H (IPAdapter)",
        "ip-adapter-plus_sd15 [836b5c2e]",
    )


@pytest.mark.parametrize(
    ("images", "info", "maps", "kept", "extras"),
    [
        (["grid", "a", "b", "map"], '{"index_of_first_image": 1}', 1, ["a", "b"], ["map"]),
        (["a", "b", "map"], '{"index_of_first_image": 0}', 1, ["a", "b"], ["map"]),
        (["grid", "a", "b"], '{"index_of_first_image": 1}', 1, ["a", "b"], []),
        (["a", "b", "map"], "not json", 1, ["a", "b"], ["map"]),  # no info: maps come last
        (["a", "b"], "{'all_seeds': [1, 2]}", 1, ["a", "b"], []),
        (["grid", "a", "b"], None, 0, ["a", "b"], []),
        (["a", "b"], '{"index_of_first_image": 5}', 0, ["a", "b"], []),
    ],
)
def test_the_generated_images_are_told_from_grids_and_maps(images, info, maps, kept, extras):
    assert split_images(images, info, 2, maps) == (kept, extras)
