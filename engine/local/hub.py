"""Models from the Hugging Face hub: what a repo id needs, whether it is cached, and fetching it
with one clear line when the hub cannot be reached. Imports neither torch nor diffusers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, constants, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils.tqdm import tqdm

from engine.errors import ProviderError

log = logging.getLogger(__name__)

WEIGHTS = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".onnx", ".h5")
SMALL = (".json", ".txt", ".model")
VARIANTS = ("fp16", "bf16", "fp32", "fp8", "int8", "non_ema", "ema")

OFFLINE_FIX = (
    "run `python -m bot models pull` on a machine with internet access and copy the cache, "
    "or set source to a local folder or .safetensors file"
)


class ModelLoadError(ProviderError):
    """A configured model cannot be loaded; retrying will not help."""


def wanted_files(filenames: list[str], variant: str | None) -> list[str]:
    """The files diffusers (or transformers) loads from a repo: configs and tokenizers, and per
    component folder one weight format, the variant's where it has one."""
    pipeline = "model_index.json" in filenames
    chosen = [name for name in filenames if name.endswith(SMALL) and "/." not in f"/{name}"]
    folders: dict[str, list[str]] = {}
    for name in filenames:
        if name.endswith(WEIGHTS):
            folder, _, _ = name.rpartition("/")
            if pipeline and not folder:
                continue  # a pipeline's root-level weights are single-file copies of it
            folders.setdefault(folder, []).append(name)
    for names in folders.values():
        marked = [name for name in names if variant and _variant_of(name) == variant]
        plain = [name for name in names if _variant_of(name) is None]
        pool = marked or plain
        for suffix in (".safetensors", ".bin"):
            picked = [name for name in pool if name.endswith(suffix)]
            if picked:
                chosen += picked
                break
    return sorted(set(chosen))


def _variant_of(name: str) -> str | None:
    parts = Path(name).name.replace("-", ".").split(".")
    return next((part for part in parts if part in VARIANTS), None)


def cached(repo: str, cache_dir: str | None) -> Path | None:
    """The local snapshot of a repo id (its main revision, with a config), without touching the
    network. huggingface_hub's own check wants every file of the repo, not the ones we fetch."""
    root = Path(cache_folder(cache_dir)) / repo_folder_name(repo_id=repo, repo_type="model")
    ref = root / "refs" / "main"
    if not ref.is_file():
        return None
    snapshot = root / "snapshots" / ref.read_text().strip()
    if not any((snapshot / name).is_file() for name in ("model_index.json", "config.json")):
        return None
    return snapshot


def remote_files(repo: str, variant: str | None) -> dict[str, int]:
    """The files of a repo id to fetch and their sizes in bytes, in one request to the hub."""
    if constants.is_offline_mode():
        raise ModelLoadError(
            f"{repo} is not in the local cache and HF_HUB_OFFLINE is set: {OFFLINE_FIX}."
        )
    try:
        info: Any = HfApi(endpoint=constants.ENDPOINT).model_info(
            repo, files_metadata=True, timeout=10
        )
    except RepositoryNotFoundError as err:
        raise ModelLoadError(
            f"{repo} does not exist on the hub {constants.ENDPOINT} (or is private: "
            "log in with `hf auth login`)."
        ) from err
    except HfHubHTTPError as err:
        raise ModelLoadError(f"the hub {constants.ENDPOINT} refused {repo}: {err}") from err
    except Exception as err:
        raise ModelLoadError(
            f"{repo} is not in the local cache and the hub {constants.ENDPOINT} "
            f"cannot be reached ({type(err).__name__}: {err}): {OFFLINE_FIX}, or set "
            "HF_HUB_OFFLINE=1 once everything is cached."
        ) from err
    sizes = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or ()}
    return {name: sizes[name] for name in wanted_files(list(sizes), variant)}


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def cache_folder(cache_dir: str | None) -> str:
    return str(Path(cache_dir or constants.HF_HUB_CACHE).expanduser())


def fetch(
    repo: str, variant: str | None, cache_dir: str | None, what: str = "model", bars: bool = False
) -> Path:
    """A local folder holding the repo id, downloaded first if it is not cached."""
    folder = cached(repo, cache_dir)
    if folder is not None:
        return folder
    files = remote_files(repo, variant)
    log.warning(
        "Downloading the %s %s: %d files, %s, into %s",
        what,
        repo,
        len(files),
        human_size(sum(files.values())),
        cache_folder(cache_dir),
    )
    return download(repo, files, cache_dir, bars)


def download(repo: str, files: dict[str, int], cache_dir: str | None, bars: bool) -> Path:
    try:
        path = snapshot_download(
            repo,
            cache_dir=cache_dir,
            allow_patterns=list(files),
            endpoint=constants.ENDPOINT,
            tqdm_class=tqdm if bars else _Silent,
        )
    except Exception as err:
        raise ModelLoadError(f"downloading {repo} failed: {err}") from err
    return Path(path)


class _Silent(tqdm):
    """Download progress bars belong to `models pull`, not to the bot's log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)
