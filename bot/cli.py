"""The command line: ``run`` (the default) starts the bot, ``generate`` runs one job through the
real path without Discord, ``migrate`` brings the database up to date, ``backup`` copies it."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bot import cli_args, logs
from bot import settings as settings_module
from bot.app import NO_TOKEN_HELP, invite_url
from bot.check import run_check
from bot.errors import BotError, Refusal
from bot.jobs import Job, JobStatus, Requester, StoredImage
from bot.models_cli import run_models
from bot.runtime import open_runtime
from bot.serve import serve
from bot.settings import LoadedSettings
from bot.storage import open_database
from bot.storage.backup import back_up
from bot.storage.backup import describe as describe_backup
from bot.storage.copy import migrate_to_postgres
from engine import EngineError, GenerationRequest, InvalidRequest, LoraRef, Mode, Progress

log = logging.getLogger(__name__)

CONSOLE_ORIGIN = "cli"
DEMO_NOTICE = (
    "Demo mode: the built-in demo provider draws placeholder pictures labelled DEMO; "
    "no model is loaded or downloaded."
)


def main(argv: Sequence[str] | None = None) -> int:
    args = cli_args.parser(__doc__).parse_args(argv)
    if args.command == "check":  # it reports a settings problem as one of its red lines
        return run_check(args)
    try:
        loaded = settings_module.load(args.config, args.secrets)
    except BotError as err:
        print(err, file=sys.stderr)
        return 2
    if getattr(args, "demo", False):
        loaded = settings_module.demo(loaded)
        print(DEMO_NOTICE, file=sys.stderr)
    logs.configure(loaded.settings.log_level)
    command = args.command or "run"
    try:
        if command == "generate":
            return asyncio.run(_generate(loaded, args))
        if command == "models":
            return run_models(loaded, args)
        if command == "migrate":
            return asyncio.run(_migrate(loaded))
        if command == "backup":
            return _backup(loaded, args)
        if command == "migrate-to-postgres":
            return asyncio.run(migrate_to_postgres(loaded, args.sqlite))
        if command == "worker":
            from bot.scale.gpu import run_worker  # noqa: PLC0415 (scaled-mode packages)

            return asyncio.run(run_worker(loaded))
        return _run(loaded)
    except (BotError, EngineError) as err:
        print(getattr(err, "user_message", None) or err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(loaded: LoadedSettings) -> int:
    if loaded.secrets.discord_token is None:
        print(NO_TOKEN_HELP, file=sys.stderr)
        application_id = loaded.settings.discord.application_id
        if application_id is not None:
            print(f"Invite link for application {application_id}: {invite_url(application_id)}")
        return 2
    return asyncio.run(serve(loaded))


async def _migrate(loaded: LoadedSettings) -> int:
    """Bring the database up to date: SQLite, or PostgreSQL in the scaled mode."""
    where = "PostgreSQL" if loaded.settings.scale.enabled else loaded.settings.storage.database_path
    db = await open_database(loaded.settings, loaded.secrets)
    try:
        print(f"{where}: schema version {await db.schema_version()}")
    finally:
        await db.close()
    return 0


def _backup(loaded: LoadedSettings, args: argparse.Namespace) -> int:
    if loaded.settings.scale.enabled:
        print(
            "The scaled mode keeps its data in PostgreSQL: back it up with its own tools "
            "(pg_dump); this command copies the embedded SQLite database.",
            file=sys.stderr,
        )
        return 2
    source = loaded.settings.storage.database_path
    print(describe_backup(source, back_up(source, args.out, overwrite=args.overwrite)))
    return 0


class FileSink:
    """Copies a finished job's images into the --out folder and reports them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.finished = asyncio.Event()
        self.status: JobStatus | None = None

    async def progress(self, job: Job, progress: Progress) -> None:
        total = f"/{progress.total}" if progress.total else ""
        message = f" {progress.message}" if progress.message else ""
        eta = f" (about {progress.eta:.0f} s left)" if progress.eta else ""
        print(f"job {job.job_id}: step {progress.step}{total}{message}{eta}", file=sys.stderr)

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None:
        self.status = job.status
        if job.status is JobStatus.SUCCEEDED:
            self.out.mkdir(parents=True, exist_ok=True)
            for image in images:
                destination = self.out / f"{job.job_id}-{image.index}-seed{image.seed}.png"
                await asyncio.to_thread(shutil.copyfile, image.path, destination)
                print(f"wrote {destination} (seed {image.seed}, {image.width}x{image.height})")
            if job.started_at is not None and job.finished_at is not None and images:
                seconds = job.finished_at - job.started_at
                print(f"{seconds:.1f} s in all, {seconds / len(images):.1f} s per image")
        else:
            print(f"job {job.job_id} {job.status.value}: {job.error or ''}", file=sys.stderr)
        self.finished.set()
        return str(self.out)


async def _generate(loaded: LoadedSettings, args: argparse.Namespace) -> int:
    if loaded.settings.scale.enabled:
        print(
            "generate runs a job in this process, which the scaled mode leaves to the GPU "
            "workers; run it with IMAGEBOT__SCALE__ENABLED=false against a local config.",
            file=sys.stderr,
        )
        return 2
    defaults = loaded.settings.defaults
    try:
        init_image = cli_args.check_generate(args, loaded.settings)
    except cli_args.OptionError as err:
        print(f"python -m bot generate: {err}", file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"--out {args.out}: cannot create the folder: {err.strerror}", file=sys.stderr)
        return 2
    request = GenerationRequest(
        prompt=args.prompt,
        model=args.model,
        mode=Mode.IMG2IMG if init_image is not None else Mode.TXT2IMG,
        negative_prompt=args.negative or "",
        width=defaults.width if args.width is None else args.width,
        height=defaults.height if args.height is None else args.height,
        steps=args.steps,
        guidance=args.guidance,
        sampler=args.sampler,
        seed=args.seed,
        count=defaults.count if args.count is None else args.count,
        strength=_strength(args, init_image),
        loras=tuple(_lora(text) for text in args.lora),
        init_image=init_image,
    )
    async with open_runtime(loaded) as runtime:
        queue = loaded.settings.queue
        stale = time.time() - queue.job_timeout_seconds * queue.max_attempts - 60
        await runtime.store.abandon(
            CONSOLE_ORIGIN, stale, "The console run that asked for it ended before it finished."
        )
        try:
            if not args.negative:
                negative = runtime.providers.default_negative(
                    args.provider, args.model, defaults.negative_prompt
                )
                request = request.replace(negative_prompt=negative)
            job = await runtime.service.submit(
                request,
                Requester(user_id=args.user_id),
                provider=args.provider,
                origin=CONSOLE_ORIGIN,
                target={"out": str(args.out)},
            )
        except Refusal as err:
            print(err.user_message, file=sys.stderr)
            return 1
        except InvalidRequest as err:
            print(f"python -m bot generate: {cli_args.explain(err, args)}", file=sys.stderr)
            return 2
        place = await runtime.service.position(job.job_id)
        seeds = "chosen by the provider"
        if job.request.seed is not None:
            seeds = ", ".join(map(str, job.request.seeds))
        print(
            f"job {job.job_id} queued on {job.provider} ({job.model}), seeds {seeds}, "
            f"cost {job.cost} unit(s), position {place.position}",
            file=sys.stderr,
        )
        sink = FileSink(args.out)
        worker = runtime.worker(sink, origin=CONSOLE_ORIGIN, only={job.job_id}, progress_interval=1)
        loop = asyncio.get_running_loop()
        cancelling: set[asyncio.Task[JobStatus]] = set()

        def cancel() -> None:
            print(f"cancelling job {job.job_id}...", file=sys.stderr)
            cancelling.add(loop.create_task(runtime.service.cancel(job.job_id)))

        loop.add_signal_handler(signal.SIGINT, cancel)
        await worker.start()
        try:
            await sink.finished.wait()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            await worker.stop()
    return 0 if sink.status is JobStatus.SUCCEEDED else 1


def _strength(args: argparse.Namespace, init_image: bytes | None) -> float | None:
    if init_image is None:
        return None
    return cli_args.DEFAULT_STRENGTH if args.strength is None else args.strength


def _lora(text: str) -> LoraRef:
    name, _, weight = text.partition(":")
    try:
        return LoraRef(name.strip(), float(weight) if weight else 1.0)
    except ValueError:
        raise EngineError(f"--lora {text!r}: expected NAME or NAME:WEIGHT") from None
