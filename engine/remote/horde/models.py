"""The image models the AI Horde's workers serve now (``GET /v2/status/models``), busiest
first, for autocomplete and checks."""

from __future__ import annotations

import logging
import re
from typing import Any

from engine.errors import ProviderError
from engine.remote.horde.options import HordeOptions
from engine.remote.http import RemoteClient

log = logging.getLogger(__name__)

MODELS = "/v2/status/models?type=image"
MAX_MODELS = 500
# A name members will see in autocomplete (at most 100 characters there): printable, one line.
_NAME = re.compile(r"[\x20-\x7e\u00a0-\uffff]{1,100}")


class ServedModels:
    def __init__(self, client: RemoteClient, options: HordeOptions) -> None:
        self._client = client
        self._options = options
        self.names: tuple[str, ...] = ()
        self.workers: dict[str, int] = {}

    async def refresh(self) -> None:
        data = (await self._client.request("GET", MODELS)).json()
        if not isinstance(data, list):
            raise ProviderError(self._client.say("sent a model list the bot cannot read"))
        workers = dict(sorted(_served(data).items(), key=lambda item: -item[1])[:MAX_MODELS])
        self.workers = workers
        self.names = tuple(workers)
        idle = [name for name in self._options.models if name not in workers]
        if idle:
            log.warning(
                "%s: no worker serves these listed models now: %s",
                self._client.provider,
                ", ".join(idle),
            )


def _served(entries: list[Any]) -> dict[str, int]:
    """Image models with at least one worker, by name, with their worker counts."""
    served: dict[str, int] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type", "image") != "image":
            continue
        name, count = entry.get("name"), entry.get("count")
        if not isinstance(name, str) or name != name.strip() or not _NAME.fullmatch(name):
            continue
        if not name.isprintable():  # no invisible or bidirectional marks, no line separators
            continue
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            served[name] = count
    return served
