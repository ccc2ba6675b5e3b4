"""The ids the bot gives ComfyUI: a prompt id per job, attempt and image, so that a later
attempt finds what an earlier one left on the server, and a client id per job, so that its
websocket gets the events of an earlier attempt's prompt it follows."""

from __future__ import annotations

import contextlib
import logging
import uuid
from pathlib import Path

from engine.types import RunId

log = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("6f1d3c1e-5a0b-4c1e-9a53-2f0c0c6e7b21")
INSTANCE_FILE = "comfyui-instance"


def prompt_id(
    instance: str, provider: str, run: RunId | None, k: int, *, again: bool = False
) -> str:
    """Random where no job runs it (the CLI): nothing will look for it again. ``again``: the
    other id of a run whose own one the server already holds as failed."""
    if run is None:
        return str(uuid.uuid4())
    name = f"{instance}:{provider}:{run.job_id}:{run.attempt}:{k}" + (":again" if again else "")
    return str(uuid.uuid5(NAMESPACE, name))


def client_id(instance: str, provider: str, run: RunId | None) -> str:
    if run is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(NAMESPACE, f"{instance}:{provider}:{run.job_id}:client"))


def instance_in(data_dir: Path | None) -> str:
    """The id kept in the bot's data folder (made there once); without a folder, one for this
    process only."""
    if data_dir is None:
        log.warning("No data folder: ComfyUI jobs cannot be recovered after a restart")
        return uuid.uuid4().hex
    path = data_dir / INSTANCE_FILE
    with contextlib.suppress(OSError):
        text = path.read_text(encoding="ascii").strip()
        if text:
            return text
    instance = uuid.uuid4().hex
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(instance, encoding="ascii")
        temporary.replace(path)
    except OSError as err:
        log.warning("Could not keep the ComfyUI instance id in %s: %s", path, err)
    return instance
