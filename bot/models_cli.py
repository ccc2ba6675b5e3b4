"""``python -m bot models list`` and ``models pull``: the local engine's configured models, where
they live, whether they are present, and downloading them ahead of going live."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.settings import LoadedSettings


def add_models_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """``models list`` and ``models pull``; ``parents`` carries the options every command takes."""
    models = commands.add_parser("models", help="list or download the local engine's models")
    actions = models.add_subparsers(dest="models_command", required=True)
    actions.add_parser(
        "list",
        parents=parents,
        help="each configured model: where it lives, whether it is present, its size",
    )
    pull = actions.add_parser(
        "pull",
        parents=parents,
        help="download the configured models (and their tiny decoders and helpers) from the hub",
    )
    pull.add_argument(
        "names", nargs="*", metavar="NAME", help="models to fetch (default: all configured)"
    )


def run_models(loaded: LoadedSettings, args: argparse.Namespace) -> int:
    # Imported here: the other commands need neither the hub client nor the engine's options.
    from engine.local.options import parse_local_options  # noqa: PLC0415

    engines = [
        (name, parse_local_options(provider.options))
        for name, provider in loaded.settings.providers.items()
        if provider.kind == "local" and provider.enabled
    ]
    if not engines:
        print("No local engine is configured: remote providers keep their own models.")
        return 0
    if args.models_command == "list":
        return _list(engines)
    pulled = _pull(engines, args.names)
    if pulled == 0:
        return _convert(engines, args.names, loaded.settings.storage.data_dir)
    return pulled


def _list(engines: list[tuple[str, Any]]) -> int:
    from engine.local.hub import human_size  # noqa: PLC0415
    from engine.local.models import check_models  # noqa: PLC0415

    for provider, options in engines:
        print(f"[{provider}]")
        for state in check_models(options, online=False):
            if state.problem is not None:
                status = "broken"
            elif state.present:
                status = "present"
            else:
                status = "missing"
            size = human_size(state.size) if state.present else "-"
            print(f"  {state.name:<24} {status:<8} {size:>9}  {state.source} -> {state.where}")
            about = state.summary or " · ".join(p for p in (state.family, state.licence) if p)
            if about:
                print(f"    {about}")
            if state.problem is not None:
                print(f"    {state.problem}")
            elif not state.present:
                print("    not downloaded yet: `python -m bot models pull` fetches it")
        _list_adapters(options)
    return 0


def _list_adapters(options: Any) -> None:
    from engine.local.references import adapter_present, adapter_problem  # noqa: PLC0415

    for name, adapter in options.adapters.items():
        problem = adapter_problem(adapter)
        present = problem is None and adapter_present(adapter, options.cache_dir)
        status = "broken" if problem else "present" if present else "missing"
        print(f"  {name + ' (adapter)':<24} {status:<8} {'':>9}  {adapter.source}")
        about = f"{adapter.kind} references on {adapter.family}"
        print(f"    {about}" + (f" · {adapter.licence}" if adapter.licence else ""))
        if problem is not None:
            print(f"    {problem}")
        elif not present:
            print("    not downloaded yet: `python -m bot models pull` fetches its files")


def _pull(engines: list[tuple[str, Any]], names: list[str]) -> int:
    from engine.local.hub import (  # noqa: PLC0415
        ModelLoadError,
        cache_folder,
        cached,
        download,
        human_size,
        remote_files,
    )
    from engine.local.models import check_model, configured  # noqa: PLC0415

    entries = [
        (options, name, spec) for _, options in engines for name, spec in configured(options)
    ]
    known = {name for _, name, _ in entries} | {
        name for _, options in engines for name in options.adapters
    }
    unknown = [name for name in names if name not in known]
    if unknown:
        print(f"No configured model named {', '.join(unknown)}; `models list` shows them.")
        return 2
    failed = False
    for options, name, spec in entries:
        if names and name.split(" (")[0] not in names:
            continue
        if spec.kind != "repo":
            state = check_model(name, spec, options.cache_dir, online=False)
            print(f"{name}: {state.problem or f'local, at {state.where}'}")
            failed |= state.problem is not None
            continue
        if cached(spec.source, options.cache_dir) is not None:
            print(f"{name}: {spec.source} is already in {cache_folder(options.cache_dir)}")
            continue
        try:
            files = remote_files(spec.source, spec.variant)
            print(
                f"{name}: fetching {spec.source}, {len(files)} files, "
                f"{human_size(sum(files.values()))}, into {cache_folder(options.cache_dir)}",
                flush=True,
            )
            download(spec.source, files, options.cache_dir, bars=True)
        except ModelLoadError as err:
            print(f"{name}: {err}", file=sys.stderr)
            failed = True
    for _, options in engines:
        failed |= _pull_adapters(options, names)
    return 1 if failed else 0


def _pull_adapters(options: Any, names: list[str]) -> bool:
    """Each reference adapter's own files (never its whole repo); True where one failed."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415

    from engine.local.hub import cache_folder  # noqa: PLC0415
    from engine.local.references import adapter_downloads, adapter_problem  # noqa: PLC0415

    failed = False
    for name, adapter in options.adapters.items():
        if names and name not in names:
            continue
        problem = adapter_problem(adapter)
        if problem is not None:
            print(f"{name}: {problem}")
            failed = True
            continue
        downloads = adapter_downloads(adapter)
        if not downloads:
            print(f"{name}: local, at {adapter.source}")
        for repo, patterns in downloads:
            print(
                f"{name}: fetching {', '.join(patterns)} of {repo} into "
                f"{cache_folder(options.cache_dir)}",
                flush=True,
            )
            try:
                snapshot_download(repo, allow_patterns=patterns, cache_dir=options.cache_dir)
            except Exception as err:
                print(f"{name}: {repo}: {err}", file=sys.stderr)
                failed = True
    return failed


def _convert(engines: list[tuple[str, Any]], names: list[str], data_dir: Any) -> int:
    """The models that run on OpenVINO here, converted now rather than at the next start."""
    from engine.local.openvino.options import installed  # noqa: PLC0415

    if not installed():
        return 0
    from engine.local.openvino.pull import convert_models  # noqa: PLC0415 (torch)

    failed = False
    for _, options in engines:
        problems = convert_models(options, data_dir, names, lambda line: print(line, flush=True))
        for name, problem in problems.items():
            print(
                f"{name}: OpenVINO conversion failed, it will run on PyTorch: {problem}",
                file=sys.stderr,
            )
            failed = True
    return 1 if failed else 0
