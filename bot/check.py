"""``python -m bot check``: settings, models, providers, device, disk and the Discord token, one
line each, green or red with the fix, without loading weights or opening the gateway."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import discord
import httpx

from bot import settings as settings_module
from bot.app import PERMISSIONS, SCOPES, invite_url
from bot.errors import BotError
from bot.freespace import MB, shortage, watched_paths
from bot.settings import LoadedSettings, default_api_key_env
from engine import EngineError, Provider, ProviderConfigError
from engine.registry import ProviderConfig, build_provider

PROVIDER_SECONDS = 10.0
DISCORD_SECONDS = 10.0
HELP = "check settings, models, providers, device, disk and the Discord token, then exit"


@dataclass(frozen=True)
class Line:
    item: str
    ok: bool
    text: str
    fix: str | None = None


def add_check_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    commands.add_parser("check", parents=parents, help=HELP, description=HELP)


def run_check(args: argparse.Namespace) -> int:
    """Print one line per item; 1 when any is red."""
    return report(asyncio.run(check(args.config, args.secrets)), sys.stdout)


def report(lines: list[Line], out: TextIO) -> int:
    colour = out.isatty()
    for line in lines:
        out.write(render(line, colour) + "\n")
    return 0 if all(line.ok for line in lines) else 1


def render(line: Line, colour: bool) -> str:
    mark = "✓" if line.ok else "✗"
    if colour:
        mark = f"\033[{'32' if line.ok else '31'}m{mark}\033[0m"
    text = f"{mark} {line.item}: {line.text}"
    return f"{text} — fix: {line.fix}" if line.fix else text


async def check(config: Any = None, secrets: Any = None) -> list[Line]:
    try:
        loaded = settings_module.load(config, secrets)
    except BotError as err:
        return [Line("settings", False, str(err), "correct the setting it names, then rerun")]
    where = loaded.source or "defaults and environment"
    lines = [Line("settings", True, f"loaded from {where}")]
    lines += check_local_models(loaded)
    lines += await check_providers(loaded)
    lines += await check_prompt_helper(loaded)
    lines += check_device(loaded)
    lines += check_disk(loaded)
    lines += await check_discord(loaded)
    return lines


def _local_engines(loaded: LoadedSettings) -> list[tuple[str, Any]]:
    from engine.local.options import parse_local_options  # noqa: PLC0415 (no torch here)

    return [
        (name, parse_local_options(provider.options))
        for name, provider in loaded.settings.providers.items()
        if provider.kind == "local" and provider.enabled
    ]


def check_local_models(loaded: LoadedSettings) -> list[Line]:
    from engine.local.models import check_models  # noqa: PLC0415

    lines = []
    for provider, options in _local_engines(loaded):
        for state in check_models(options, online=False):
            item = f"model {provider}/{state.name}"
            if state.problem is not None:
                problem, _, fix = state.problem.rpartition(": ")
                lines.append(Line(item, False, problem or state.problem, fix or None))
            elif not state.present:
                lines.append(
                    Line(
                        item,
                        False,
                        f"{state.source} is not downloaded into {state.where}",
                        "run `python -m bot models pull` on a connected machine",
                    )
                )
            else:
                about = f" ({state.summary})" if state.summary else ""
                lines.append(Line(item, True, f"present at {state.where}{about}"))
        lines += _adapter_lines(provider, options)
    return lines


def _adapter_lines(provider: str, options: Any) -> list[Line]:
    from engine.local.references import adapter_present, adapter_problem  # noqa: PLC0415

    lines = []
    for name, adapter in options.adapters.items():
        item = f"adapter {provider}/{name}"
        problem = adapter_problem(adapter)
        if problem is not None:
            lines.append(Line(item, False, problem, "fix its source, subfolder or weight_name"))
        elif not adapter_present(adapter, options.cache_dir):
            lines.append(
                Line(
                    item,
                    False,
                    f"{adapter.source} is not downloaded",
                    "run `python -m bot models pull` on a connected machine",
                )
            )
        else:
            lines.append(Line(item, True, f"{adapter.kind} references on {adapter.family}"))
    return lines


async def check_providers(loaded: LoadedSettings) -> list[Line]:
    """Each enabled remote provider's own start-up health check, bounded in time; the local
    engine is checked through its models (building it would import torch and diffusers)."""
    lines = []
    for name, provider_settings in loaded.settings.providers.items():
        if provider_settings.kind == "local" or not provider_settings.enabled:
            continue
        item = f"provider {name}"
        key = loaded.secrets.provider_keys.get(name)
        config = ProviderConfig(
            name, provider_settings.options, key.get_secret_value() if key else None
        )
        try:
            provider = build_provider(provider_settings.kind, config)
        except ProviderConfigError as err:
            fix = f"set providers.{name}.{err.key} to {err.allowed}"
            lines.append(Line(item, False, f"{err.key} = {err.value!r} is not allowed", fix))
            continue
        env = provider_settings.api_key_env or default_api_key_env(name)
        fix = f"check providers.{name}.base_url and the key in ${env} (or the secrets file)"
        lines += await _start(provider, item, fix)
    return lines


async def check_prompt_helper(loaded: LoadedSettings) -> list[Line]:
    from bot.prompt_helper.health import ITEM, probe  # noqa: PLC0415

    found = await probe(loaded)
    return [] if found is None else [Line(ITEM, *found)]


async def _start(provider: Provider, item: str, fix: str) -> list[Line]:
    """The provider's line, then one red line per model its start-up check left out."""
    try:
        await asyncio.wait_for(provider.start(), PROVIDER_SECONDS)
    except TimeoutError:
        return [Line(item, False, f"no answer in {PROVIDER_SECONDS:g} s", fix)]
    except EngineError as err:
        return [Line(item, False, err.user_message, fix)]
    finally:
        await provider.close()
    left_out = [
        Line(f"{item}/{model}", False, "; ".join(problems), "fix it, or remove it from the config")
        for model, problems in provider.left_out().items()
    ]
    if provider.unavailable is not None:
        return [Line(item, False, provider.unavailable, fix), *left_out]
    return [Line(item, True, "reachable, answers its health check"), *left_out]


def check_device(loaded: LoadedSettings) -> list[Line]:
    """Only where a local engine would use it: importing torch takes seconds."""
    engines = _local_engines(loaded)
    if not engines:
        return []
    import torch  # noqa: PLC0415

    wanted = {options.device for _, options in engines}
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        name = torch.cuda.get_device_name()
        return [Line("device", True, f"CUDA {name}, {free // MB} MB of {total // MB} MB VRAM free")]
    if "cuda" in wanted:
        return [
            Line(
                "device",
                False,
                'device = "cuda" is set but CUDA is not available',
                'install the CUDA build of torch and the NVIDIA driver, or set device = "auto"',
            )
        ]
    return [Line("device", True, "CPU (no CUDA): images take minutes, not seconds")]


def check_disk(loaded: LoadedSettings) -> list[Line]:
    settings = loaded.settings
    lines = []
    for path in watched_paths(settings):
        existing = next((p for p in (path, *path.parents) if p.exists()), path)
        short = shortage([path], settings.storage.min_free_mb)
        if short is not None:
            fix = "free some space there, or lower storage.min_free_mb"
            lines.append(Line(f"disk {path}", False, short, fix))
        else:
            free = shutil.disk_usage(existing).free
            lines.append(Line(f"disk {path}", True, f"{free // MB} MB free"))
    return lines


async def check_discord(loaded: LoadedSettings) -> list[Line]:
    """The token against REST only (/users/@me, /oauth2/applications/@me); no gateway."""
    token = loaded.secrets.discord_token
    if token is None:
        return [
            Line(
                "discord token",
                False,
                "not set",
                "export DISCORD_TOKEN (the Bot page of your application at "
                "https://discord.com/developers/applications)",
            )
        ]
    api = loaded.settings.discord.api_base
    headers = {"Authorization": f"Bot {token.get_secret_value()}"}
    try:
        async with httpx.AsyncClient(timeout=DISCORD_SECONDS, headers=headers) as client:
            me = await client.get(f"{api}/users/@me")
            if me.status_code in (401, 403):
                return [
                    Line(
                        "discord token",
                        False,
                        f"refused by Discord ({me.status_code})",
                        'reset the token on your application\'s "Bot" page and set '
                        "DISCORD_TOKEN to the new one",
                    )
                ]
            me.raise_for_status()
            application = await client.get(f"{api}/oauth2/applications/@me")
            application.raise_for_status()
    except httpx.HTTPError as err:
        return [
            Line(
                "discord",
                False,
                f"{api} could not be reached ({err.__class__.__name__}: {err})",
                "check the network, DNS and firewall, and discord.api_base",
            )
        ]
    user = me.json()
    return [
        Line("discord token", True, f"accepted: logged in as {user.get('username')}"),
        _application(loaded, application.json()),
    ]


def _application(loaded: LoadedSettings, application: dict[str, Any]) -> Line:
    """The application id, and whether its own install link (the portal's "Installation"
    settings, where set) grants what the bot needs; the bot's invite link always does."""
    application_id = int(application["id"])
    link = invite_url(application_id)
    configured = loaded.settings.discord.application_id
    if configured is not None and configured != application_id:
        return Line(
            "discord application",
            False,
            f"the token belongs to application {application_id}, the config says {configured}",
            f"set discord.application_id = {application_id} or use that application's token",
        )
    install = application.get("install_params") or {}
    if install:
        granted = discord.Permissions(int(install.get("permissions") or 0))
        missing = [name for name, wanted in PERMISSIONS if wanted and not getattr(granted, name)]
        missing += [scope for scope in SCOPES if scope not in install.get("scopes", ())]
        if missing:
            return Line(
                "discord invite",
                False,
                f"the application's install link leaves out {', '.join(missing)}",
                f"invite the bot with {link} or add them under Installation in the developer "
                "portal",
            )
    return Line("discord invite", True, f"application {application_id}: {link}")
