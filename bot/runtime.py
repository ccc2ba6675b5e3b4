"""Everything the bot and the console share, built in one place before either starts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.members import MemberStore
from bot.moderation import Moderation
from bot.policy import Policies
from bot.providers import Providers
from bot.quota import QuotaLedger, QuotaPolicy
from bot.service import JobService, QueueEvents
from bot.settings import LoadedSettings, Secrets, Settings
from bot.storage import Database
from bot.store import SqliteJobStore
from bot.worker import ResultSink, Worker

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    secrets: Secrets
    db: Database
    store: SqliteJobStore
    ledger: QuotaLedger
    providers: Providers
    service: JobService
    events: QueueEvents
    members: MemberStore
    policies: Policies
    moderation: Moderation

    def worker(
        self,
        sink: ResultSink,
        *,
        origin: str,
        only: Collection[int] | None = None,
        progress_interval: float = 3.0,
    ) -> Worker:
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
        )


@asynccontextmanager
async def open_runtime(loaded: LoadedSettings) -> AsyncIterator[Runtime]:
    """Providers are built (and their settings checked) before the database is touched, then
    started, so a model loads before the first job and never inside it."""
    settings = loaded.settings
    providers = Providers.build(settings, loaded.secrets)
    db = await Database.open(settings.storage.database_path)
    try:
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
        )
    finally:
        await providers.close()
        await db.close()
