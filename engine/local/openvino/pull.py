"""`python -m bot models pull` converts the models that run on OpenVINO, as start-up would."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.local.device import pick_device
from engine.local.families import Family
from engine.local.models import family_of
from engine.local.openvino.runtime import OpenVinoRuntime, Report, folder_for
from engine.local.options import LocalOptions
from engine.local.pipelines import LoadedModel, load_model


def convert_models(
    options: LocalOptions, data_dir: Path | None, names: list[str], report: Report
) -> dict[str, str]:
    """Convert the named models (all when none are named) that run on OpenVINO here and have
    no conversion yet; the ones that failed, with the reason."""
    device = pick_device(options.device)

    def family(name: str) -> Family:
        return family_of(name, options.models[name], options.cache_dir)

    def load(name: str) -> LoadedModel:
        return load_model(
            name,
            options.models[name],
            family(name),
            device=device,
            dtype=torch.float32,
            cache_dir=options.cache_dir,
            compile_unet=False,
        )

    runtime = OpenVinoRuntime(options, folder_for(options, data_dir), device.type, family)
    wanted = [name for name in options.models if not names or name in names]
    return runtime.convert_missing(load, wanted, report) if wanted else {}
