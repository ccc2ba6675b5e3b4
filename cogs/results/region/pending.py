"""Masks a member has previewed but not yet confirmed, kept on disk until they confirm, cancel
or let them expire.

A custom id holds at most 100 characters, so an uploaded or segmented mask cannot travel in
the preview's buttons; it waits here, one JSON file per preview under the data folder, named
by a random token that the buttons carry. Files survive a restart; a token whose file has
expired, been used or been cancelled is refused in words (``PreviewGone``)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.errors import Refusal
from bot.storage.files import make_folders, write_atomically

log = logging.getLogger(__name__)

PENDING_SECONDS = 3600.0  # how long a preview can wait for Repaint
TOKEN = re.compile(r"[0-9a-f]{8}")


class PreviewGone(Refusal):
    def __init__(self) -> None:
        super().__init__(
            "This mask preview has expired, was cancelled or was already used; "
            "press Vary (Region) again."
        )


@dataclass(frozen=True)
class PendingMask:
    """A previewed mask for image ``index`` of job ``job_id``, and the prompt given with it
    ("" keeps the job's own)."""

    user_id: int
    job_id: int
    index: int
    mask: bytes
    prompt: str
    expires: float


class PendingMasks:
    """The folder of previewed masks; every method does blocking file work (run it off the
    event loop)."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self._now = clock

    def put(self, user_id: int, job_id: int, index: int, mask: bytes, prompt: str = "") -> str:
        """Keep ``mask`` and answer the token its buttons carry; expired ones are swept."""
        self.sweep()
        make_folders(self.folder)
        token = secrets.token_hex(4)
        record = {
            "user_id": user_id,
            "job_id": job_id,
            "index": index,
            "prompt": prompt,
            "expires": self._now() + PENDING_SECONDS,
            "mask": base64.b64encode(mask).decode("ascii"),
        }
        write_atomically(self._path(token), json.dumps(record).encode())
        return token

    def get(self, token: str, user_id: int, job_id: int, index: int) -> PendingMask:
        """The mask behind ``token`` if it is this member's, for this image, and not expired."""
        path = self._path(token)
        try:
            record = json.loads(path.read_bytes())
            pending = PendingMask(
                int(record["user_id"]),
                int(record["job_id"]),
                int(record["index"]),
                base64.b64decode(record["mask"], validate=True),
                str(record["prompt"]),
                float(record["expires"]),
            )
        except FileNotFoundError:
            raise PreviewGone from None
        except (ValueError, KeyError, TypeError, binascii.Error):
            log.warning("Dropped an unreadable pending mask %s", path.name)
            path.unlink(missing_ok=True)
            raise PreviewGone from None
        if (pending.user_id, pending.job_id, pending.index) != (user_id, job_id, index):
            raise PreviewGone
        if pending.expires < self._now():
            path.unlink(missing_ok=True)
            raise PreviewGone
        return pending

    def take(self, token: str, user_id: int, job_id: int, index: int) -> PendingMask:
        """``get`` once: the first caller wins, a second (a double click) is refused."""
        pending = self.get(token, user_id, job_id, index)
        try:
            self._path(token).unlink()
        except FileNotFoundError:
            raise PreviewGone from None
        return pending

    def drop(self, token: str, user_id: int, job_id: int, index: int) -> None:
        """Forget a mask (Cancel); one already gone is fine."""
        with contextlib.suppress(PreviewGone):
            self.take(token, user_id, job_id, index)

    def sweep(self) -> int:
        """Delete expired previews; answers how many went."""
        if not self.folder.is_dir():
            return 0
        now, gone = self._now(), 0
        for path in self.folder.glob("*.json"):
            try:
                expired = float(json.loads(path.read_bytes())["expires"]) < now
            except FileNotFoundError:
                continue
            except (ValueError, KeyError, TypeError):
                expired = True
            if expired:
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    def _path(self, token: str) -> Path:
        if not TOKEN.fullmatch(token):
            raise PreviewGone
        return self.folder / f"{token}.json"
