"""Reference images applied for one pipeline call on the GPU thread: the IP-Adapters loaded
into the denoiser before it and taken out after it (so a job without references runs on the
model exactly as loaded), FLUX.1 Redux's tokens after the prompt's, or the images handed to a
family that follows them itself."""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import snapshot_download
from PIL import Image
from transformers import CLIPVisionModelWithProjection

from engine.errors import ProviderError
from engine.local.adapter_options import AdapterSpec
from engine.local.families import Family
from engine.local.options import ModelSpec
from engine.local.redux import Redux, redux_arguments
from engine.local.references import adapter_downloads, adapters_of, encoder_of, holds
from engine.types import GenerationRequest, Reference, ReferenceKind

log = logging.getLogger(__name__)


class ReferenceAdapters:
    """The configured adapters; their image encoders (and Redux) are loaded once, when first
    used, and kept (an IP-Adapter's weights file is read again for each job, a few hundred MB
    at most)."""

    def __init__(
        self,
        adapters: Mapping[str, AdapterSpec],
        cache_dir: str | None,
        device: torch.device,
    ) -> None:
        self._adapters = dict(adapters)
        self._cache_dir = cache_dir
        self._device = device
        self._encoders: dict[tuple[str, str, torch.dtype], Any] = {}
        self._reduxes: dict[tuple[str, torch.dtype], Redux] = {}

    def clear(self) -> None:
        """Let the image encoders and Redux go (the engine is closing)."""
        self._encoders.clear()
        self._reduxes.clear()

    @contextlib.contextmanager
    def applied(
        self, family: Family, pipe: Any, request: GenerationRequest, label: str
    ) -> Iterator[dict[str, Any]]:
        """The call's arguments that carry the request's references, with its adapters in
        ``pipe`` for the length of the block."""
        if not request.references:
            yield {}
            return
        pictures = [_picture(data) for data in request.reference_images]
        if family.references == "images":
            yield {"image": pictures}
            return
        by_kind = adapters_of(family, self._adapters)
        pairs = list(zip(request.references, pictures, strict=True))
        redux = [(ref, picture) for ref, picture in pairs if by_kind[ref.kind].type == "redux"]
        arguments = self._redux_arguments(by_kind, redux, pipe, request, label) if redux else {}
        # one adapter instance per kind and weight, with all its images: a /blend's equal
        # weights are one instance attending to every image
        groups: dict[tuple[ReferenceKind, float], list[Image.Image]] = {}
        for reference, picture in pairs:
            if by_kind[reference.kind].type == "ip_adapter":
                groups.setdefault((reference.kind, reference.weight), []).append(picture)
        if not groups:
            yield arguments
            return
        with self._ip_adapters(family, pipe, [(by_kind[k], w) for k, w in groups], label):
            yield {**arguments, "ip_adapter_image": list(groups.values())}

    @contextlib.contextmanager
    def _ip_adapters(
        self, family: Family, pipe: Any, specs: list[tuple[AdapterSpec, float]], label: str
    ) -> Iterator[None]:
        """One instance of each adapter at its weight in ``pipe`` for the block, and the
        pipeline exactly as it was after it, whatever happened."""
        denoiser = pipe.unet if family.unet else pipe.transformer
        saved = _Saved.of(pipe, denoiser)
        # the encoder is registered first, so diffusers loads none of its own
        no_encoder = (
            {"image_encoder_folder": None}
            if "image_encoder_folder" in inspect.signature(pipe.load_ip_adapter).parameters
            else {"image_encoder_pretrained_model_name_or_path": None}
        )
        try:
            pipe.register_modules(image_encoder=self._encoder(specs[0][0], pipe.dtype))
            pipe.load_ip_adapter(
                [str(self._folder(spec)) for spec, _ in specs],
                subfolder=[spec.subfolder for spec, _ in specs],
                weight_name=[spec.weight_name for spec, _ in specs],
                local_files_only=True,
                **no_encoder,
            )
            _onto_the_device(pipe, denoiser, saved.processors)
            scales = [spec.scaled(weight) for spec, weight in specs]
            # one adapter's scale alone: FLUX.1 reads a list of one as one scale per layer
            pipe.set_ip_adapter_scale(scales[0] if len(scales) == 1 else scales)
        except ProviderError:
            saved.restore(pipe, denoiser)
            raise
        except Exception as err:
            saved.restore(pipe, denoiser)
            raise ProviderError(
                f"The reference adapter for {label} could not be loaded: {err}"
            ) from err
        try:
            yield
        finally:
            saved.restore(pipe, denoiser)

    def _redux_arguments(
        self,
        by_kind: Mapping[ReferenceKind, AdapterSpec],
        references: list[tuple[Reference, Image.Image]],
        pipe: Any,
        request: GenerationRequest,
        label: str,
    ) -> dict[str, Any]:
        """The prompt as embeddings with the Redux references' tokens after it; a reference at
        weight 0 is left out, so that it is exactly as if it were not there."""
        tokens = []
        try:
            for kind in dict.fromkeys(ref.kind for ref, _ in references):
                kept = [(r, p) for r, p in references if r.kind is kind and r.weight > 0]
                if kept:
                    redux = self._redux(by_kind[kind], pipe.dtype)
                    spec = by_kind[kind]
                    weights = [spec.scale * r.weight for r, _ in kept]
                    tokens.append(redux.tokens([p for _, p in kept], weights))
        except ProviderError:
            raise
        except Exception as err:
            raise ProviderError(f"FLUX.1 Redux for {label} could not be loaded: {err}") from err
        if not tokens:
            return {}
        return redux_arguments(pipe, torch.cat(tokens, dim=1), [request.prompt] * request.count)

    def _redux(self, spec: AdapterSpec, dtype: torch.dtype) -> Redux:
        key = (spec.source, dtype)
        if key not in self._reduxes:
            folder = self._local_of(spec, spec.source, "FLUX.1 Redux")
            log.info("Loading FLUX.1 Redux from %s", folder)
            self._reduxes[key] = Redux(folder, self._device, dtype)
        return self._reduxes[key]

    def _encoder(self, spec: AdapterSpec, dtype: torch.dtype) -> Any:
        where, inside = encoder_of(spec)
        key = (where, inside, dtype)
        if key not in self._encoders:
            if where == spec.source:
                folder = self._folder(spec) / inside
            else:  # a folder or repo of its own
                folder = self._local_of(spec, where, "image encoder")
            log.info("Loading the image encoder %s", folder)
            encoder: Any = CLIPVisionModelWithProjection.from_pretrained(folder, dtype=dtype)
            self._encoders[key] = encoder.to(self._device).eval()
        return self._encoders[key]

    def _folder(self, spec: AdapterSpec) -> Path:
        """The adapter's source on disk, with only its own files fetched from a hub repo."""
        return self._local_of(spec, spec.source, "reference adapter")

    def _local_of(self, spec: AdapterSpec, source: str, what: str) -> Path:
        return self._local(source, dict(adapter_downloads(spec)).get(source, []), what)

    def _local(self, source: str, patterns: list[str], what: str) -> Path:
        """A folder as it is; a hub repo's cached snapshot of ``patterns``, downloaded first
        where it is not cached."""
        if ModelSpec(source=source).kind != "repo":
            return Path(source).expanduser()
        with contextlib.suppress(Exception):
            folder = Path(
                snapshot_download(
                    source,
                    allow_patterns=patterns,
                    cache_dir=self._cache_dir,
                    local_files_only=True,
                )
            )
            if holds(folder, patterns):
                return folder
        log.warning("Downloading the %s %s (%s)", what, source, ", ".join(patterns))
        try:
            return Path(
                snapshot_download(source, allow_patterns=patterns, cache_dir=self._cache_dir)
            )
        except Exception as err:
            raise ProviderError(f"Cannot fetch the {what} {source}: {err}") from err


def with_references(arguments: dict[str, Any], referenced: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments with its references': on an edit from several images (FLUX.2
    [klein]), the references come after the images to edit."""
    merged = {**arguments, **referenced}
    if "image" in arguments and "image" in referenced:
        merged["image"] = [*arguments["image"], *referenced["image"]]
    return merged


def _onto_the_device(pipe: Any, denoiser: Any, before: dict[str, Any]) -> None:
    """The adapter's new layers where the call runs: diffusers makes them on the denoiser's
    device, which under group or sequential offload is not where its blocks run, and the
    offload hooks were set up before these layers existed."""
    device = pipe._execution_device
    for name, processor in denoiser.attn_processors.items():
        if processor is not before.get(name) and isinstance(processor, torch.nn.Module):
            processor.to(device)
    projection = getattr(denoiser, "encoder_hid_proj", None)
    if projection is not None:
        projection.to(device)


_ABSENT = object()


class _Saved:
    """What loading an IP-Adapter changes in a pipeline, as it was before."""

    def __init__(self, processors: dict[str, Any], encoder: Any, extractor: Any, hid: Any) -> None:
        self.processors = processors
        self.encoder = encoder
        self.extractor = extractor
        self.hid = hid

    @classmethod
    def of(cls, pipe: Any, denoiser: Any) -> _Saved:
        return cls(
            dict(denoiser.attn_processors),
            getattr(pipe, "image_encoder", None),
            getattr(pipe, "feature_extractor", None),
            (
                getattr(denoiser, "encoder_hid_proj", _ABSENT),
                getattr(denoiser.config, "encoder_hid_dim_type", None),
            ),
        )

    def restore(self, pipe: Any, denoiser: Any) -> None:
        """Unload as diffusers does, then put back exactly what was there (diffusers' unload
        gives every layer a fresh default processor and drops the feature extractor)."""
        changed = denoiser.attn_processors != self.processors
        if getattr(denoiser, "encoder_hid_proj", _ABSENT) is not self.hid[0] or changed:
            with contextlib.suppress(Exception):
                pipe.unload_ip_adapter()
        denoiser.set_attn_processor(self.processors)
        if self.hid[0] is _ABSENT:  # FLUX.1's transformer has none until an adapter is loaded
            if hasattr(denoiser, "encoder_hid_proj"):
                delattr(denoiser, "encoder_hid_proj")
        else:
            denoiser.encoder_hid_proj = self.hid[0]
        if getattr(denoiser.config, "encoder_hid_dim_type", None) != self.hid[1]:
            denoiser.register_to_config(encoder_hid_dim_type=self.hid[1])
        pipe.register_modules(image_encoder=self.encoder, feature_extractor=self.extractor)


def _picture(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except Exception as err:
        raise ProviderError("a reference image could not be read") from err
