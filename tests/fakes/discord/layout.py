"""Layout components (Components V2, the ``IS_COMPONENTS_V2`` message flag): Discord's rules
for them, the media references it resolves, and readers for tests.

From Discord's components reference: a flagged message has no content, embeds, stickers or
poll; at most 40 components in all (nested ones counted, media gallery items not); at most
4000 characters of text across its text displays; a media gallery holds 1 to 10 items; a
section 1 to 3 text displays and one accessory (a button or a thumbnail); a container the
top-level kinds except another container; ``attachment://NAME`` names a file of the same
message (a file component takes nothing else)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .rules import SELECTS, invalid, walk

if TYPE_CHECKING:
    from .model import StoredFile

ACTION_ROW, BUTTON, SECTION, TEXT, THUMBNAIL, GALLERY, FILE, SEPARATOR, CONTAINER = (
    1,
    2,
    9,
    10,
    11,
    12,
    13,
    14,
    17,
)
TOP_LEVEL = (ACTION_ROW, SECTION, TEXT, GALLERY, FILE, SEPARATOR, CONTAINER)
IN_CONTAINER = (ACTION_ROW, SECTION, TEXT, GALLERY, FILE, SEPARATOR)
MAX_COMPONENTS = 40
MAX_TEXT = 4000
MAX_GALLERY = 10
MAX_DESCRIPTION = 1024
ATTACHMENT = "attachment://"


def check_layout(components: Sequence[dict[str, Any]], files: Sequence[str]) -> None:
    """A flagged message's components, ``files`` being the names of the files it will carry."""
    every = list(walk(components))
    if len(every) > MAX_COMPONENTS:
        raise invalid(
            "components", f"Must be {MAX_COMPONENTS} or fewer components (got {len(every)})."
        )
    text = sum(len(str(c.get("content") or "")) for c in every if c.get("type") == TEXT)
    if text > MAX_TEXT:
        raise invalid(
            "components", f"The text displays hold {text} characters; the limit is {MAX_TEXT}."
        )
    for i, component in enumerate(components):
        _check(f"components.{i}", component, TOP_LEVEL, set(files))


def _check(at: str, component: dict[str, Any], allowed: Sequence[int], files: set[str]) -> None:
    kind = component.get("type")
    if kind not in allowed:
        choices = ", ".join(map(str, allowed))
        raise invalid(f"{at}.type", f'Value of field "type" must be one of ({choices}).')
    if kind == ACTION_ROW:
        children = component.get("components") or []
        if not 1 <= len(children) <= 5:
            raise invalid(f"{at}.components", f"Must hold 1 to 5 components (got {len(children)}).")
        kinds = {child.get("type") for child in children}
        if not (kinds == {BUTTON} or (len(children) == 1 and kinds <= SELECTS)):
            raise invalid(f"{at}.components", "An action row holds buttons or one select menu.")
    elif kind == TEXT:
        if not isinstance(component.get("content"), str) or not component["content"]:
            raise invalid(f"{at}.content", "A text display needs its content.")
    elif kind == SECTION:
        texts = component.get("components") or []
        if not 1 <= len(texts) <= 3 or any(t.get("type") != TEXT for t in texts):
            raise invalid(f"{at}.components", "A section holds 1 to 3 text displays.")
        for j, text in enumerate(texts):
            _check(f"{at}.components.{j}", text, (TEXT,), files)
        accessory = component.get("accessory")
        if not isinstance(accessory, dict) or accessory.get("type") not in (BUTTON, THUMBNAIL):
            raise invalid(f"{at}.accessory", "A section needs a button or a thumbnail beside it.")
        if accessory["type"] == THUMBNAIL:
            _media(f"{at}.accessory", accessory, files)
    elif kind == GALLERY:
        items = component.get("items") or []
        if not 1 <= len(items) <= MAX_GALLERY:
            raise invalid(f"{at}.items", f"Must hold 1 to {MAX_GALLERY} items (got {len(items)}).")
        for j, item in enumerate(items):
            _media(f"{at}.items.{j}", item, files)
    elif kind == FILE:
        url = str((component.get("file") or {}).get("url") or "")
        if not url.startswith(ATTACHMENT):
            raise invalid(f"{at}.file.url", "A file component takes only attachment:// urls.")
        _reference(f"{at}.file.url", url, files)
    elif kind == SEPARATOR:
        if component.get("spacing", 1) not in (1, 2):
            raise invalid(f"{at}.spacing", "Must be 1 (small) or 2 (large).")
    elif kind == CONTAINER:
        accent = component.get("accent_color")
        if accent is not None and not 0 <= int(accent) <= 0xFFFFFF:
            raise invalid(f"{at}.accent_color", "Must be an RGB colour, 0 to 0xFFFFFF.")
        for j, child in enumerate(component.get("components") or []):
            _check(f"{at}.components.{j}", child, IN_CONTAINER, files)


def _media(at: str, item: dict[str, Any], files: set[str]) -> None:
    url = str((item.get("media") or {}).get("url") or "")
    if not url.startswith((ATTACHMENT, "https://", "http://")):
        raise invalid(f"{at}.media.url", "Must be an http(s) or attachment:// url.")
    description = item.get("description")
    if description is not None and len(str(description)) > MAX_DESCRIPTION:
        raise invalid(f"{at}.description", f"Must be {MAX_DESCRIPTION} or fewer in length.")
    _reference(f"{at}.media.url", url, files)


def _reference(at: str, url: str, files: set[str]) -> None:
    if url.startswith(ATTACHMENT) and url.removeprefix(ATTACHMENT) not in files:
        raise invalid(at, f"{url} names no file of this message.")


def resolve(components: Sequence[dict[str, Any]], files: Sequence[StoredFile]) -> list[Any]:
    """The components as Discord answers them: each ``attachment://`` reference resolved to
    the file's url, size, type and attachment id."""
    named = {stored.filename: stored for stored in files}
    resolved = copy.deepcopy(list(components))
    for component in walk(resolved):
        for media in _media_of(component):
            stored = named.get(str(media.get("url", "")).removeprefix(ATTACHMENT))
            if stored is None or not str(media.get("url", "")).startswith(ATTACHMENT):
                continue
            media |= {
                "url": stored.url,
                "proxy_url": stored.url,
                "attachment_id": str(stored.id),
                "content_type": stored.content_type,
            }
            if stored.size_px:
                media["width"], media["height"] = stored.size_px
    return resolved


def _media_of(component: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in component.get("items") or []:
        if isinstance(item.get("media"), dict):
            yield item["media"]
    for key in ("media", "file"):
        if isinstance(component.get(key), dict):
            yield component[key]


def texts(components: Sequence[dict[str, Any]]) -> list[str]:
    """Every text display's content, in reading order."""
    return [str(c.get("content")) for c in walk(components) if c.get("type") == TEXT]


def gallery(components: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every media gallery item, in order."""
    return [item for c in walk(components) if c.get("type") == GALLERY for item in c["items"]]


def shown_ids(components: Sequence[dict[str, Any]]) -> set[str]:
    """The attachment ids the components show (galleries, thumbnails, files)."""
    return {
        str(media["attachment_id"])
        for component in walk(components)
        for media in _media_of(component)
        if media.get("attachment_id")
    }


def count(components: Sequence[dict[str, Any]]) -> int:
    return len(list(walk(components)))


def by_type(components: Sequence[dict[str, Any]]) -> Mapping[int, int]:
    found: dict[int, int] = {}
    for component in walk(components):
        found[component.get("type", 0)] = found.get(component.get("type", 0), 0) + 1
    return found
