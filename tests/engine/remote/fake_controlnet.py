"""A fake sd-webui-controlnet extension on the fake web UI: its documented routes
(``/controlnet/version``, ``model_list``, ``module_list``, ``settings``) and its
``alwayson_scripts.controlnet.args`` units, checked as the extension's ``ControlNetUnit``
model checks them, with each unit's detected map sent after the generated images."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from aiohttp import web
from PIL import Image, ImageOps

from tests.engine.remote.test_a1111 import AUTH, Forge, png_of
from tests.fakes.http_api import FakeApi, json_answer

SD15_MODELS = [
    "control_v11p_sd15_openpose [cab727d4]",
    "control_v11f1p_sd15_depth [cfd03158]",
    "control_v11p_sd15_canny [d14c016b]",
    "control_v11p_sd15s2_lineart_anime [3825e83e]",
    "control_v11p_sd15_lineart [43d4be0d]",
    "ip-adapter_sd15 [6a3f6166]",
    "ip-adapter-plus_sd15 [836b5c2e]",
]
SDXL_MODELS = ["diffusers_xl_canny_mid [112a778d]", "ip-adapter_xl [4209e9f7]"]
MODULES = [
    "none",
    "canny",
    "depth_anything",
    "depth_midas",
    "openpose",
    "openpose_full",
    "lineart_realistic",
    "lineart_anime",
    "ip-adapter_clip_sd15",
    "ip-adapter_clip_sdxl",
    "ip-adapter_clip_sdxl_plus_vith",
]
RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")


def unit_error(message: str) -> web.Response:
    """How the web UI answers a unit its pydantic model refuses."""
    return json_answer(
        {"error": "ValidationError", "detail": "", "body": "", "errors": message}, 500
    )


class ControlNetExtension:
    """The extension on ``web_ui`` (``forge``: Forge's built-in one, which answers only the
    lists): ``units`` holds each generation's units as received; ``no_detectmap`` is the
    server's "do not append detectmap to output" setting."""

    def __init__(
        self,
        api: FakeApi,
        web_ui: Forge,
        models: list[str] | None = None,
        modules: list[str] | None = None,
        unit_count: int = 3,
        forge: bool = False,
    ) -> None:
        self.models = SD15_MODELS + SDXL_MODELS if models is None else models
        self.modules = MODULES if modules is None else modules
        self.unit_count = unit_count
        self.no_detectmap = False
        self.units: list[list[dict[str, Any]]] = []
        routes: list[tuple[str, Any]] = [
            ("/controlnet/model_list", {"model_list": self.models}),
            ("/controlnet/module_list", {"module_list": self.modules}),
        ]
        if not forge:  # Forge's built-in ControlNet has neither of these
            routes += [
                ("/controlnet/version", {"version": 3}),
                ("/controlnet/settings", {"control_net_unit_count": unit_count}),
            ]
        for path, data in routes:
            api.route("GET", path, self._static(data))
        web_ui.extension = self.process

    def _static(self, data: Any):
        async def handler(request: web.Request, body: Any) -> web.Response:
            if request.headers.get("Authorization") != AUTH:
                return json_answer({"detail": "Not authenticated"}, 401)
            return json_answer(data)

        return handler

    def process(self, body: Any) -> list[str] | web.Response:
        args = (body.get("alwayson_scripts") or {}).get("controlnet", {}).get("args")
        if args is None:
            return []
        if not isinstance(args, list) or len(args) > self.unit_count:
            return unit_error(f"at most {self.unit_count} units")
        maps = []
        for unit in args:
            if not isinstance(unit, dict):
                return unit_error("a unit is an object")
            refused = self._refusal(unit)
            if refused:
                return unit_error(refused)
            if unit["save_detected_map"] and not self.no_detectmap:
                maps.append(self._detected_map(unit, (body["width"], body["height"])))
        self.units.append(args)
        return maps

    def _refusal(self, unit: dict[str, Any]) -> str | None:
        if unit.get("enabled") is not True:
            return "a disabled unit does nothing"  # the extension's default is False
        if unit.get("module") not in self.modules:
            return f"module({unit.get('module')}) not found in supported modules."
        if unit.get("model") not in self.models:
            return f"model({unit.get('model')}) not found in supported models."
        for name, low, high in (
            ("weight", 0.0, 2.0),
            ("guidance_start", 0.0, 1.0),
            ("guidance_end", 0.0, 1.0),
        ):
            value = unit.get(name)
            if not isinstance(value, int | float) or not low <= value <= high:
                return f"{name} must be within {low} and {high}"
        if unit["guidance_start"] > unit["guidance_end"]:
            return "guidance_start > guidance_end"
        if unit.get("resize_mode") not in RESIZE_MODES:
            return f"{unit.get('resize_mode')!r} is not a valid ResizeMode"
        for name in ("pixel_perfect", "save_detected_map"):
            if not isinstance(unit.get(name), bool):
                return f"{name} must be a boolean"
        try:
            decode(unit.get("image"))
        except (ValueError, OSError):
            return "Unrecognized image format"
        return None

    def _detected_map(self, unit: dict[str, Any], size: tuple[int, int]) -> str:
        """The map at the generation's size: the control image inverted, so a test tells it
        from the image it came from; a "none" module sends the image as it is."""
        image = decode(unit["image"]).convert("RGB").resize(size)
        if unit["module"].lower() != "none":
            image = ImageOps.invert(image)
        return base64.b64encode(png_of(image)).decode("ascii")


def decode(text: Any) -> Image.Image:
    if not isinstance(text, str):
        raise ValueError("no image")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as err:
        raise ValueError("not base64") from err
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()
