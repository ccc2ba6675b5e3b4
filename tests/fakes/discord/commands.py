"""Application commands as the bot synced them: finding one by its path and building the
options a Discord client would send. What a client would refuse to send fails the test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SUBCOMMAND, GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
RESOLVED_TYPES = {USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT}
MAX_SAFE_INTEGER = 2**53

# (option schema, value) -> (id, [(resolved section, id, payload), ...])
Resolve = Callable[[dict[str, Any], Any], tuple[int, list[tuple[str, int, dict[str, Any]]]]]


def find(
    commands: list[dict[str, Any]], path: str, kind: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]] | None:
    """The root command, the subcommand chain under it and the leaf's options; None when no
    root of that name and kind was synced. A menu's name (user and message commands) may hold
    spaces and has no subcommands."""
    names = path.split() if kind == 1 else [path]
    root = next((c for c in commands if c.get("type", 1) == kind and c["name"] == names[0]), None)
    if root is None:
        return None
    node, chain = root, []
    for name in names[1:]:
        subs = [o for o in node.get("options") or [] if o["type"] in (SUBCOMMAND, GROUP)]
        sub = next((o for o in subs if o["name"] == name), None)
        if sub is None:
            raise AssertionError(
                f"/{path}: {node['name']!r} has no subcommand {name!r}; it has "
                f"{[o['name'] for o in subs]}"
            )
        chain.append(sub)
        node = sub
    subs = [o["name"] for o in node.get("options") or [] if o["type"] in (SUBCOMMAND, GROUP)]
    if subs:
        raise AssertionError(f"/{path} is a group: name one of its subcommands {subs}")
    return root, chain, list(node.get("options") or [])


def nest(chain: list[dict[str, Any]], options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for sub in reversed(chain):
        options = [{"type": sub["type"], "name": sub["name"], "options": options}]
    return options


def build(
    path: str,
    schema: list[dict[str, Any]],
    given: dict[str, Any],
    resolve: Resolve,
    *,
    focused: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The ``options`` and ``resolved`` of the interaction data, in the schema's order."""
    named = {option["name"]: option for option in schema}
    unknown = sorted(set(given) - set(named))
    if unknown:
        raise AssertionError(f"/{path} has no option {unknown}; it has {list(named)}")
    if focused is not None and focused not in given:
        raise AssertionError(f"the focused option {focused!r} needs a value in the options")
    options: list[dict[str, Any]] = []
    resolved: dict[str, dict[str, Any]] = {}
    for option in schema:
        name = option["name"]
        if name not in given:
            if option.get("required") and focused is None:
                raise AssertionError(f"/{path} needs its required option {name!r}")
            continue
        if name == focused:
            if not option.get("autocomplete"):
                raise AssertionError(f"/{path} {name}: the option has no autocomplete")
            # A client sends what was typed so far, as text.
            options.append(
                {"type": option["type"], "name": name, "value": str(given[name]), "focused": True}
            )
            continue
        value = coerce(path, option, given[name], resolve, resolved)
        options.append({"type": option["type"], "name": name, "value": value})
    return options, resolved


def coerce(
    path: str,
    option: dict[str, Any],
    value: Any,
    resolve: Resolve,
    resolved: dict[str, dict[str, Any]],
) -> Any:
    kind = option["type"]
    where = f"/{path} {option['name']}={value!r}"
    if kind == STRING:
        _expect(isinstance(value, str), where, "a str")
        low, high = option.get("min_length"), option.get("max_length")
        _expect(low is None or len(value) >= low, where, f"at least {low} characters")
        _expect(high is None or len(value) <= high, where, f"at most {high} characters")
    elif kind in (INTEGER, NUMBER):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        _expect(number and (kind == NUMBER or isinstance(value, int)), where, "a number")
        _expect(abs(value) <= MAX_SAFE_INTEGER, where, "within ±2**53")
        low, high = option.get("min_value"), option.get("max_value")
        _expect(low is None or value >= low, where, f"at least {low}")
        _expect(high is None or value <= high, where, f"at most {high}")
    elif kind == BOOLEAN:
        _expect(isinstance(value, bool), where, "a bool")
    elif kind in RESOLVED_TYPES:
        ident, entries = resolve(option, value)
        for section, key, payload in entries:
            resolved.setdefault(section, {})[str(key)] = payload
        return str(ident)
    else:
        raise AssertionError(f"{where}: the fake does not know option type {kind}")
    choices = [choice["value"] for choice in option.get("choices") or []]
    _expect(not choices or value in choices, where, f"one of the choices {choices}")
    return value


def _expect(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise AssertionError(f"{where}: a Discord client only sends {what} here")
