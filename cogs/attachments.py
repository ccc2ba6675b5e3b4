"""Members' images, fetched safely: only from Discord's own attachment hosts, no redirects,
never more than the size limit, whatever the payload claims."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
import discord

from bot.errors import InvalidOption, Refusal
from bot.i18n import lazy_t
from engine import InvalidRequest
from engine.types import file_size

log = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
CHUNK = 64 * 1024


class AttachmentReader:
    """One HTTP session for members' uploads. Its URL comes from the interaction payload, so
    it is checked against ``origins`` before anything is fetched: a forged payload cannot make
    the bot fetch an internal address, and a redirect is refused rather than followed."""

    def __init__(self, origins: Sequence[str], limit: int) -> None:
        self._origins = tuple(origins)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def read(self, attachment: discord.Attachment | dict[str, Any]) -> bytes:
        url, size, content_type = _describe(attachment)
        if size > self._limit:
            raise InvalidOption(
                "image",
                None,
                lazy_t(
                    "the file is {size}; attach {most} at most",
                    size=file_size(size),
                    most=file_size(self._limit),
                ),
            )
        if content_type and not content_type.startswith("image/"):
            raise InvalidRequest(
                "image", None, "that file is not an image; attach a PNG, JPEG or WebP image instead"
            )
        if not url.startswith(self._origins):
            log.warning("Refused to fetch an attachment from %s", url.split("?")[0][:200])
            raise InvalidRequest("image", None, "attach an image uploaded to Discord instead")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        try:
            async with self._session.get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise Refusal("I couldn't download that image from Discord; try again.")
                data = bytearray()
                async for chunk in response.content.iter_chunked(CHUNK):
                    data += chunk
                    if len(data) > self._limit:
                        raise InvalidOption(
                            "image",
                            None,
                            lazy_t(
                                "it is a larger file than it said; attach {most} at most",
                                most=file_size(self._limit),
                            ),
                        )
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError):
            raise Refusal("I couldn't download that image from Discord; try again.") from None


def _describe(attachment: discord.Attachment | dict[str, Any]) -> tuple[str, int, str]:
    if isinstance(attachment, dict):
        return (
            str(attachment.get("url", "")),
            int(attachment.get("size", 0)),
            str(attachment.get("content_type") or ""),
        )
    return attachment.url, attachment.size, attachment.content_type or ""
