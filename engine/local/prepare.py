"""Requests checked against the local model's family before anything is queued: its defaults
filled in, what it cannot honour refused with the field named; and which requests may share a
pipeline call."""

from __future__ import annotations

import difflib
import json
import math
from functools import partial

from engine.errors import InvalidRequest
from engine.local.canvas_modes import canvas_strength, check_mode
from engine.local.catalog import LocalCatalog
from engine.local.control.run import check_control
from engine.local.inputs import check_inputs, draw_size
from engine.local.lora_families import lora_kind
from engine.local.references import check_references
from engine.local.runner import UPSCALER_STEPS
from engine.local.samplers import MIN_STEPS
from engine.types import CANVAS_WORDS, GenerationRequest, Mode


class LocalRequests(LocalCatalog):
    """The part of ``LocalProvider`` that prepares requests and keys them into batches."""

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Fill the model's defaults (its settings, else its family's); refuse options its
        family cannot honour, and sizes, samplers and LoRAs it cannot take."""
        name = request.model or self.default_model
        spec = self.options.models.get(name)
        if spec is None:
            raise InvalidRequest("model", name, "one of " + ", ".join(self.options.models))
        paths = [self.loras.path(lora.name) for lora in request.loras]
        family = self.family(name)
        if request.sampler is not None and request.sampler not in family.samplers:
            close = difflib.get_close_matches(request.sampler, list(family.samplers), 3, 0.4)
            if close:
                raise InvalidRequest(
                    "sampler",
                    request.sampler,
                    f"did you mean {', '.join(close)}? {name} ({family.label}) takes "
                    + ", ".join(family.samplers),
                )
        check_mode(request, name, family, self.able)
        check_inputs(request)
        check_control(
            request,
            name,
            family,
            self._controls(family),
            self.able_to_follow,
            partial(self.controlnets.fixed, family),
        )
        family.check(request, name, explicit_guidance=request.guidance is not None)
        if request.tile and not family.unet:
            raise InvalidRequest(
                "tile",
                None,
                f"{name} ({family.label}) can't draw seamless tiles; SD 1.x, SD 2.x and SDXL "
                "models can",
            )
        check_references(
            request,
            name,
            family,
            self.options.adapters,
            self.able_references,
            self._compiled(name, family),
        )
        for lora, path in zip(request.loras, paths, strict=True):
            kind = lora_kind(path)
            if not kind.fits(family.lora_shape):
                raise InvalidRequest(
                    "loras",
                    lora.name,
                    f"it was made for {kind.label}; model {name} is {family.label}",
                )
        upscales = request.mode is Mode.UPSCALE and self.options.upscaler is None
        if upscales and family.image2img is None:
            raise InvalidRequest(
                "mode",
                request.mode.value,
                f"{name} ({family.label}) can't redraw an image larger; pick another model",
            )
        upscale = None if self.options.upscaler else self.options.upscale_factor
        width, height = draw_size(request, spec, family, upscale)
        steps = request.steps or spec.steps or family.steps
        strength = request.strength
        if request.mode is Mode.UPSCALE and self.options.upscaler is not None:
            steps, strength = request.steps or UPSCALER_STEPS, None
        elif request.mode is Mode.UPSCALE:
            strength = self.options.upscale_strength
        elif request.mode in CANVAS_WORDS:
            strength = canvas_strength(request, family)
        if request.mode is not Mode.TXT2IMG and strength is not None:
            steps = max(steps, math.ceil(1 / strength))  # at least one denoising step
        sampler = request.sampler or spec.sampler
        if sampler is not None and sampler not in family.samplers:
            raise InvalidRequest("sampler", sampler, "one of " + ", ".join(family.samplers))
        if steps < family.min_steps:
            raise InvalidRequest("steps", steps, f"at least {family.min_steps} on {name}")
        if sampler in MIN_STEPS and steps < MIN_STEPS[sampler]:
            raise InvalidRequest("steps", steps, f"at least {MIN_STEPS[sampler]} with {sampler}")
        guidance = None
        if family.takes_guidance:
            default = spec.guidance if spec.guidance is not None else family.guidance
            guidance = default if request.guidance is None else request.guidance
        resolved = request.replace(
            model=name,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            sampler=sampler,
            strength=strength,
        )
        for field, value in (("width", width), ("height", height)):
            if request.mode is not Mode.UPSCALE and value % family.size_multiple:
                raise InvalidRequest(
                    field, value, f"a multiple of {family.size_multiple} for model {name}"
                )
        self.capabilities.check(resolved)
        max_size = spec.max_size or family.max_size
        for field, value in (("width", width), ("height", height)):
            if value > max_size:
                raise InvalidRequest(field, value, f"at most {max_size} for model {name}")
        return resolved

    def batch_key(self, request: GenerationRequest) -> str:
        if request.mode is not Mode.TXT2IMG or request.control is not None or request.references:
            return ""
        if request.chaos:  # its images run one by one, each at its own guidance
            return ""
        if request.model and self.options.models[request.model].cache != "none":
            # the cache skips blocks by how the whole batch changes: a job's image would
            # depend on the jobs beside it
            return ""
        loras = [[lora.name, lora.weight] for lora in request.loras]
        return json.dumps(
            [
                request.model,
                request.size,
                request.steps,
                request.guidance,
                request.sampler,
                loras,
                request.tile,
            ]
        )
