"""Discord's limits and refusals. Each check raises ``Refused`` carrying the status, code and
message Discord answers with; the server turns it into that answer and records a violation."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import discord
from aiohttp import web

from .payloads import COMPONENTS_V2, reply

NAME = re.compile(r"[-_'\w]{1,32}")
SELECTS = {3, 5, 6, 7, 8}
TEXT_INPUT = 4
LABEL = 18
FILE_UPLOAD = 19


@dataclass
class Upload:
    """One file part of a multipart request."""

    field: str
    filename: str
    data: bytes
    index: int | None


class Refused(Exception):
    def __init__(
        self, status: int, code: int, message: str, *, detail: str = "", field: str | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}" + (f": {detail}" if detail else ""))
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.field = field

    def response(self) -> web.Response:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.field:
            # Nested like Discord's form errors, which discord.py flattens into its message.
            errors: dict[str, Any] = {"_errors": [{"code": "INVALID", "message": self.detail}]}
            for part in reversed(self.field.split(".")):
                errors = {part: errors}
            body["errors"] = errors
        return reply(body, self.status)


def invalid(field: str, detail: str) -> Refused:
    return Refused(400, 50035, "Invalid Form Body", field=field, detail=detail)


def missing_access(detail: str) -> Refused:
    return Refused(403, 50001, "Missing Access", detail=detail)


def missing_permissions(detail: str) -> Refused:
    return Refused(403, 50013, "Missing Permissions", detail=detail)


def unknown_message(detail: str = "") -> Refused:
    return Refused(404, 10008, "Unknown Message", detail=detail)


def unknown_channel(detail: str = "") -> Refused:
    return Refused(404, 10003, "Unknown Channel", detail=detail)


def unknown_interaction(detail: str = "") -> Refused:
    return Refused(404, 10062, "Unknown interaction", detail=detail)


def unknown_webhook(detail: str = "") -> Refused:
    return Refused(404, 10015, "Unknown Webhook", detail=detail)


def invalid_token(detail: str = "") -> Refused:
    return Refused(401, 50027, "Invalid Webhook Token", detail=detail)


def already_acknowledged() -> Refused:
    return Refused(400, 40060, "Interaction has already been acknowledged.")


def walk(components: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component, nested ones included (rows, labels, sections, containers)."""
    for component in components:
        yield component
        yield from walk(component.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(component.get(key), dict):
                yield from walk([component[key]])


def _length(field: str, value: Any, limit: int) -> int:
    text = "" if value is None else str(value)
    if len(text) > limit:
        raise invalid(field, f"Must be {limit} or fewer in length (got {len(text)}).")
    return len(text)


def check_embeds(embeds: Sequence[dict[str, Any]]) -> None:
    if len(embeds) > 10:
        raise invalid("embeds", f"Must be 10 or fewer in length (got {len(embeds)}).")
    total = 0
    for i, embed in enumerate(embeds):
        at = f"embeds.{i}"
        total += _length(f"{at}.title", embed.get("title"), 256)
        total += _length(f"{at}.description", embed.get("description"), 4096)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise invalid(f"{at}.fields", f"Must be 25 or fewer in length (got {len(fields)}).")
        for j, item in enumerate(fields):
            total += _length(f"{at}.fields.{j}.name", item.get("name"), 256)
            total += _length(f"{at}.fields.{j}.value", item.get("value"), 1024)
        total += _length(f"{at}.footer.text", (embed.get("footer") or {}).get("text"), 2048)
        total += _length(f"{at}.author.name", (embed.get("author") or {}).get("name"), 256)
    if total > 6000:
        raise invalid("embeds", f"Embed size exceeds maximum size of 6000 (got {total}).")


def _check_item(at: str, item: dict[str, Any], seen: set[str]) -> None:
    custom_id = item.get("custom_id")
    if custom_id is not None:
        _length(f"{at}.custom_id", custom_id, 100)
        if custom_id in seen:
            raise invalid(f"{at}.custom_id", f"Component custom id {custom_id!r} is duplicated.")
        seen.add(custom_id)
    if item.get("type") == 2:
        _length(f"{at}.label", item.get("label"), 80)
        link = item.get("style") == 5
        if link != ("url" in item) or (not link and custom_id is None and item.get("style") != 6):
            raise invalid(at, "A link button needs a url; any other button a custom_id.")


def check_components(components: Sequence[dict[str, Any]], *, v2: bool) -> None:
    seen: set[str] = set()
    if v2:  # the layout itself is checked by ``layout.check_layout``
        for i, item in enumerate(walk(components)):
            _check_item(f"components.{i}", item, seen)
        return
    if len(components) > 5:
        raise invalid("components", f"Must be 5 or fewer in length (got {len(components)}).")
    for i, row in enumerate(components):
        at = f"components.{i}"
        if row.get("type") != 1:
            raise invalid(f"{at}.type", "Top-level components must be action rows (type 1).")
        children = row.get("components") or []
        if not 1 <= len(children) <= 5:
            raise invalid(f"{at}.components", f"Must hold 1 to 5 components (got {len(children)}).")
        if len(children) > 1 and any(child.get("type") in SELECTS for child in children):
            raise invalid(f"{at}.components", "A select menu fills its action row alone.")
        for j, child in enumerate(children):
            _check_item(f"{at}.components.{j}", child, seen)


def check_message(
    body: dict[str, Any],
    uploads: Sequence[Upload],
    *,
    upload_limit: int,
    flags: int,
    kept: int = 0,
) -> None:
    """The limits every create or edit must meet, ``flags`` being the message's flags after
    it (emptiness is the caller's: it depends on what an edit keeps)."""
    _length("content", body.get("content"), 2000)
    embeds = body.get("embeds") or []
    check_embeds(embeds)
    v2 = bool(flags & COMPONENTS_V2)
    check_components(body.get("components") or [], v2=v2)
    if v2 and (body.get("content") or embeds or body.get("sticker_ids") or body.get("poll")):
        raise invalid(
            "content", "A components v2 message cannot have content, embeds, stickers or a poll."
        )
    if len(uploads) + kept > 10:
        raise invalid("attachments", f"Must be 10 or fewer in length (got {len(uploads) + kept}).")
    total = sum(len(upload.data) for upload in uploads)
    if total > upload_limit:
        raise Refused(
            413,
            40005,
            "Request entity too large",
            detail=f"{total} bytes of files, limit {upload_limit}",
        )


def check_not_empty(*parts: Any) -> None:
    if not any(parts):
        raise Refused(400, 50006, "Cannot send an empty message")


def check_content_permissions(
    permissions: discord.Permissions, body: dict[str, Any], uploads: Sequence[Upload], where: str
) -> None:
    if uploads and not permissions.attach_files:
        raise missing_permissions(f"files need attach_files, which the bot lacks in {where}")
    if body.get("embeds") and not permissions.embed_links:
        raise missing_permissions(f"embeds need embed_links, which the bot lacks in {where}")


def check_modal(data: dict[str, Any]) -> None:
    title = data.get("title") or ""
    if not 1 <= len(title) <= 45:
        raise invalid("data.title", f"Must be 1 to 45 characters (got {len(title)}).")
    if not 1 <= len(data.get("custom_id") or "") <= 100:
        raise invalid("data.custom_id", "Must be 1 to 100 characters.")
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        raise invalid("data.components", f"Must be 1 to 5 in length (got {len(components)}).")
    seen: set[str] = set()
    for i, top in enumerate(components):
        at = f"data.components.{i}"
        kind = top.get("type")
        if kind == 1:
            children = top.get("components") or []
            if len(children) != 1 or children[0].get("type") != TEXT_INPUT:
                raise invalid(at, "An action row in a modal holds exactly one text input.")
            _check_input(f"{at}.components.0", children[0], seen, labelled=False)
        elif kind == LABEL:
            _length(f"{at}.label", top.get("label"), 45)
            inner = top.get("component") or {}
            if inner.get("type") == TEXT_INPUT:
                _check_input(f"{at}.component", inner, seen, labelled=True)
            elif inner.get("type") == FILE_UPLOAD:
                _check_file_upload(f"{at}.component", inner, seen)
            else:
                _check_item(f"{at}.component", inner, seen)
        elif kind != 10:
            raise invalid(f"{at}.type", f"Component type {kind} cannot be a modal's top level.")


def _check_input(at: str, item: dict[str, Any], seen: set[str], *, labelled: bool) -> None:
    _check_item(at, item, seen)
    if not item.get("custom_id"):
        raise invalid(f"{at}.custom_id", "A text input needs a custom_id.")
    if not labelled:
        _length(f"{at}.label", item.get("label"), 45)
    if item.get("style") not in (1, 2):
        raise invalid(f"{at}.style", "Must be 1 (short) or 2 (paragraph).")
    _length(f"{at}.value", item.get("value"), 4000)
    _length(f"{at}.placeholder", item.get("placeholder"), 100)
    for key in ("min_length", "max_length"):
        if item.get(key) is not None and not 0 <= item[key] <= 4000:
            raise invalid(f"{at}.{key}", "Must be between 0 and 4000.")


def _check_file_upload(at: str, item: dict[str, Any], seen: set[str]) -> None:
    """A file upload lives only in a modal's label and takes 0..10 files (at least 1 as its
    maximum)."""
    _check_item(at, item, seen)
    if not item.get("custom_id"):
        raise invalid(f"{at}.custom_id", "A file upload needs a custom_id.")
    low, high = item.get("min_values"), item.get("max_values")
    if low is not None and not 0 <= low <= 10:
        raise invalid(f"{at}.min_values", "Must be between 0 and 10.")
    if high is not None and not 1 <= high <= 10:
        raise invalid(f"{at}.max_values", "Must be between 1 and 10.")


def check_choices(data: dict[str, Any]) -> None:
    choices = data.get("choices") or []
    if len(choices) > 25:
        raise invalid("data.choices", f"Must be 25 or fewer in length (got {len(choices)}).")
    for i, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name", ""))) <= 100:
            raise invalid(f"data.choices.{i}.name", "Must be 1 to 100 characters.")
        if isinstance(choice.get("value"), str):
            _length(f"data.choices.{i}.value", choice["value"], 100)


def check_commands(commands: Any) -> None:
    """What Discord checks when the bot overwrites its commands."""
    if not isinstance(commands, list):
        raise invalid("_", "Must be a list of commands.")
    seen: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind, name = command.get("type", 1), command.get("name") or ""
        if (kind, name) in seen:
            raise invalid(f"{i}.name", f"Application command names must be unique ({name!r}).")
        seen.add((kind, name))
        if kind == 1:
            _check_named(str(i), command)
            _check_options(str(i), command.get("options") or [], depth=0)
        elif not 1 <= len(name) <= 32:
            raise invalid(f"{i}.name", "Must be 1 to 32 characters.")


def _check_named(at: str, item: dict[str, Any]) -> None:
    name = item.get("name") or ""
    if not NAME.fullmatch(name) or name != name.lower():
        raise invalid(
            f"{at}.name", f"Must be 1 to 32 lowercase letters, digits, - or _ ({name!r})."
        )
    if not 1 <= len(item.get("description") or "") <= 100:
        raise invalid(f"{at}.description", "Must be 1 to 100 characters.")


def _check_options(at: str, options: list[dict[str, Any]], *, depth: int) -> None:
    if len(options) > 25:
        raise invalid(f"{at}.options", f"Must be 25 or fewer in length (got {len(options)}).")
    names: set[str] = set()
    optional = False
    for j, option in enumerate(options):
        where = f"{at}.options.{j}"
        _check_named(where, option)
        if option["name"] in names:
            raise invalid(f"{where}.name", f"Option names must be unique ({option['name']!r}).")
        names.add(option["name"])
        kind = option.get("type")
        if kind in (1, 2):
            if depth > (0 if kind == 2 else 1):
                raise invalid(f"{where}.type", "Subcommands nest at most two levels deep.")
            _check_options(where, option.get("options") or [], depth=depth + 1)
            continue
        if option.get("required"):
            if optional:
                raise invalid(where, "Required options must be placed before optional ones.")
        else:
            optional = True
        choices = option.get("choices") or []
        if len(choices) > 25:
            raise invalid(
                f"{where}.choices", f"Must be 25 or fewer in length (got {len(choices)})."
            )
        if choices and option.get("autocomplete"):
            raise invalid(where, "Autocomplete and choices are mutually exclusive.")
