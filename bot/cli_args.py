"""The command line's options, each with its help, and the checks that refuse a bad value
before anything heavy (torch, a model, the database) is loaded."""

from __future__ import annotations

import argparse
import warnings
from importlib import metadata
from pathlib import Path

from PIL import Image

from bot import settings as settings_module
from bot.check import add_check_parser
from bot.models_cli import add_models_parser
from bot.settings import Settings
from engine import InvalidRequest
from engine.types import MAX_SEED

CONSOLE_USER = 0
DEMO_HELP = "use only the built-in demo provider: labelled placeholder images, no GPU or download"
# The same strength /imagine uses when a member attaches an image without choosing one.
DEFAULT_STRENGTH = 0.6
INPUT_FORMATS = ("PNG", "JPEG", "WEBP")

# The request fields the service names in its refusals, as the console spells them.
FLAGS = {
    **{name: f"--{name}" for name in ("width", "height", "steps", "guidance", "sampler", "seed")},
    **{name: f"--{name}" for name in ("count", "model", "strength", "image", "provider")},
    "prompt": "the prompt",
    "negative": "--negative",
    "negative_prompt": "--negative",
    "loras": "--lora",
    "lora": "--lora",
    "init_image": "--image",
}


class OptionError(Exception):
    """A command-line value the bot would refuse; the message names the option."""


def version() -> str:
    try:
        return metadata.version("imagebot")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def parser(description: str | None = None) -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m bot", description=description)
    main.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    _add_files(main, default=None)
    main.add_argument("--demo", action="store_true", help=DEMO_HELP)
    # The same options after a subcommand; SUPPRESS keeps them from hiding one given before it.
    files = argparse.ArgumentParser(add_help=False)
    _add_files(files, default=argparse.SUPPRESS)
    commands = main.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", parents=[files], help="start the Discord bot (the default)")
    run.add_argument("--demo", action="store_true", default=argparse.SUPPRESS, help=DEMO_HELP)
    commands.add_parser("migrate", parents=[files], help="apply database migrations and exit")
    add_models_parser(commands, [files])
    add_check_parser(commands, [files])
    backup = commands.add_parser(
        "backup",
        parents=[files],
        help="copy the SQLite database to a file, safely while the bot runs",
    )
    backup.add_argument(
        "--out",
        type=Path,
        help="file or folder for the copy (default: backups/ next to the database, "
        "named by the time)",
    )
    backup.add_argument("--overwrite", action="store_true", help="replace an existing file")
    commands.add_parser(
        "migrate-to-postgres",
        parents=[files],
        help="copy the SQLite database into an empty PostgreSQL one ($IMAGEBOT_POSTGRES_DSN); "
        "stop the bot first",
    ).add_argument(
        "--sqlite", type=Path, help="the SQLite file (default: the one storage settings name)"
    )
    commands.add_parser(
        "worker",
        parents=[files],
        help="scaled mode: run a GPU worker that takes jobs from Redis (docs/scaling.md)",
    )
    _add_generate(commands.add_parser("generate", parents=[files], help=_GENERATE))
    return main


_GENERATE = "run one job without Discord, to check a set-up"


def _add_files(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=default,
        help=f"TOML settings file (or ${settings_module.CONFIG_ENV})",
    )
    parser.add_argument(
        "--secrets",
        type=Path,
        default=default,
        help=f"TOML secrets file (or ${settings_module.SECRETS_ENV})",
    )


def _add_generate(generate: argparse.ArgumentParser) -> None:
    generate.description = _GENERATE
    add = generate.add_argument
    add("prompt", help="what the image shows")
    add("--demo", action="store_true", default=argparse.SUPPRESS, help=DEMO_HELP)
    add("--out", type=Path, required=True, help="folder for the images (created if missing)")
    add("--provider", help="provider name from the config (default: defaults.provider or first)")
    add("--model", help="model name of that provider (default: its first)")
    add("--negative", default="", help="negative prompt: what the image should not show")
    add("--width", type=int, help="width in pixels (default: defaults.width, else the model's)")
    add("--height", type=int, help="height in pixels (default: defaults.height, else the model's)")
    add("--steps", type=int, help="denoising steps (default: the model's)")
    add("--guidance", type=float, help="guidance scale, 0 to 30 (default: the model's)")
    add("--sampler", help="sampler name, e.g. 'Euler a' (default: the model's)")
    add("--seed", type=int, help=f"first seed, 0 to {MAX_SEED}; image k uses seed + k")
    add("--count", type=int, help="how many images (default: defaults.count)")
    add(
        "--lora",
        action="append",
        default=[],
        metavar="NAME[:WEIGHT]",
        help="a LoRA to apply, weight 1 unless given; repeat for several",
    )
    add("--image", type=Path, help="input image (PNG, JPEG or WebP): img2img from it")
    add(
        "--strength",
        type=float,
        help=f"with --image: how much to change it, more than 0, at most 1 "
        f"(default {DEFAULT_STRENGTH}, as /imagine)",
    )
    add("--user-id", type=int, default=CONSOLE_USER, help="whose quota to charge (default: 0)")


def check_generate(args: argparse.Namespace, settings: Settings) -> bytes | None:
    """Refuse what the bot's own limits refuse, naming the option; return the input image."""
    limits = settings.limits
    if not args.prompt.strip():
        raise OptionError("the prompt is empty: give some text describing the image")
    _check_range("--width", args.width, 64, limits.max_width, " pixels")
    _check_range("--height", args.height, 64, limits.max_height, " pixels")
    _check_range("--count", args.count, 1, limits.max_count)
    _check_range("--steps", args.steps, 1, limits.max_steps)
    _check_range("--seed", args.seed, 0, MAX_SEED)
    if args.guidance is not None and not 0 <= args.guidance <= 30:
        raise OptionError(f"--guidance can't be {args.guidance:g}: use 0 to 30")
    if args.strength is not None:
        if args.image is None:
            raise OptionError("--strength is only for img2img: give --image too")
        if not 0 < args.strength <= 1:
            raise OptionError(f"--strength can't be {args.strength:g}: use more than 0, at most 1")
    if args.image is None:
        return None
    return _read_image(args.image, limits.max_input_image_bytes)


def _check_range(flag: str, value: int | None, low: int, high: int, unit: str = "") -> None:
    if value is not None and not low <= value <= high:
        raise OptionError(f"{flag} can't be {value}: use {low} to {high}{unit}")


def _read_image(path: Path, limit: int) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise OptionError(f"--image {path}: {err.strerror}") from None
    if len(data) > limit:
        raise OptionError(
            f"--image {path} is {len(data) / 2**20:.1f} MiB: at most {limit / 2**20:g} MiB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image_format = image.format
                image.verify()
    except Image.DecompressionBombError:
        raise OptionError(f"--image {path} has far too many pixels to be an input") from None
    except Exception:
        raise OptionError(
            f"--image {path} is not a PNG, JPEG or WebP image (or it is damaged)"
        ) from None
    if image_format not in INPUT_FORMATS:
        raise OptionError(f"--image {path} is {image_format}: use a PNG, JPEG or WebP image")
    return data


def explain(err: InvalidRequest, args: argparse.Namespace) -> str:
    """The service's refusal, with the option as the console spells it; an image by its path."""
    flag = FLAGS.get(err.field)
    if flag is None:
        return str(err)
    if flag == "--image" and args.image is not None:
        return f"--image {args.image}: {err.allowed}"
    if err.value is None:
        return f"{flag}: {err.allowed}"
    return f"{flag} can't be {_show(err.value)}: {err.allowed}"


def _show(value: object) -> str:
    return value if isinstance(value, str) else repr(value)
