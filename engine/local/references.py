"""Which reference images a local model follows, and how (its family's path and the adapters
the owner configured for it), and the refusals of the references it can't follow."""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable, Mapping
from pathlib import Path

from PIL import Image

from engine.errors import InvalidRequest
from engine.local.adapter_options import AdapterSpec
from engine.local.families import Family
from engine.local.options import ModelSpec
from engine.types import MAX_BLEND, REFERENCE_WEIGHTS, GenerationRequest, Mode, ReferenceKind


def adapters_of(
    family: Family, adapters: Mapping[str, AdapterSpec]
) -> dict[ReferenceKind, AdapterSpec]:
    """The adapters of ``family`` by kind: those made for it, or for the family whose
    dedicated inpainting checkpoint it is (the same UNet's attention)."""
    if family.references != "ip_adapter":
        return {}
    keys = {family.key, family.key.removesuffix("-inpaint")}
    return {ReferenceKind(spec.kind): spec for spec in adapters.values() if spec.family in keys}


def reference_kinds(
    family: Family, adapters: Mapping[str, AdapterSpec]
) -> frozenset[ReferenceKind]:
    if family.references == "images":
        return frozenset(ReferenceKind)
    return frozenset(adapters_of(family, adapters))


def max_references(family: Family, adapters: Mapping[str, AdapterSpec]) -> int:
    """The most reference images one job takes (a /blend's included)."""
    if not reference_kinds(family, adapters):
        return 0
    if family.references == "images":
        return min(MAX_BLEND, family.max_input_images)
    return MAX_BLEND


def check_references(
    request: GenerationRequest,
    name: str,
    family: Family,
    adapters: Mapping[str, AdapterSpec],
    able: Callable[[ReferenceKind], list[str]],
    compiled: bool,
) -> None:
    """Refuse, up front and by name, references this model can't follow; ``able`` names the
    models that follow a kind (asked only for a refusal)."""
    references = request.references
    if len(references) != len(request.reference_images):
        raise InvalidRequest(
            "references",
            len(references),
            f"{len(references)} references came with {len(request.reference_images)} images",
        )
    if not references:
        return
    what = f"{name} ({family.label})"
    kinds = reference_kinds(family, adapters)
    for reference in references:
        if reference.kind not in kinds:
            models = able(reference.kind)
            raise InvalidRequest(
                "references",
                reference.kind.value,
                f"{what} follows no {reference.kind.value} references; "
                + (f"{', '.join(models)} can" if models else "no model here can"),
            )
        low, high = REFERENCE_WEIGHTS
        if not low <= reference.weight <= high:
            raise InvalidRequest(
                "references", reference.weight, f"a reference's weight is {low:g} to {high:g}"
            )
    most = max_references(family, adapters)
    if len(references) > most:
        raise InvalidRequest(
            "references", len(references), f"{what} follows {most} reference images at most"
        )
    if family.references == "images":
        _check_image_references(request, what, family)
        return
    if compiled:
        raise InvalidRequest(
            "references",
            None,
            f"{what} is compiled, and an IP-Adapter changes its attention; turn compile off "
            "to use references on it",
        )
    pipeline = family.pipeline(request.mode)
    if pipeline is None or not _takes_ip_adapter(pipeline):
        raise InvalidRequest(
            "references",
            request.mode.value,
            f"{what} follows references only when drawing from a prompt or an image",
        )
    by_kind = adapters_of(family, adapters)
    encoders = {
        encoder_of(by_kind[reference.kind])
        for reference in references
        if by_kind[reference.kind].type == "ip_adapter"
    }
    if len(encoders) > 1:
        raise InvalidRequest(
            "references",
            None,
            f"{what}'s style and subject adapters use different image encoders, so one job "
            "takes references of one kind",
        )


def _check_image_references(request: GenerationRequest, what: str, family: Family) -> None:
    """A family that takes references as its own input images: at weight 1, when drawing from
    the prompt or beside the images of an edit, and each image of a size its pipeline
    takes."""
    for reference in request.references:
        if reference.weight != 1:
            raise InvalidRequest(
                "references",
                reference.weight,
                f"{what} follows a reference image as it is: its weight can't be set, so "
                "leave it at 1",
            )
    if request.mode not in (Mode.TXT2IMG, Mode.EDIT):
        raise InvalidRequest(
            "references",
            request.mode.value,
            f"{what} follows references when drawing from a prompt or editing",
        )
    if request.mode is Mode.EDIT:
        images = 1 + len(request.extra_images) + len(request.references)
        if images > family.max_input_images:
            raise InvalidRequest(
                "references",
                len(request.references),
                f"{what} takes {family.max_input_images} images at most, the images to edit "
                f"and the references together; {images} were given",
            )
    if family.edit_input_limits is None:
        return
    side, aspect = family.edit_input_limits
    for number, data in enumerate(request.reference_images, start=1):
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except Exception as err:
            raise InvalidRequest(
                "references", number, "a reference image could not be read"
            ) from err
        if min(width, height) < side or max(width, height) > aspect * min(width, height):
            raise InvalidRequest(
                "references",
                number,
                f"{what} follows reference images of at least {side} px a side and at most "
                f"{aspect:g} times as wide as high; reference {number} is {width}×{height}",
            )


def _takes_ip_adapter(pipeline: str) -> bool:
    """Whether a diffusers pipeline class's call takes ``ip_adapter_image``."""
    import diffusers  # noqa: PLC0415 - `models list` reads this module; diffusers takes 2 s

    cls = getattr(diffusers, pipeline, None)
    return cls is not None and "ip_adapter_image" in inspect.signature(cls.__call__).parameters


def encoder_of(spec: AdapterSpec) -> tuple[str, str]:
    """Where an adapter's image encoder is: (a source, the path inside it), as diffusers'
    load_ip_adapter reads ``image_encoder_folder``, or ``image_encoder_source`` as a whole."""
    if spec.image_encoder_source is not None:
        return spec.image_encoder_source, ""
    encoder = spec.image_encoder
    if "/" in encoder:
        return spec.source, encoder
    return spec.source, f"{spec.subfolder}/{encoder}" if spec.subfolder else encoder


def adapter_problem(spec: AdapterSpec) -> str | None:
    """What is missing from an adapter in a folder (a hub repo's files are fetched when first
    used); None where its files are there."""
    if _is_repo(spec.source):
        return None
    root = Path(spec.source).expanduser()
    if spec.type == "redux":
        needed = [root / part for part in ("feature_extractor", "image_encoder", "image_embedder")]
    else:
        needed = [root / spec.subfolder / str(spec.weight_name)]
        where, inside = encoder_of(spec)
        if not _is_repo(where):
            needed.append(Path(where).expanduser() / inside / "config.json")
    missing = [str(path) for path in needed if not path.exists()]
    return f"{', '.join(missing)} not found" if missing else None


def adapter_downloads(spec: AdapterSpec) -> list[tuple[str, list[str]]]:
    """The hub repos an adapter's files come from, each with the files (patterns) it needs:
    never a whole repo such as h94/IP-Adapter, which holds a dozen adapters."""
    if spec.type == "redux":
        parts = ["feature_extractor/*", "image_encoder/*", "image_embedder/*"]
        return [(spec.source, parts)] if _is_repo(spec.source) else []
    weights = f"{spec.subfolder}/{spec.weight_name}" if spec.subfolder else f"{spec.weight_name}"
    where, inside = encoder_of(spec)
    downloads = []
    if _is_repo(spec.source):
        downloads.append(
            (spec.source, [weights] + ([f"{inside}/*"] if where == spec.source else []))
        )
    if where != spec.source and _is_repo(where):
        downloads.append((where, ["*.json", "*.safetensors"]))
    return downloads


def adapter_present(spec: AdapterSpec, cache_dir: str | None) -> bool:
    """Whether an adapter's hub files are in the local cache (a folder's are checked by
    ``adapter_problem``)."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415

    for repo, patterns in adapter_downloads(spec):
        try:
            folder = Path(
                snapshot_download(
                    repo, allow_patterns=patterns, cache_dir=cache_dir, local_files_only=True
                )
            )
        except Exception:
            return False
        if not holds(folder, patterns):
            return False
    return True


def holds(folder: Path, patterns: list[str]) -> bool:
    """Whether a snapshot holds each file and folder (``name/*``) of ``patterns``."""
    for pattern in patterns:
        where = folder / pattern.removesuffix("/*")
        if "*" not in where.name and not where.exists():
            return False
    return True


def _is_repo(source: str) -> bool:
    return ModelSpec(source=source).kind == "repo"
