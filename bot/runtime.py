"""Everything the bot and the console share, built in one place before either starts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.deliveries import ResultSink
from bot.freespace import SpaceGuard
from bot.members import MemberStore
from bot.moderation import Moderation
from bot.policy import Policies
from bot.providers import Providers
from bot.quota import QuotaLedger, QuotaPolicy
from bot.service import JobService, QueueEvents
from bot.settings import LoadedSettings, Secrets, Settings
from bot.storage import SqlDatabase, open_database
from bot.store import SqliteJobStore
from bot.style_store import StyleStore
from bot.worker import Worker

if TYPE_CHECKING:
    from bot.scale.transport import SaqTransport

log = logging.getLogger(__name__)


class JobRunner(Protocol):
    """What a bot process starts to get its jobs run and delivered: the embedded worker, or in
    the scaled mode the cluster relay with its scheduler candidate."""

    async def start(self) -> None: ...
    async def stop(self, grace: float | None = None) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    secrets: Secrets
    db: SqlDatabase
    store: SqliteJobStore
    ledger: QuotaLedger
    providers: Providers
    service: JobService
    events: QueueEvents
    members: MemberStore
    policies: Policies
    moderation: Moderation
    loaded: LoadedSettings
    styles: StyleStore
    transport: SaqTransport | None = None  # the scaled mode's queue to the GPU workers

    def runner(self, sink: ResultSink, *, origin: str, progress_interval: float) -> JobRunner:
        """The bot's job runner: the embedded worker, or the scaled mode's cluster relay."""
        if self.transport is None:
            return self.worker(sink, origin=origin, progress_interval=progress_interval)
        from bot.scale.cluster import cluster_relay  # noqa: PLC0415 (scaled-mode packages)

        return cluster_relay(
            self.loaded,
            self.store,
            self.providers,
            self.transport,
            self.policies,
            self.events,
            sink,
            origin=origin,
            progress_interval=progress_interval,
        )

    def worker(
        self,
        sink: ResultSink,
        *,
        origin: str,
        only: Collection[int] | None = None,
        progress_interval: float = 3.0,
    ) -> Worker:
        """A worker running jobs in this process (the embedded mode, the console)."""
        return Worker(
            self.store,
            self.providers,
            sink,
            self.settings.queue,
            self.settings.storage.results_path,
            origin=origin,
            events=self.events,
            only=only,
            progress_interval=progress_interval,
            paused=self.policies.paused,
            space=SpaceGuard.of(self.settings),
        )


@asynccontextmanager
async def open_runtime(loaded: LoadedSettings) -> AsyncIterator[Runtime]:
    """Providers are built (and their settings checked) before the database is touched, then
    started, so a model loads before the first job and never inside it. In the scaled mode
    they are built (for their catalogue and checks) but not started: GPU workers run them."""
    settings = loaded.settings
    providers = Providers.build(settings, loaded.secrets)
    transport = None
    if settings.scale.enabled:
        from bot.scale.cluster import open_transport  # noqa: PLC0415 (scaled-mode packages)

        transport = open_transport(loaded)
    db = await open_database(settings, loaded.secrets)
    try:
        if transport is None:
            await providers.start()
        store = SqliteJobStore(db)
        events = QueueEvents()
        policy = QuotaPolicy(settings.quota, settings.queue)
        policies = Policies(db)
        moderation = Moderation(db)
        service = JobService(
            store, providers, policy, settings, events, policies=policies, moderation=moderation
        )
        yield Runtime(
            settings=settings,
            secrets=loaded.secrets,
            db=db,
            store=store,
            ledger=QuotaLedger(db),
            providers=providers,
            service=service,
            events=events,
            members=MemberStore(db, settings.storage.results_path),
            policies=policies,
            moderation=moderation,
            loaded=loaded,
            styles=StyleStore(
                db,
                per_member=settings.limits.max_styles_per_member,
                per_guild=settings.limits.max_styles_per_server,
            ),
            transport=transport,
        )
    finally:
        if transport is not None:
            await transport.close()
        await providers.close()
        await db.close()
