"""What a generation asks for and what it gives back, independent of any backend."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from engine.errors import InvalidRequest

MAX_SEED = 2**32 - 1
DEFAULT_SIZE = 512


def pixels(width: int, height: int) -> str:
    """A size as members read it: "2048×2048 pixels (4.2 MP)"."""
    return f"{width}×{height} pixels ({width * height / 1e6:.1f} MP)"


def file_size(size: int) -> str:
    """A byte count as members read it: "10 MiB", "9.5 KiB", "300 bytes"."""
    if size >= 2**20:
        return f"{size / 2**20:.3g} MiB"
    return f"{size / 2**10:.3g} KiB" if size >= 2**10 else f"{size} bytes"


class Mode(enum.StrEnum):
    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    UPSCALE = "upscale"
    DESCRIBE = "describe"  # a caption of ``init_image`` (``Provider.describe``), not images
    # Edit and canvas (docs/commands.md). EDIT changes ``init_image`` (and ``extra_images``) as
    # the prompt instructs; INPAINT repaints ``init_image`` where ``mask_image`` is white;
    # OUTPAINT is an inpaint whose ``init_image`` is a padded canvas and whose mask is the
    # padding (Zoom Out, Pan, Make Square), kept apart because providers fill it differently.
    EDIT = "edit"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"


IMAGE_MODES = frozenset({Mode.IMG2IMG, Mode.EDIT, Mode.INPAINT, Mode.OUTPAINT})
"""The generation modes that start from ``init_image``."""
MASK_MODES = frozenset({Mode.INPAINT, Mode.OUTPAINT})
"""The modes that need ``mask_image``: a greyscale image of ``init_image``'s size, white where
the model paints."""
MAX_INPUT_IMAGES = 4
"""``init_image`` plus ``extra_images`` at most (an edit from several images)."""


@dataclass(frozen=True, slots=True)
class LoraRef:
    name: str
    weight: float = 1.0


class ReferenceKind(enum.StrEnum):
    """How a reference image steers a generation (Midjourney's --sref and --oref)."""

    STYLE = "style"  # its look: palette, medium, texture
    SUBJECT = "subject"  # a character or object to keep


class ControlKind(enum.StrEnum):
    """What a control image is turned into before the model follows it."""

    POSE = "pose"  # a pose skeleton from a pose estimator
    DEPTH = "depth"  # a depth map from a depth model
    CANNY = "canny"  # edges
    LINEART = "lineart"  # line drawing
    AS_IS = "as_is"  # the member's image is already the map


MAX_REFERENCES = 3
"""Reference images one /imagine takes (``/blend`` takes up to ``MAX_BLEND``)."""
MAX_BLEND = 5
REFERENCE_WEIGHTS = (0.0, 2.0)
"""The range of a reference's weight, as Midjourney's --sw (100 = 1.0)."""


@dataclass(frozen=True, slots=True)
class Reference:
    """One reference of a request: its kind and weight; its image is
    ``GenerationRequest.reference_images`` at the same index."""

    kind: ReferenceKind = ReferenceKind.STYLE
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Control:
    """The structure a request follows: ``kind`` of map made from
    ``GenerationRequest.control_image``, followed at ``strength`` (0–2) from ``start`` to
    ``end`` of the denoising (fractions, 0 <= start < end <= 1)."""

    kind: ControlKind
    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0


@dataclass(frozen=True, slots=True)
class RunId:
    """Which job and which attempt of it a request runs as, set by the worker that runs it
    (never stored with the request). A backend with a queue of its own keys its work by it,
    so that a later attempt can find what an earlier one left there."""

    job_id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One job's worth of work. ``seed`` is resolved before queueing; image k uses seed + k."""

    prompt: str
    model: str | None = None
    mode: Mode = Mode.TXT2IMG
    negative_prompt: str = ""
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    sampler: str | None = None
    seed: int | None = None
    count: int = 1
    strength: float | None = None
    loras: tuple[LoraRef, ...] = ()
    nsfw_allowed: bool = False
    init_image: bytes | None = field(default=None, repr=False, compare=False)
    mask_image: bytes | None = field(default=None, repr=False, compare=False)
    extra_images: tuple[bytes, ...] = field(default=(), repr=False, compare=False)
    references: tuple[Reference, ...] = ()
    reference_images: tuple[bytes, ...] = field(default=(), repr=False, compare=False)
    control: Control | None = None
    control_image: bytes | None = field(default=None, repr=False, compare=False)
    tile: bool = False  # seamless: its edges wrap around (``ModelInfo.tile`` says who can)
    chaos: int = 0  # 0-100: how far the images of a batch spread (``engine.chaos``)
    run: RunId | None = field(default=None, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        if self.width is None or self.height is None:
            raise ValueError("the size is resolved before a request is queued")
        return self.width, self.height

    @property
    def seeds(self) -> list[int]:
        if self.seed is None:
            raise ValueError("the seed is resolved before a request is queued")
        return [(self.seed + k) % (MAX_SEED + 1) for k in range(self.count)]

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form without the input images (stored apart, as blobs)."""
        data = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in INPUT_FIELDS and f.name != "run"
        }
        data["mode"] = self.mode.value
        data["loras"] = [[lora.name, lora.weight] for lora in self.loras]
        data["references"] = [[ref.kind.value, ref.weight] for ref in self.references]
        data["control"] = (
            None
            if self.control is None
            else {
                "kind": self.control.kind.value,
                "strength": self.control.strength,
                "start": self.control.start,
                "end": self.control.end,
            }
        )
        return data

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        init_image: bytes | None = None,
        mask_image: bytes | None = None,
        extra_images: tuple[bytes, ...] = (),
        reference_images: tuple[bytes, ...] = (),
        control_image: bytes | None = None,
    ) -> GenerationRequest:
        known = {f.name for f in dataclasses.fields(cls)} - INPUT_FIELDS - {"run"}
        values = {key: value for key, value in data.items() if key in known}
        values["mode"] = Mode(values.get("mode", Mode.TXT2IMG))
        values["loras"] = tuple(LoraRef(name, float(weight)) for name, weight in data["loras"])
        values["references"] = tuple(
            Reference(ReferenceKind(kind), float(weight))
            for kind, weight in data.get("references") or ()
        )
        control = data.get("control")
        values["control"] = (
            None
            if control is None
            else Control(
                ControlKind(control["kind"]),
                float(control["strength"]),
                float(control["start"]),
                float(control["end"]),
            )
        )
        return cls(
            **values,
            init_image=init_image,
            mask_image=mask_image,
            extra_images=tuple(extra_images),
            reference_images=tuple(reference_images),
            control_image=control_image,
        )


CANVAS_WORDS = {
    Mode.EDIT: "edit an image by instruction",
    Mode.INPAINT: "repaint a region",
    Mode.OUTPAINT: "paint past an image's edges",
}
"""What each edit-and-canvas mode does, in the words a refusal uses."""

INPUT_FIELDS = frozenset(
    {"init_image", "mask_image", "extra_images", "reference_images", "control_image"}
)
"""The request's image fields: bytes, stored and sent apart from its JSON form."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What one model is and takes, for /models and autocomplete."""

    family: str | None = None
    negative_prompt: bool = True
    guidance: bool = True
    samplers: tuple[str, ...] = ()
    img2img: bool = True
    upscale: bool = True
    loras: bool = False
    licence: str | None = None
    size_multiple: int = 8  # what its width and height must be a multiple of
    edit: bool = False  # changes an image as an instruction says (Mode.EDIT)
    inpaint: bool = False  # repaints a masked region (Mode.INPAINT)
    outpaint: bool = False  # paints past the edges (Mode.OUTPAINT)
    max_input_images: int = 1  # images one edit takes (init_image plus extra_images)
    references: frozenset[ReferenceKind] = frozenset()  # the reference kinds it follows
    max_references: int = 0
    controls: frozenset[ControlKind] = frozenset()  # the control maps it follows
    tile: bool = False  # draws seamless tiles (``GenerationRequest.tile``)

    def takes(self, mode: Mode) -> bool:
        """Whether this model runs ``mode`` (txt2img and describe: always; the provider's
        ``Capabilities.modes`` says whether the provider does at all)."""
        return {
            Mode.IMG2IMG: self.img2img,
            Mode.UPSCALE: self.upscale,
            Mode.EDIT: self.edit,
            Mode.INPAINT: self.inpaint,
            Mode.OUTPAINT: self.outpaint,
        }.get(mode, True)

    def summary(self) -> str:
        """A short line: "FLUX.1 [schnell]; takes img2img; Apache-2.0"."""
        takes = [
            what
            for what, ok in (
                ("negative prompt", self.negative_prompt),
                ("guidance", self.guidance),
                ("samplers", bool(self.samplers)),
                ("LoRAs", self.loras),
                ("img2img", self.img2img),
                ("edits", self.edit),
                ("inpainting", self.inpaint),
                ("outpainting", self.outpaint),
                ("seamless tiles", self.tile),
                (_listed("references", ReferenceKind, self.references), bool(self.references)),
                (_listed("control", ControlKind, self.controls), bool(self.controls)),
            )
            if ok
        ]
        parts = [self.family] if self.family else []
        parts.append("takes " + ", ".join(takes) if takes else "prompt only")
        if self.licence:
            parts.append(self.licence)
        return "; ".join(parts)


def _listed(what: str, kinds: type[enum.StrEnum], have: frozenset[Any]) -> str:
    """ "control (pose, depth)": the kinds a model follows, in their enum's order."""
    return f"{what} ({', '.join(kind.value for kind in kinds if kind in have)})"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can honour. ``check`` refuses a request naming the first bad option."""

    modes: frozenset[Mode] = frozenset({Mode.TXT2IMG})
    models: tuple[str, ...] = ()
    negative_prompt: bool = True
    seed: bool = True
    guidance: bool = True
    samplers: tuple[str, ...] = ()
    loras: bool = False
    min_size: int = 64
    max_size: int = 2048
    size_multiple: int = 8
    max_steps: int = 150
    max_images: int = 4
    max_batch: int = 1
    nsfw: bool = False
    describe: bool = False
    segment: bool = False  # finds a region named in words (``Provider.segment``)
    tile: bool = False  # draws seamless tiles, with every model

    def __post_init__(self) -> None:
        # Describing is a mode exactly when the provider has a captioner, whatever the list
        # of generation modes it was built with says.
        modes = self.modes - {Mode.DESCRIBE} | ({Mode.DESCRIBE} if self.describe else set())
        object.__setattr__(self, "modes", frozenset(modes))

    def check(self, request: GenerationRequest) -> None:
        if request.mode not in self.modes:
            if request.mode is Mode.IMG2IMG:  # /imagine's image option asks for it
                raise InvalidRequest(
                    "image",
                    None,
                    "this model can't start from an image; pick another or leave it out",
                )
            if request.mode in CANVAS_WORDS:
                raise InvalidRequest(
                    "mode",
                    request.mode.value,
                    f"this provider can't {CANVAS_WORDS[request.mode]}; pick another model",
                )
            allowed = ", ".join(sorted(mode.value for mode in self.modes))
            raise InvalidRequest(
                "mode", request.mode.value, f"this provider does {allowed}; pick another model"
            )
        if self.models and request.model is not None and request.model not in self.models:
            raise InvalidRequest("model", request.model, "pick one of " + ", ".join(self.models))
        if request.seed is not None and not self.seed:
            raise InvalidRequest("seed", request.seed, "this provider picks its own; leave it out")
        if request.negative_prompt and not self.negative_prompt:
            raise InvalidRequest(
                "negative", None, "this provider takes no negative prompt; leave it out"
            )
        if request.sampler is not None and request.sampler not in self.samplers:
            allowed = (
                "pick one of " + ", ".join(self.samplers)
                if self.samplers
                else "this provider picks its own; leave it out"
            )
            raise InvalidRequest("sampler", request.sampler, allowed)
        if request.guidance is not None and not self.guidance:
            raise InvalidRequest(
                "guidance", request.guidance, "this provider sets its own; leave it out"
            )
        if request.loras and not self.loras:
            raise InvalidRequest(
                "loras", request.loras[0].name, "this provider takes none; leave it out"
            )
        for name, value in (("width", request.width), ("height", request.height)):
            if value is None:
                continue
            if request.mode is Mode.UPSCALE:  # the output of a resize: only its bound matters
                if value > self.max_size:
                    across = "wide" if name == "width" else "tall"
                    raise InvalidRequest(
                        "image",
                        None,
                        f"upscaled it would be {value} pixels {across}, over this provider's "
                        f"{self.max_size}; attach a smaller image",
                    )
                continue
            if not self.min_size <= value <= self.max_size or value % self.size_multiple:
                raise InvalidRequest(
                    name,
                    value,
                    f"use a multiple of {self.size_multiple} "
                    f"from {self.min_size} to {self.max_size}",
                )
        if request.steps is not None and not 1 <= request.steps <= self.max_steps:
            raise InvalidRequest("steps", request.steps, f"use a value from 1 to {self.max_steps}")
        if not 1 <= request.count <= self.max_images:
            raise InvalidRequest("count", request.count, f"use a value from 1 to {self.max_images}")


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """``flagged``: an output classifier judged it not safe for work."""

    image: Image.Image
    seed: int | None
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class GenerationResult:
    images: tuple[GeneratedImage, ...]
    model: str
    seconds: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)
