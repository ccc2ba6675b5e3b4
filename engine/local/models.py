"""What each configured model is and whether it is usable, without loading weights: a folder's
model_index.json parses, a checkpoint's header reads, a hub id is cached or the hub has it."""

from __future__ import annotations

import contextlib
import json
import logging
import struct
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from engine.local.families import Family, UnknownFamily, by_key, recognise
from engine.local.families.known import KNOWN
from engine.local.hub import ModelLoadError, cache_folder, cached, remote_files
from engine.local.options import LocalOptions, ModelSpec
from engine.local.references import adapter_problem
from engine.types import ControlKind, ModelInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelState:
    name: str
    source: str
    where: str
    present: bool
    size: int
    problem: str | None = None
    family: str | None = None  # the family's label, where it can be told without the hub
    licence: str | None = None
    summary: str | None = None  # ModelInfo.summary(): its family, what it takes, its licence

    @property
    def usable(self) -> bool:
        return self.problem is None


def configured(options: LocalOptions) -> list[tuple[str, ModelSpec]]:
    """Every model the engine may load, by name: the models, their tiny decoders, the helpers."""
    entries = []
    for name, spec in options.models.items():
        entries.append((name, spec))
        if spec.tiny_decoder is not None:
            entries.append((f"{name} (tiny decoder)", ModelSpec(source=spec.tiny_decoder)))
    for what in ("upscaler", "captioner", "safety_checker", "segmenter"):
        source = getattr(options, what)
        if source is not None:
            entries.append((f"({what.replace('_', ' ')})", ModelSpec(source=source)))
    for name, net in options.controlnets.items():
        spec = ModelSpec(source=net.source, variant=net.variant, licence=net.licence)
        entries.append((f"(controlnet {name})", spec))
    for what, source in map_models(options):
        entries.append((f"({what})", ModelSpec(source=source)))
    return entries


def map_models(options: LocalOptions) -> list[tuple[str, str]]:
    """The models that make control maps, where a configured ControlNet follows their maps."""
    follows: set[ControlKind] = set()
    for net in options.controlnets.values():
        follows |= net.follows()
    detector = options.pose_detector if options.pose_model else None
    wanted = (
        (ControlKind.DEPTH, "depth model", options.depth_model),
        (ControlKind.POSE, "pose model", options.pose_model),
        (ControlKind.POSE, "pose detector", detector),
    )
    return [(what, source) for kind, what, source in wanted if kind in follows and source]


def check_models(options: LocalOptions, online: bool = True) -> list[ModelState]:
    """Every configured model, in config order."""
    loras, upscaler = options.lora_dir is not None, options.upscaler is not None
    return [
        check_model(name, spec, options.cache_dir, online, loras=loras, upscaler=upscaler)
        for name, spec in configured(options)
    ]


def info_of(family: Family, spec: ModelSpec, *, loras: bool, upscaler: bool) -> ModelInfo:
    """What a model of ``family`` takes, for /models, autocomplete and `models list`: ``loras``
    where the engine has a LoRA folder, ``upscaler`` where it has a dedicated one."""
    return ModelInfo(
        family=family.label,
        negative_prompt=family.negative_prompt,
        guidance=family.takes_guidance,
        samplers=tuple(family.samplers),
        img2img=family.image2img is not None,
        upscale=upscaler or family.image2img is not None,
        loras=family.loras and loras,
        licence=licence_of(spec),
        size_multiple=family.size_multiple,
        edit=family.edit is not None,
        inpaint=family.inpaint is not None,
        outpaint=family.outpaint is not None,
        max_input_images=family.max_input_images,
        tile=family.unet,  # circular padding on its convolutions (engine.local.tiling)
    )


def check_model(
    name: str,
    spec: ModelSpec,
    cache_dir: str | None,
    online: bool,
    *,
    loras: bool = False,
    upscaler: bool = False,
) -> ModelState:
    state = _check_files(name, spec, cache_dir, online)
    if state.problem is None and spec.transformer is not None:
        problem = _file_problem(Path(spec.transformer).expanduser())
        if problem is not None:
            state = replace(state, problem=f"its transformer {problem}: fix transformer")
    if state.problem is not None or name.endswith(")"):  # broken, or a decoder or helper
        return state
    try:
        family = family_of(name, spec, cache_dir, online=False)
    except ModelLoadError as err:
        if state.present or spec.kind != "repo":  # a folder no profile describes
            return replace(state, problem=str(err).removeprefix(f"Model {name}: "))
        return replace(state, licence=licence_of(spec))
    summary = info_of(family, spec, loras=loras, upscaler=upscaler).summary()
    return replace(state, family=family.label, licence=licence_of(spec), summary=summary)


def _check_files(name: str, spec: ModelSpec, cache_dir: str | None, online: bool) -> ModelState:
    if spec.kind == "repo":
        return _check_repo(name, spec, cache_dir, online)
    path = Path(spec.source).expanduser()
    problem = _file_problem(path) if spec.kind == "single_file" else _folder_problem(path)
    if problem is None and spec.config is not None:
        config = Path(spec.config).expanduser()
        problem = _folder_problem(config) if config.is_dir() else None
        if problem is not None:
            problem = f"its config {problem}"
    fix = "fix source in the config, or point it at a diffusers folder or .safetensors file"
    return ModelState(
        name,
        spec.source,
        str(path),
        path.exists(),
        _size(path),
        None if problem is None else f"{problem}: {fix}",
    )


def _check_repo(name: str, spec: ModelSpec, cache_dir: str | None, online: bool) -> ModelState:
    folder = cached(spec.source, cache_dir)
    if folder is not None:
        return ModelState(name, spec.source, str(folder), True, _size(folder))
    where = cache_folder(cache_dir)
    if not online:
        return ModelState(name, spec.source, where, False, 0)
    try:
        files = remote_files(spec.source, spec.variant)
    except ModelLoadError as err:
        return ModelState(name, spec.source, where, False, 0, str(err))
    return ModelState(name, spec.source, where, False, sum(files.values()))


def _folder_problem(path: Path) -> str | None:
    if not path.is_dir():
        return f"{path} is not a folder"
    index = path / "model_index.json"
    config = path / "config.json"
    if not index.is_file() and not config.is_file():
        return f"{path} has no model_index.json (it is not a diffusers model folder)"
    try:
        json.loads((index if index.is_file() else config).read_text())
    except (OSError, ValueError) as err:
        return f"{index if index.is_file() else config} does not parse ({err})"
    return None


def _file_problem(path: Path) -> str | None:
    if not path.is_file():
        return f"{path} does not exist"
    if path.suffix != ".safetensors":
        return None
    try:
        with path.open("rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            json.loads(file.read(length))
    except (OSError, ValueError, struct.error) as err:
        return f"{path} is not a readable .safetensors file ({err})"
    return None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


LOADED_AT_START = frozenset({"(upscaler)", "(captioner)", "(safety checker)"})


def report_at_start(options: LocalOptions, default: str) -> None:
    """Warns about each unusable model; the default and the helpers are loaded at start anyway,
    and stop it with the reason (those loaded when first used, the segmenter, ControlNets and
    map models, are warned about)."""
    for name, spec in configured(options):
        started = name in LOADED_AT_START
        if name in (default, f"{default} (tiny decoder)") or started:
            continue
        state = check_model(name, spec, options.cache_dir, online=True)
        if not state.usable:
            log.warning("Model %s is unusable: %s", state.name, state.problem)
    for name, adapter in options.adapters.items():
        problem = adapter_problem(adapter)
        if problem is not None:
            log.warning("Reference adapter %s is unusable: %s", name, problem)


def family_of(name: str, spec: ModelSpec, cache_dir: str | None, online: bool = True) -> Family:
    """The model's family: its ``family`` setting, else its folder's (or config folder's, or
    cached repo's) model_index.json, else the table of well-known hub repos, else (``online``)
    the repo's model_index.json on the hub."""
    if spec.family is not None:
        return by_key(spec.family)
    folder: Path | None = None
    if spec.kind == "folder":
        folder = Path(spec.source).expanduser()
    elif spec.kind == "single_file" and spec.config is not None:
        folder = Path(spec.config).expanduser()
        if not folder.is_dir():
            folder = cached(spec.config, cache_dir)
    else:
        folder = cached(spec.source, cache_dir)
    if folder is None or not (folder / "model_index.json").is_file():
        known = KNOWN.get(spec.source) or (KNOWN.get(spec.config) if spec.config else None)
        if known is not None:
            return by_key(known.family)
        if folder is None and spec.kind == "repo":
            if not online:
                raise ModelLoadError(f"Model {name}: its family is read once it is downloaded")
            return _family_from_hub(name, spec.source)
    try:
        return recognise(folder or Path(spec.source))
    except UnknownFamily as err:
        raise ModelLoadError(f"Model {name}: {err}") from err


def licence_of(spec: ModelSpec) -> str | None:
    """The licence the settings name, else the one the table of well-known repos knows."""
    if spec.licence is not None:
        return spec.licence
    known = KNOWN.get(spec.source)
    return known.licence if known is not None else None


def _family_from_hub(name: str, repo: str) -> Family:
    """A repo not downloaded yet: its model_index.json and denoiser config alone, into a
    temporary folder (never into the hub cache, where a partial snapshot would pass for a
    downloaded model)."""
    from huggingface_hub import hf_hub_download  # noqa: PLC0415
    from huggingface_hub.errors import EntryNotFoundError  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="family-") as folder:
        try:
            hf_hub_download(repo, "model_index.json", local_dir=folder)
            for config in ("transformer/config.json", "unet/config.json"):
                with contextlib.suppress(EntryNotFoundError):
                    hf_hub_download(repo, config, local_dir=folder)
        except Exception as err:
            raise ModelLoadError(
                f"Model {name}: cannot read the model_index.json of {repo} to tell its family "
                f"({type(err).__name__}); run `python -m bot models pull` where the hub is "
                'reachable, or set family = "..." in its settings'
            ) from err
        try:
            return recognise(Path(folder))
        except UnknownFamily as err:
            raise ModelLoadError(f"Model {name}: {err}") from err
