"""Which model family a LoRA file was made for, told from its .safetensors header alone (tensor
names, shapes and metadata; no weights are read), so that a LoRA made for another family is
refused by name before a run. A LoRA it cannot place is unknown, and is tried, not refused.

The answer is a set of *shapes*, the names family profiles give in ``lora_shape``. FLUX.1
[dev], [schnell] and Chroma share one shape: Chroma is FLUX.1 [schnell] with its modulation
layers pruned, diffusers loads both through the same loader, and LoRAs move between them.
A LoRA on joint-attention blocks alone (``transformer_blocks.N.attn.to_q``, ``add_q_proj``)
has the same names on FLUX.1, FLUX.2, SD 3.5 and Qwen-Image: only the widths of the real
models tell them apart, so a tiny test model's LoRA stays "one of those"."""

from __future__ import annotations

import functools
import json
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LABELS = {  # the shapes, in the order messages name them
    "sd": "Stable Diffusion 1.x/2.x",
    "sdxl": "SDXL",
    "sd3": "Stable Diffusion 3.5",
    "flux1": "FLUX.1",
    "flux2": "FLUX.2",
    "qwen-image": "Qwen-Image",
    "z-image": "Z-Image",
    "sana": "Sana",
}
CHROMA = "Chroma"
MAX_HEADER = 100 * 2**20  # safetensors' own limit
UNET = frozenset({"sd", "sdxl"})
JOINT = frozenset({"flux1", "flux2", "sd3", "qwen-image"})
BFL = frozenset({"flux1", "flux2"})  # Black Forest Labs' own names: double_blocks, single_blocks


def _rules(*rules: tuple[str, Iterable[str]]) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    return [(re.compile(pattern), frozenset(shapes)) for pattern, shapes in rules]


# Each rule says: a key it matches belongs to one of these shapes. Key names are matched with
# "." or "_" between parts, so diffusers, kohya (lora_unet_a_b_c) and original (ComfyUI,
# ai-toolkit: diffusion_model.a.b.c) layouts all match.
UNET_KEY = re.compile(
    r"(?:^|[._])(?:down_blocks|up_blocks|mid_block|input_blocks|output_blocks|middle_block)[._]"
)
UNET_RULES = _rules(
    (r".", UNET),
    # SD 1.x/2.x have one transformer block per attention; SDXL has 2 and 10
    (
        r"(?:attentions[._]\d+|(?:input|output)_blocks[._]\d+[._]1|middle_block[._]1)"
        r"[._]transformer_blocks[._][1-9]",
        {"sdxl"},
    ),
    # attentions where SDXL has none: its first level and the original layout's blocks 1, 2, 6+
    (
        r"down_blocks[._]0[._]attentions|up_blocks[._][23][._]attentions"
        r"|input_blocks[._][12][._]1[._]|output_blocks[._](?:[6-9]|1[01])[._]1[._]",
        {"sd"},
    ),
)
TEXT_KEY = re.compile(r"^(?:lora_te\d?_|text_encoders?(?:_\d)?[._]|te\d?[._]|text_model[._])")
TEXT_RULES = _rules((r"^lora_te2_", {"sdxl", "sd3"}))
DENOISER_RULES = _rules(
    (
        r"(?:^|[._])transformer_blocks[._]\d+[._]attn[._]"
        r"(?:to_[qkv]|to_out|add_[qkv]_proj|to_add_out)(?:[._]|$)",
        JOINT,
    ),
    (
        r"transformer_blocks[._]\d+[._](?:ff|ff_context)[._]net[._]"
        r"|transformer_blocks[._]\d+[._]norm1(?:_context)?[._]linear|time_text_embed[._]text_embedder",
        {"flux1", "sd3"},
    ),
    (
        r"single_transformer_blocks[._]\d+[._](?:attn[._]to_[qkv]|proj_mlp|proj_out|norm[._]linear)"
        r"(?:[._]|$)|(?:^|[._])vector_in[._]|time_text_embed[._]guidance_embedder"
        r"|processor[._]proj_lora|(?:double|single)_blocks[._]\d+[._](?:img_mod|txt_mod|modulation)"
        r"[._]lin|distilled_guidance_layer",
        {"flux1"},
    ),
    (
        r"to_qkv_mlp_proj|stream_modulation|time_guidance_embed"
        r"|transformer_blocks[._]\d+[._]ff(?:_context)?[._]linear_(?:in|out)"
        r"|single_transformer_blocks[._]\d+[._]attn[._]to_out",
        {"flux2"},
    ),
    (r"(?:^|[._])(?:double|single)_blocks[._]\d+[._]", BFL),
    (r"(?:^|[._])joint_blocks[._]\d+[._]", {"sd3"}),
    (r"transformer_blocks[._]\d+[._](?:img|txt)_(?:mod|mlp)", {"qwen-image"}),
    (
        r"(?:^|[._])(?:layers|noise_refiner|context_refiner)[._]\d+[._]"
        r"(?:attention|feed_forward|adaLN_modulation)[._]|all_x_embedder|all_final_layer",
        {"z-image"},
    ),
    (
        r"(?:^|[._])transformer_blocks[._]\d+[._]attn1[._]|ff[._]conv_(?:inverted|depth|point)",
        {"sana"},
    ),
)
CHROMA_KEY = re.compile(r"distilled_guidance_layer")

# A LoRA matrix: the module it adapts, and whether it is the down (A) or the up (B) half.
MATRIX = re.compile(
    r"^(?P<module>.+?)[._](?:lora_(?P<half>A|B|down|up)|lora[._](?P<old>down|up))"
    r"(?:\.default)?[._]weight$"
)
CROSS_ATTENTION = re.compile(r"attn2[._](?:processor[._])?to_[kv](?:_lora)?$")
JOINT_QUERY = re.compile(r"(?:^|[._])transformer_blocks[._]\d+[._]attn[._](?:to_q|add_q_proj)$")
JOINT_BLOCK = re.compile(r"(?:^|[._])(?<!single_)transformer_blocks[._](\d+)[._]attn[._]")
BFL_BLOCK = re.compile(r"(?:^|[._])(double|single)_blocks[._](\d+)[._]")
BFL_WIDENING = re.compile(r"single_blocks[._]\d+[._]linear1$|(?:img|txt)_mlp[._]0$")

# What a width says: the cross-attention input of a UNet (its text encoder's width), and the
# hidden width of a joint-attention transformer, as the real models have them.
CROSS_WIDTHS = {768: {"sd"}, 1024: {"sd"}, 2048: {"sdxl"}}
JOINT_WIDTHS = {1536: {"sd3"}, 2432: {"sd3"}, 3072: {"flux1", "flux2", "qwen-image"}}
# A BFL-named layer's output over its input: FLUX.1's MLP is 4 wide and FLUX.2's gated one 2x3;
# linear1 of a single block adds the three attention projections to it.
BFL_RATIOS = {4: "flux1", 7: "flux1", 6: "flux2", 9: "flux2"}

CLAIMS = [  # metadata values written by kohya's sd-scripts, ai-toolkit, musubi-tuner
    (re.compile(r"chroma"), "flux1"),
    (re.compile(r"stable-diffusion-xl|sdxl"), "sdxl"),
    (re.compile(r"stable-diffusion-3|sd3"), "sd3"),
    (re.compile(r"stable-diffusion-v[12]|^sd_?v?[12]|^sd15|^sd21"), "sd"),
    (re.compile(r"flux[-_.]?2"), "flux2"),
    (re.compile(r"flux"), "flux1"),
    (re.compile(r"qwen"), "qwen-image"),
    (re.compile(r"z[-_]?image"), "z-image"),
    (re.compile(r"sana"), "sana"),
]
CLAIM_KEYS = ("modelspec.architecture", "ss_base_model_version")


@dataclass(frozen=True)
class LoraKind:
    """What a LoRA was made for: the shapes it may be (empty when unknown), in words, and the
    layout of its tensor names (diffusers, kohya, original, xlabs, peft)."""

    shapes: frozenset[str]
    label: str
    layout: str

    @property
    def known(self) -> bool:
        return bool(self.shapes)

    def fits(self, shape: str | None) -> bool:
        """Whether it may be applied to a model of this shape (unknown LoRAs and unchecked
        families always may)."""
        return shape is None or not self.shapes or shape in self.shapes


UNKNOWN = LoraKind(frozenset(), "an unknown model", "unknown")


def lora_kind(path: Path) -> LoraKind:
    """The kind of the LoRA in ``path``, read once per version of the file."""
    try:
        stat = path.stat()
    except OSError:
        return UNKNOWN
    return _kind_of_file(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _kind_of_file(path: str, mtime_ns: int, size: int) -> LoraKind:
    try:
        shapes, metadata = read_header(Path(path))
    except (OSError, ValueError, struct.error):
        return UNKNOWN  # not a readable .safetensors file: diffusers will say what is wrong
    return classify(shapes, metadata)


def read_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """The tensor shapes by name and the metadata of a .safetensors file, from its header."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        if length > MAX_HEADER:
            raise ValueError(f"a {length}-byte header is not a safetensors header")
        header = json.loads(file.read(length))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    shapes = {
        key: tuple(int(size) for size in entry.get("shape", ()))
        for key, entry in header.items()
        if isinstance(entry, dict)
    }
    claims = metadata if isinstance(metadata, dict) else {}
    return shapes, {str(key): str(value) for key, value in claims.items()}


def classify(shapes: Mapping[str, Sequence[int]], metadata: Mapping[str, str]) -> LoraKind:
    """The kind of a LoRA from its tensor names and shapes, and the base model its metadata
    claims. Every clue narrows the shapes it may be; clues that contradict each other leave it
    unknown. The metadata picks among what the names allow, or decides when they say nothing."""
    evidence = _name_evidence(shapes) + _width_evidence(shapes)
    claim = _claim(metadata)
    found: frozenset[str] | None = None
    for clue in evidence:
        found = clue if found is None else found & clue
    if found is None:
        found = frozenset({claim}) if claim else frozenset()
    elif claim in found:
        found = frozenset({claim})
    chroma = any(CHROMA_KEY.search(key) for key in shapes) or _says_chroma(metadata)
    return LoraKind(found, _label(found, chroma), _layout(shapes))


def _name_evidence(shapes: Mapping[str, Sequence[int]]) -> list[frozenset[str]]:
    evidence = []
    for key in shapes:
        if UNET_KEY.search(key):
            rules = UNET_RULES
        elif TEXT_KEY.search(key):
            rules = TEXT_RULES
        else:
            rules = DENOISER_RULES
        evidence += [shapes for pattern, shapes in rules if pattern.search(key)]
    joint = [int(m[1]) for key in shapes if (m := JOINT_BLOCK.search(key))]
    if joint and max(joint) >= 38:  # SD 3.5 Large has 38 joint blocks, Qwen-Image 60
        evidence.append(frozenset({"qwen-image"}))
    elif joint and max(joint) >= 19:  # FLUX.1 has 19 double blocks
        evidence.append(frozenset({"sd3", "qwen-image"}))
    elif joint and max(joint) >= 8:  # FLUX.2 has 8 at most
        evidence.append(frozenset({"flux1", "sd3", "qwen-image"}))
    blocks = [(m[1], int(m[2])) for key in shapes if (m := BFL_BLOCK.search(key))]
    if any(kind == "double" and index >= 8 for kind, index in blocks):
        evidence.append(frozenset({"flux1"}))
    if any(kind == "single" and index >= 38 for kind, index in blocks):
        evidence.append(frozenset({"flux2"}))
    return evidence


def _width_evidence(shapes: Mapping[str, Sequence[int]]) -> list[frozenset[str]]:
    halves: dict[str, dict[str, Sequence[int]]] = {}
    for key, shape in shapes.items():
        match = MATRIX.match(key)
        if match is not None and len(shape) == 2:
            half = "down" if (match["half"] or match["old"]) in ("A", "down") else "up"
            halves.setdefault(match["module"], {})[half] = shape
    evidence = []
    for module, pair in halves.items():
        down, up = pair.get("down"), pair.get("up")
        if down is None:
            continue
        width = down[1]
        if UNET_KEY.search(module) and CROSS_ATTENTION.search(module):
            evidence.append(frozenset(CROSS_WIDTHS.get(width, UNET)))
        elif JOINT_QUERY.search(module):
            evidence.append(frozenset(JOINT_WIDTHS.get(width, JOINT)))
        elif up is not None and BFL_WIDENING.search(module) and up[0] % width == 0:
            bfl = BFL_RATIOS.get(up[0] // width)
            if bfl is not None:
                evidence.append(frozenset({bfl}))
    return evidence


def _claim(metadata: Mapping[str, str]) -> str | None:
    for key in CLAIM_KEYS:
        value = metadata.get(key, "").lower()
        for pattern, shape in CLAIMS:
            if value and pattern.search(value):
                return shape
    return None


def _says_chroma(metadata: Mapping[str, str]) -> bool:
    return any("chroma" in metadata.get(key, "").lower() for key in CLAIM_KEYS)


def _label(shapes: frozenset[str], chroma: bool) -> str:
    if not shapes:
        return UNKNOWN.label
    if shapes == {"flux1"} and chroma:
        return CHROMA
    names = [label for shape, label in LABELS.items() if shape in shapes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _layout(shapes: Mapping[str, object]) -> str:
    keys = list(shapes)
    if any(key.startswith(("lora_unet_", "lora_te", "lora_transformer_")) for key in keys):
        return "kohya"
    if any("processor" in key and "proj_lora" in key for key in keys):
        return "xlabs"
    if any(key.startswith(("diffusion_model.", "model.diffusion_model.")) for key in keys):
        return "original"
    if any(key.startswith("base_model.model.") for key in keys):
        return "peft"
    return "diffusers" if keys else "unknown"
